"""Node.js functions find the AWS SDK for JavaScript v3 as on AWS: ``require`` and ``import``
of ``@aws-sdk/client-*`` work without shipping it, the clients sign with the execution role's
credentials and call Stratus, and a function's own copy of a package wins."""

from __future__ import annotations

import json

import pytest

from functions_app.runtime.languages import available_runtimes
from functions_app.runtime.node_sdk import SANDBOX_NODE_MODULES, host_node_modules
from tests.conftest import aws_client, make_zip

NODE_RUNTIME = next((name for name in available_runtimes() if name.startswith("nodejs")), None)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("stratus_workers"),
    pytest.mark.skipif(
        NODE_RUNTIME is None, reason="Node.js is not installed on this host (no `node` on PATH)"
    ),
    pytest.mark.skipif(
        not (host_node_modules() / "@aws-sdk").is_dir(),
        reason=f"the AWS SDK for JavaScript is not installed at {host_node_modules()} (`make install` with npm)",
    ),
]

ACCOUNT = "000000000000"

SENDS_TO_QUEUES_JS = """
const { SQSClient, GetQueueUrlCommand, SendMessageCommand } = require("@aws-sdk/client-sqs");

const sqs = new SQSClient({});

exports.handler = async (event, context) => {
  const sent = {};
  for (const name of event.queues) {
    try {
      const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: name }));
      await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: "from " + context.functionName }));
      sent[name] = "sent";
    } catch (error) {
      sent[name] = error.name;
    }
  }
  return { sent, sdk: require.resolve("@aws-sdk/client-sqs") };
};
"""

WHO_AM_I_MJS = """
import { STSClient, GetCallerIdentityCommand } from "@aws-sdk/client-sts";

const sts = new STSClient({});

export const handler = async () => {
  const identity = await sts.send(new GetCallerIdentityCommand({}));
  return {
    arn: identity.Arn,
    region: await sts.config.region(),
    sdk: import.meta.resolve("@aws-sdk/client-sts"),
  };
};
"""

OWN_STS_JS = """
exports.handler = async () => ({
  required: require("@aws-sdk/client-sts").shippedWithTheFunction,
  imported: (await import("@aws-sdk/client-sts")).shippedWithTheFunction,
  sqs: require.resolve("@aws-sdk/client-sqs"),
});
"""


def _policy(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _role_for_lambda(iam, name: str, *statements: dict) -> str:
    """A role Lambda may assume, with ``statements`` as its inline policy; its ARN."""
    role = iam.create_role(
        RoleName=name,
        AssumeRolePolicyDocument=_policy(
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ),
    )["Role"]
    if statements:
        iam.put_role_policy(RoleName=name, PolicyName=f"{name}-policy", PolicyDocument=_policy(*statements))
    return role["Arn"]


def _invoke(lambda_client, name: str, payload: dict | None = None) -> dict:
    response = lambda_client.invoke(FunctionName=name, Payload=json.dumps(payload or {}).encode())
    result = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, result
    return result


@pytest.mark.slow
def test_it_sends_with_the_runtimes_sqs_client_as_the_role_allows(
    live_server_url, access_key, create_function, lambda_client
):
    iam = aws_client("iam", live_server_url, access_key)
    sqs = aws_client("sqs", live_server_url, access_key)
    allowed = sqs.create_queue(QueueName="node-allowed")["QueueUrl"]
    sqs.create_queue(QueueName="node-other")
    role = _role_for_lambda(
        iam,
        "node-queue-sender",
        {"Effect": "Allow", "Action": "sqs:GetQueueUrl", "Resource": "*"},
        {
            "Effect": "Allow",
            "Action": "sqs:SendMessage",
            "Resource": f"arn:aws:sqs:us-east-1:{ACCOUNT}:node-allowed",
        },
    )
    create_function(
        "node-sends",
        Runtime=NODE_RUNTIME,
        Handler="index.handler",
        Role=role,
        Timeout=30,
        Code={"ZipFile": make_zip({"index.js": SENDS_TO_QUEUES_JS})},
    )

    result = _invoke(lambda_client, "node-sends", {"queues": ["node-allowed", "node-other"]})

    assert result["sent"] == {"node-allowed": "sent", "node-other": "AccessDenied"}
    assert result["sdk"].startswith(f"{SANDBOX_NODE_MODULES}/@aws-sdk/client-sqs/")
    received = sqs.receive_message(QueueUrl=allowed, WaitTimeSeconds=1)["Messages"]
    assert [message["Body"] for message in received] == ["from node-sends"]


@pytest.mark.slow
def test_it_imports_the_sdk_from_an_es_module_handler(
    live_server_url, access_key, create_function, lambda_client
):
    iam = aws_client("iam", live_server_url, access_key)
    role = _role_for_lambda(iam, "node-esm-role")
    create_function(
        "node-esm-whoami",
        Runtime=NODE_RUNTIME,
        Handler="index.handler",
        Role=role,
        Timeout=30,
        Code={"ZipFile": make_zip({"index.mjs": WHO_AM_I_MJS})},
    )

    result = _invoke(lambda_client, "node-esm-whoami")

    assert result["arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/node-esm-role/node-esm-whoami"
    assert result["region"] == "us-east-1"
    assert result["sdk"].startswith(f"file://{SANDBOX_NODE_MODULES}/@aws-sdk/client-sts/")


def test_it_prefers_the_functions_own_copy_of_an_sdk_package(
    live_server_url, access_key, create_function, lambda_client
):
    iam = aws_client("iam", live_server_url, access_key)
    stub = "node_modules/@aws-sdk/client-sts"
    create_function(
        "node-own-sts",
        Runtime=NODE_RUNTIME,
        Handler="index.handler",
        Role=_role_for_lambda(iam, "node-own-sts-role"),
        Timeout=30,
        Code={
            "ZipFile": make_zip(
                {
                    "index.js": OWN_STS_JS,
                    f"{stub}/package.json": json.dumps(
                        {"name": "@aws-sdk/client-sts", "version": "0.0.1", "main": "index.js"}
                    ),
                    f"{stub}/index.js": "exports.shippedWithTheFunction = true;\n",
                }
            )
        },
    )

    result = _invoke(lambda_client, "node-own-sts")

    assert result == {
        "required": True,
        "imported": True,
        "sqs": f"{SANDBOX_NODE_MODULES}/@aws-sdk/client-sqs/dist-cjs/index.js",
    }
