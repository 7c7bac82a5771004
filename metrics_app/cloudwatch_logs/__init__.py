"""CloudWatch Logs' own API (JSON 1.1, ``X-Amz-Target: Logs_20140328.<Op>``) over Stratus's stored logs.

``boto3.client("logs")`` and ``aws logs …`` work against it unmodified: describing log groups
and streams, reading a stream (``GetLogEvents``), searching a group (``FilterLogEvents``),
retention policies, and creating and deleting log groups.

- ``operations.py``: one function per operation, from request members to response members.
- ``selectors.py``: the reads, with keyset pagination; ``services.py``: the writes.
- ``filter_pattern.py``: CloudWatch Logs' term filter patterns, as a database condition.
- ``tokens.py``: the opaque pagination tokens.
- ``service.py``: the table the front door (``awsapi``) serves the operations from.
"""
