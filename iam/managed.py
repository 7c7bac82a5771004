"""The AWS managed policies Lambda users attach every day, under their real ARNs.

The documents are AWS's own, as published in the AWS Managed Policy Reference and returned
by ``iam get-policy-version`` (the default version noted above each one), restricted to the
services Stratus has: actions of other services (EC2, KMS, X-Ray, Step Functions, SMS…) are
left out, and a statement left with no action is dropped. ReadOnlyAccess lists some 2,600
read actions across every AWS service; here it keeps those of Lambda, SQS, SNS, Kinesis,
CloudWatch, CloudWatch Logs, IAM, STS, S3, EventBridge, CloudFormation and CloudTrail (the
audit log), in AWS's order.

Data only: ``MANAGED_POLICIES`` maps each ARN to its PolicyName, Path, Description and
Document, and ``managed_policy`` looks one up.
"""

from __future__ import annotations

from typing import Any

_ARN_PREFIX = "arn:aws:iam::aws:policy"


def _entry(
    name: str, path: str, description: str, statements: list[dict[str, Any]]
) -> tuple[str, dict[str, Any]]:
    arn = f"{_ARN_PREFIX}{path}{name}"
    document = {"Version": "2012-10-17", "Statement": statements}
    return arn, {"PolicyName": name, "Path": path, "Description": description, "Document": document}


MANAGED_POLICIES: dict[str, dict[str, Any]] = dict(
    [
        # AWS default version v1
        _entry(
            "AdministratorAccess",
            "/",
            "Provides full access to AWS services and resources.",
            [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
        ),
        # AWS default version v178
        _entry(
            "ReadOnlyAccess",
            "/",
            "Provides read-only access to AWS services and resources.",
            [
                {
                    "Sid": "ReadOnlyActionsGroup1",
                    "Effect": "Allow",
                    "Action": [
                        "cloudformation:BatchDescribeTypeConfigurations",
                        "cloudformation:Describe*",
                        "cloudformation:Detect*",
                        "cloudformation:Estimate*",
                        "cloudformation:Get*",
                        "cloudformation:List*",
                        "cloudformation:ValidateTemplate",
                        "cloudtrail:Describe*",
                        "cloudtrail:Get*",
                        "cloudtrail:List*",
                        "cloudtrail:LookupEvents",
                        "cloudwatch:Describe*",
                        "cloudwatch:GenerateQuery",
                        "cloudwatch:GenerateQueryResultsSummary",
                        "cloudwatch:Get*",
                        "cloudwatch:List*",
                        "events:Describe*",
                        "events:List*",
                        "events:Test*",
                        "iam:Generate*",
                        "iam:Get*",
                        "iam:List*",
                        "iam:Simulate*",
                    ],
                    "Resource": "*",
                },
                {
                    "Sid": "ReadOnlyActionsGroup2",
                    "Effect": "Allow",
                    "Action": [
                        "kinesis:Describe*",
                        "kinesis:Get*",
                        "kinesis:List*",
                        "lambda:Get*",
                        "lambda:List*",
                        "logs:Describe*",
                        "logs:FilterLogEvents",
                        "logs:Get*",
                        "logs:ListAnomalies",
                        "logs:ListEntitiesForLogGroup",
                        "logs:ListIntegrations",
                        "logs:ListLogAnomalyDetectors",
                        "logs:ListLogDeliveries",
                        "logs:ListLogGroupsForEntity",
                        "logs:ListLogGroupsForQuery",
                        "logs:ListTagsForResource",
                        "logs:ListTagsLogGroup",
                        "logs:StartLiveTail",
                        "logs:StartQuery",
                        "logs:StopLiveTail",
                        "logs:StopQuery",
                        "logs:TestMetricFilter",
                        "logs:ListAggregateLogGroupSummaries",
                        "logs:ListSourcesForS3TableIntegration",
                        "logs:ListScheduledQueries",
                        "s3:DescribeJob",
                        "s3:Get*",
                        "s3:List*",
                        "sns:Check*",
                        "sns:Get*",
                        "sns:List*",
                        "sqs:Get*",
                        "sqs:List*",
                        "sqs:Receive*",
                        "sts:GetAccessKeyInfo",
                        "sts:GetCallerIdentity",
                        "sts:GetSessionToken",
                    ],
                    "Resource": "*",
                },
            ],
        ),
        # AWS default version v7
        _entry(
            "AWSLambda_FullAccess",
            "/",
            "Grants full access to AWS Lambda service, AWS Lambda console features, and other related AWS services.",
            [
                {
                    "Effect": "Allow",
                    "Action": [
                        "cloudformation:DescribeStacks",
                        "cloudformation:ListStackResources",
                        "cloudwatch:ListMetrics",
                        "cloudwatch:GetMetricData",
                        "iam:GetPolicy",
                        "iam:GetPolicyVersion",
                        "iam:GetRole",
                        "iam:GetRolePolicy",
                        "iam:ListAttachedRolePolicies",
                        "iam:ListRolePolicies",
                        "iam:ListRoles",
                        "lambda:*",
                        "logs:DescribeLogGroups",
                    ],
                    "Resource": "*",
                },
                {
                    "Effect": "Allow",
                    "Action": "iam:PassRole",
                    "Resource": "*",
                    "Condition": {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}},
                },
                {
                    "Effect": "Allow",
                    "Action": [
                        "logs:DescribeLogStreams",
                        "logs:GetLogEvents",
                        "logs:FilterLogEvents",
                        "logs:StartLiveTail",
                        "logs:StopLiveTail",
                    ],
                    "Resource": "arn:aws:logs:*:*:log-group:/aws/lambda/*",
                },
                {
                    "Effect": "Allow",
                    "Action": "iam:CreateServiceLinkedRole",
                    "Resource": "arn:aws:iam::*:role/aws-service-role/lambda.amazonaws.com/AWSServiceRoleForLambda",
                    "Condition": {"StringEquals": {"iam:AWSServiceName": "lambda.amazonaws.com"}},
                },
            ],
        ),
        # AWS default version v5
        _entry(
            "AWSLambda_ReadOnlyAccess",
            "/",
            "Grants read-only access to AWS Lambda service, AWS Lambda console features, and other related AWS services.",
            [
                {
                    "Effect": "Allow",
                    "Action": [
                        "cloudformation:DescribeStacks",
                        "cloudformation:ListStacks",
                        "cloudformation:ListStackResources",
                        "cloudwatch:GetMetricData",
                        "cloudwatch:ListMetrics",
                        "iam:GetPolicy",
                        "iam:GetPolicyVersion",
                        "iam:GetRole",
                        "iam:GetRolePolicy",
                        "iam:ListAttachedRolePolicies",
                        "iam:ListRolePolicies",
                        "iam:ListRoles",
                        "logs:DescribeLogGroups",
                        "lambda:Get*",
                        "lambda:List*",
                    ],
                    "Resource": "*",
                },
                {
                    "Effect": "Allow",
                    "Action": [
                        "logs:DescribeLogStreams",
                        "logs:GetLogEvents",
                        "logs:FilterLogEvents",
                        "logs:StartQuery",
                        "logs:StopQuery",
                        "logs:DescribeQueries",
                        "logs:GetLogGroupFields",
                        "logs:GetLogRecord",
                        "logs:GetQueryResults",
                        "logs:StartLiveTail",
                        "logs:StopLiveTail",
                    ],
                    "Resource": "arn:aws:logs:*:*:log-group:/aws/lambda/*",
                },
            ],
        ),
        # AWS default version v1
        _entry(
            "AWSLambdaBasicExecutionRole",
            "/service-role/",
            "Provides write permissions to CloudWatch Logs.",
            [
                {
                    "Effect": "Allow",
                    "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                    "Resource": "*",
                }
            ],
        ),
        # AWS default version v1
        _entry(
            "AWSLambdaSQSQueueExecutionRole",
            "/service-role/",
            "Provides receive message, delete message, and read attribute access to SQS queues, and write permissions to CloudWatch logs.",
            [
                {
                    "Effect": "Allow",
                    "Action": [
                        "sqs:ReceiveMessage",
                        "sqs:DeleteMessage",
                        "sqs:GetQueueAttributes",
                        "logs:CreateLogGroup",
                        "logs:CreateLogStream",
                        "logs:PutLogEvents",
                    ],
                    "Resource": "*",
                }
            ],
        ),
        # AWS default version v2
        _entry(
            "AWSLambdaKinesisExecutionRole",
            "/service-role/",
            "Provides list and read access to Kinesis streams and write permissions to CloudWatch logs.",
            [
                {
                    "Effect": "Allow",
                    "Action": [
                        "kinesis:DescribeStream",
                        "kinesis:DescribeStreamSummary",
                        "kinesis:GetRecords",
                        "kinesis:GetShardIterator",
                        "kinesis:ListShards",
                        "kinesis:ListStreams",
                        "kinesis:SubscribeToShard",
                        "logs:CreateLogGroup",
                        "logs:CreateLogStream",
                        "logs:PutLogEvents",
                    ],
                    "Resource": "*",
                }
            ],
        ),
        # AWS default version v1
        _entry(
            "AWSLambdaRole",
            "/service-role/",
            "Default policy for AWS Lambda service role.",
            [{"Effect": "Allow", "Action": ["lambda:InvokeFunction"], "Resource": ["*"]}],
        ),
        # AWS default version v1
        _entry(
            "AmazonSQSFullAccess",
            "/",
            "Provides full access to Amazon SQS via the AWS Management Console.",
            [{"Effect": "Allow", "Action": ["sqs:*"], "Resource": "*"}],
        ),
        # AWS default version v2
        _entry(
            "AmazonSNSFullAccess",
            "/",
            "Provides full access to Amazon SNS via the AWS Management Console.",
            [{"Sid": "SNSFullAccess", "Effect": "Allow", "Action": "sns:*", "Resource": "*"}],
        ),
        # AWS default version v24
        _entry(
            "CloudWatchReadOnlyAccess",
            "/",
            "Provides read only access to CloudWatch.",
            [
                {
                    "Sid": "CloudWatchReadOnlyAccessPermissions",
                    "Effect": "Allow",
                    "Action": [
                        "cloudwatch:BatchGet*",
                        "cloudwatch:Describe*",
                        "cloudwatch:GenerateQuery",
                        "cloudwatch:Get*",
                        "cloudwatch:List*",
                        "logs:Get*",
                        "logs:List*",
                        "logs:StartQuery",
                        "logs:StopQuery",
                        "logs:Describe*",
                        "logs:TestMetricFilter",
                        "logs:FilterLogEvents",
                        "logs:StartLiveTail",
                        "logs:StopLiveTail",
                        "sns:Get*",
                        "sns:List*",
                    ],
                    "Resource": "*",
                },
                {
                    "Sid": "CloudWatchReadOnlyGetRolePermissions",
                    "Effect": "Allow",
                    "Action": "iam:GetRole",
                    "Resource": "arn:aws:iam::*:role/aws-service-role/application-signals.cloudwatch.amazonaws.com/AWSServiceRoleForCloudWatchApplicationSignals",
                },
            ],
        ),
        # AWS default version v12
        _entry(
            "CloudWatchLogsReadOnlyAccess",
            "/",
            "Provides read only access to CloudWatch Logs",
            [
                {
                    "Sid": "CloudWatchLogsReadOnlyAccess",
                    "Effect": "Allow",
                    "Action": [
                        "logs:Describe*",
                        "logs:Get*",
                        "logs:List*",
                        "logs:StartQuery",
                        "logs:StopQuery",
                        "logs:TestMetricFilter",
                        "logs:FilterLogEvents",
                        "logs:StartLiveTail",
                        "logs:StopLiveTail",
                        "cloudwatch:GenerateQuery",
                        "cloudwatch:GenerateQueryResultsSummary",
                    ],
                    "Resource": "*",
                }
            ],
        ),
    ]
)


def managed_policy(arn: str) -> dict[str, Any] | None:
    """The AWS managed policy at ``arn`` (PolicyName, Path, Description, Document), or None."""
    return MANAGED_POLICIES.get(arn)
