"""An account's functions are its own: another account does not see them, names them only by
their ARN, and reaches them only where the owner's function policy grants it, as on AWS."""

from __future__ import annotations

import json

import pytest

from iam import services
from tests.conftest import aws_client, lambda_role

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("stratus_workers")]

OWNER = "000000000000"
REGION = "us-east-1"


@pytest.fixture
def other(live_server_url):
    """An administrator of another account, with its own role for its functions."""
    account = services.account_create(name="other")
    iam_user = services.user_create(account=account, name="admin")
    services.policy_attach(principal=iam_user, policy_arn="arn:aws:iam::aws:policy/AdministratorAccess")
    key, secret = services.access_key_issue(iam_user=iam_user)
    credentials = (key.access_key_id, secret)
    iam = aws_client("iam", live_server_url, credentials)
    role = iam.create_role(
        RoleName="runner",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    return account.id, aws_client("lambda", live_server_url, credentials), role


def _error(call) -> str:
    with pytest.raises(Exception) as raised:
        call()
    return raised.value.response["Error"]["Code"]


def test_another_account_neither_sees_nor_names_a_function(create_function, other):
    create_function("mine")
    _, theirs, _ = other
    assert theirs.list_functions()["Functions"] == []
    assert _error(lambda: theirs.get_function(FunctionName="mine")) == "ResourceNotFoundException"
    arn = f"arn:aws:lambda:{REGION}:{OWNER}:function:mine"
    # By its ARN it is found, and refused: another account needs the owner's grant.
    assert _error(lambda: theirs.get_function(FunctionName=arn)) == "AccessDeniedException"
    assert _error(lambda: theirs.delete_function(FunctionName=arn)) == "AccessDeniedException"
    assert theirs.get_account_settings()["AccountUsage"]["FunctionCount"] == 0


def test_an_accounts_function_has_its_arn_and_is_not_the_owners(
    lambda_client, hello_zip, python_runtime, other
):
    account_id, theirs, role = other
    created = theirs.create_function(
        FunctionName="theirs",
        Runtime=python_runtime,
        Handler="lambda_function.handler",
        Code={"ZipFile": hello_zip},
        Role=role,
    )
    assert created["FunctionArn"] == f"arn:aws:lambda:{REGION}:{account_id}:function:theirs"
    assert [f["FunctionName"] for f in theirs.list_functions()["Functions"]] == ["theirs"]
    assert "theirs" not in [f["FunctionName"] for f in lambda_client.list_functions()["Functions"]]
    assert _error(lambda: lambda_client.get_function(FunctionName="theirs")) == "ResourceNotFoundException"
    # Another account's role cannot be passed to a function: iam:PassRole on it is cross-account.
    with pytest.raises(Exception) as raised:
        theirs.create_function(
            FunctionName="borrowed",
            Runtime=python_runtime,
            Handler="lambda_function.handler",
            Code={"ZipFile": hello_zip},
            Role=lambda_role(),
        )
    error = raised.value.response["Error"]
    assert error["Code"] == "AccessDeniedException" and "iam:PassRole" in error["Message"]


def test_cross_account_invoke_is_refused_until_the_owner_grants_it(lambda_client, create_function, other):
    create_function("shared")
    account_id, theirs, _ = other
    arn = f"arn:aws:lambda:{REGION}:{OWNER}:function:shared"
    assert _error(lambda: theirs.invoke(FunctionName=arn, Payload=b"{}")) == "AccessDeniedException"
    lambda_client.add_permission(
        FunctionName="shared", StatementId="other", Action="lambda:InvokeFunction", Principal=account_id
    )
    answer = theirs.invoke(FunctionName=arn, Payload=json.dumps({"name": "other"}).encode())
    assert json.loads(answer["Payload"].read()) == {"hello": "other"}
    # The grant is for invoking only.
    assert _error(lambda: theirs.get_function(FunctionName=arn)) == "AccessDeniedException"
