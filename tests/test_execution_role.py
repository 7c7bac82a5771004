"""A function acts with its execution role: plain boto3 in the handler signs with the role's
temporary credentials, and Stratus authorizes each call by the role's policies."""

from __future__ import annotations

import json

import pytest

from tests.conftest import aws_client, make_zip

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("stratus_workers")]

ACCOUNT = "000000000000"

HANDLER = """
import boto3


def handler(event, context):
    sqs = boto3.client("sqs")
    sent = {}
    for name in event["queues"]:
        try:
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
            sqs.send_message(QueueUrl=url, MessageBody="from " + context.function_name)
            sent[name] = "sent"
        except Exception as error:
            sent[name] = getattr(error, "response", {}).get("Error", {}).get("Code") or repr(error)
    return {"identity": boto3.client("sts").get_caller_identity()["Arn"], "sent": sent}
"""


def _policy(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def test_it_runs_a_function_with_its_roles_credentials_and_permissions(
    live_server_url, access_key, create_function
):
    iam = aws_client("iam", live_server_url, access_key)
    sqs = aws_client("sqs", live_server_url, access_key)
    allowed = sqs.create_queue(QueueName="role-allowed")["QueueUrl"]
    sqs.create_queue(QueueName="role-other")
    role = iam.create_role(
        RoleName="queue-sender",
        AssumeRolePolicyDocument=_policy(
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ),
    )["Role"]
    iam.put_role_policy(
        RoleName="queue-sender",
        PolicyName="send-to-one-queue",
        PolicyDocument=_policy(
            {"Effect": "Allow", "Action": "sqs:GetQueueUrl", "Resource": "*"},
            {
                "Effect": "Allow",
                "Action": "sqs:SendMessage",
                "Resource": f"arn:aws:sqs:us-east-1:{ACCOUNT}:role-allowed",
            },
        ),
    )
    create_function(
        "sends-as-role",
        Role=role["Arn"],
        Timeout=30,
        Code={"ZipFile": make_zip({"lambda_function.py": HANDLER})},
    )
    lambda_client = aws_client("lambda", live_server_url, access_key)
    response = lambda_client.invoke(
        FunctionName="sends-as-role", Payload=json.dumps({"queues": ["role-allowed", "role-other"]}).encode()
    )
    seen = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, seen
    assert seen["identity"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/queue-sender/sends-as-role"
    assert seen["sent"] == {"role-allowed": "sent", "role-other": "AccessDenied"}
    received = sqs.receive_message(QueueUrl=allowed, WaitTimeSeconds=1)["Messages"]
    assert [message["Body"] for message in received] == ["from sends-as-role"]


def test_it_gives_no_credentials_for_a_role_that_no_longer_trusts_lambda(
    live_server_url, access_key, create_function
):
    # CreateFunction refuses a role Lambda cannot assume (tests/test_execution_role_required.py);
    # a role's trust policy can still change afterwards.
    iam = aws_client("iam", live_server_url, access_key)
    role = iam.create_role(
        RoleName="not-for-lambda",
        AssumeRolePolicyDocument=_policy(
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ),
    )["Role"]
    source = "import os\n\ndef handler(event, context):\n    return 'AWS_SESSION_TOKEN' in os.environ\n"
    create_function(
        "untrusted-role", Role=role["Arn"], Code={"ZipFile": make_zip({"lambda_function.py": source})}
    )
    iam.update_assume_role_policy(
        RoleName="not-for-lambda",
        PolicyDocument=_policy(
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ),
    )
    lambda_client = aws_client("lambda", live_server_url, access_key)
    assert json.loads(lambda_client.invoke(FunctionName="untrusted-role")["Payload"].read()) is False


def test_a_function_with_a_one_letter_name_gets_its_roles_credentials(lambda_client, create_function):
    """A session name must have two characters when a caller asks AssumeRole; Lambda's own
    session for a function is named for the function, which may have one."""
    create_function(
        "x",
        Code={
            "ZipFile": make_zip(
                {
                    "lambda_function.py": "import boto3\n\ndef handler(event, context):\n"
                    "    return boto3.client('sts').get_caller_identity()['Arn']\n"
                }
            )
        },
        Timeout=30,
    )
    response = lambda_client.invoke(FunctionName="x", Payload=b"{}")
    answer = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, answer
    assert ":assumed-role/" in answer and answer.endswith("/x")
