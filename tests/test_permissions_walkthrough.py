"""The README's Permissions walk-through, step by step with the AWS CLI, as a newcomer would."""

from __future__ import annotations

import json

import pytest

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("stratus_workers")]


def test_it_does_what_the_readme_walk_through_says(aws_cli, create_function, tmp_path):
    create_function("hello")
    aws_cli("iam", "create-user", "--user-name", "reader")
    created = json.loads(aws_cli("iam", "create-access-key", "--user-name", "reader").stdout)["AccessKey"]
    reader = (created["AccessKeyId"], created["SecretAccessKey"])
    aws_cli(
        "iam", "attach-user-policy", "--user-name", "reader",
        "--policy-arn", "arn:aws:iam::aws:policy/AWSLambda_ReadOnlyAccess",
    )  # fmt: skip
    # With reader's keys: list-functions and get-function work; invoke is refused.
    listed = json.loads(aws_cli("lambda", "list-functions", key=reader).stdout)["Functions"]
    assert [function["FunctionName"] for function in listed] == ["hello"]
    aws_cli("lambda", "get-function", "--function-name", "hello", key=reader)
    out = str(tmp_path / "out.json")
    refused = aws_cli("lambda", "invoke", "--function-name", "hello", out, key=reader, check=False)
    assert refused.returncode != 0
    assert "(AccessDeniedException) when calling the Invoke operation" in refused.stderr
    assert (
        "arn:aws:iam::000000000000:user/reader is not authorized to perform: lambda:InvokeFunction on "
        "resource: arn:aws:lambda:us-east-1:000000000000:function:hello because no identity-based "
        "policy allows the lambda:InvokeFunction action"
    ) in " ".join(refused.stderr.split())
    # Let one user invoke one function through the function's own policy.
    aws_cli(
        "lambda", "add-permission", "--function-name", "hello", "--statement-id", "reader",
        "--action", "lambda:InvokeFunction", "--principal", "arn:aws:iam::000000000000:user/reader",
    )  # fmt: skip
    aws_cli("lambda", "invoke", "--function-name", "hello", out, key=reader)
    with open(out) as answer:
        assert json.load(answer) == {"hello": "world"}
