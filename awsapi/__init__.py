"""Stratus's one front door for AWS's APIs.

Every AWS service Stratus serves (Lambda, SQS, SNS, Kinesis, CloudWatch, CloudWatch Logs,
IAM, STS) is reached through this package: ``sigv4`` checks who signed, ``protocols`` reads
requests and writes answers as each wire protocol has it (driven by botocore's own service
models, ``shapes``), ``errors`` is the one error family every service raises, and ``front``
serves a call: signature, operation, request shape, authorization, audit, handler, answer, in
that order. ``routes`` hands each request to the service it is for. Services bring only a
table of operations and what each one acts on. Lambda's REST API is routed by its paths
instead and shares the signature check, the evaluator, the audit log and the error shapes.
"""
