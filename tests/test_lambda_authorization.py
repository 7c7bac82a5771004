"""The Lambda API authorizes every call with AWS's policy evaluation: identity policies
(a user's own, its groups', an assumed role's), the function's resource-based policy, and
explicit denies, refusing with AccessDeniedException in AWS's words."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import aws_client, lambda_role

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("stratus_workers")]

ACCOUNT = "000000000000"
FUNCTION_ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:"


@pytest.fixture
def iam(live_server_url, access_key):
    return aws_client("iam", live_server_url, access_key)


@pytest.fixture
def user(iam, live_server_url):
    """Make an IAM user with a key and no policy; returns (name, lambda client)."""

    def make(name: str):
        iam.create_user(UserName=name)
        key = iam.create_access_key(UserName=name)["AccessKey"]
        client = aws_client("lambda", live_server_url, (key["AccessKeyId"], key["SecretAccessKey"]))
        return client

    return make


def _denied(call) -> str:
    with pytest.raises(ClientError) as raised:
        call()
    error = raised.value.response
    assert error["Error"]["Code"] == "AccessDeniedException", error
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 403
    return error["Error"]["Message"]


def _policy(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def test_it_refuses_a_user_with_no_policy_everything(user, create_function):
    create_function("admins")
    nobody = user("nobody")
    message = _denied(lambda: nobody.get_function(FunctionName="admins"))
    assert message == (
        f"User: arn:aws:iam::{ACCOUNT}:user/nobody is not authorized to perform: lambda:GetFunction on "
        f"resource: {FUNCTION_ARN}admins because no identity-based policy allows the lambda:GetFunction action"
    )
    _denied(lambda: nobody.list_functions())
    _denied(lambda: nobody.invoke(FunctionName="admins"))
    _denied(lambda: nobody.delete_function(FunctionName="admins"))
    _denied(
        lambda: nobody.add_permission(
            FunctionName="admins", StatementId="me", Action="lambda:*", Principal="*"
        )
    )


def test_it_grants_exactly_what_a_managed_policy_says(iam, user, create_function, hello_zip):
    create_function("readable")
    reader = user("reader")
    iam.attach_user_policy(UserName="reader", PolicyArn="arn:aws:iam::aws:policy/AWSLambda_ReadOnlyAccess")
    assert "readable" in [f["FunctionName"] for f in reader.list_functions()["Functions"]]
    assert reader.get_function_configuration(FunctionName="readable")["FunctionName"] == "readable"
    _denied(lambda: reader.invoke(FunctionName="readable"))
    _denied(lambda: reader.delete_function(FunctionName="readable"))
    _denied(
        lambda: reader.create_function(
            FunctionName="mine", Runtime="python3.11", Role=lambda_role(),
            Handler="lambda_function.handler", Code={"ZipFile": hello_zip},
        )
    )  # fmt: skip
    # Detached, it applies to the very next request.
    iam.detach_user_policy(UserName="reader", PolicyArn="arn:aws:iam::aws:policy/AWSLambda_ReadOnlyAccess")
    _denied(lambda: reader.get_function_configuration(FunctionName="readable"))


def test_it_grants_through_groups_and_inline_policies_on_one_function_only(iam, user, create_function):
    create_function("allowed")
    create_function("other")
    invoker = user("invoker")
    iam.create_group(GroupName="invokers")
    iam.add_user_to_group(GroupName="invokers", UserName="invoker")
    iam.put_group_policy(
        GroupName="invokers",
        PolicyName="invoke-one",
        PolicyDocument=_policy(
            {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": f"{FUNCTION_ARN}allowed"}
        ),
    )
    response = invoker.invoke(FunctionName="allowed", Payload=b'{"name": "group"}')
    assert json.loads(response["Payload"].read()) == {"hello": "group"}
    _denied(lambda: invoker.invoke(FunctionName="other"))


def test_it_lets_an_explicit_deny_win_over_administrator_access(iam, user, create_function):
    create_function("guarded")
    admin = user("careful-admin")
    iam.attach_user_policy(UserName="careful-admin", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    iam.put_user_policy(
        UserName="careful-admin",
        PolicyName="no-deletes",
        PolicyDocument=_policy({"Effect": "Deny", "Action": "lambda:DeleteFunction", "Resource": "*"}),
    )
    assert admin.get_function(FunctionName="guarded")["Configuration"]["FunctionName"] == "guarded"
    message = _denied(lambda: admin.delete_function(FunctionName="guarded"))
    assert "with an explicit deny in an identity-based policy" in message


def test_it_lets_a_functions_resource_policy_grant_a_user_invoke(lambda_client, user, create_function):
    create_function("shared")
    guest = user("guest")
    _denied(lambda: guest.invoke(FunctionName="shared"))
    lambda_client.add_permission(
        FunctionName="shared",
        StatementId="guest-may-invoke",
        Action="lambda:InvokeFunction",
        Principal=f"arn:aws:iam::{ACCOUNT}:user/guest",
    )
    response = guest.invoke(FunctionName="shared", Payload=b'{"name": "guest"}')
    assert json.loads(response["Payload"].read()) == {"hello": "guest"}
    # The grant is for invoking only.
    _denied(lambda: guest.get_function(FunctionName="shared"))


def test_it_authorizes_an_assumed_role_by_the_roles_policies(
    iam, live_server_url, access_key, create_function
):
    create_function("for-role")
    iam.create_role(
        RoleName="reader-role",
        AssumeRolePolicyDocument=_policy(
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "sts:AssumeRole",
            }
        ),
    )
    iam.put_role_policy(
        RoleName="reader-role",
        PolicyName="get",
        PolicyDocument=_policy({"Effect": "Allow", "Action": "lambda:GetFunction*", "Resource": "*"}),
    )
    sts = aws_client("sts", live_server_url, access_key)
    credentials = sts.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/reader-role", RoleSessionName="s1")[
        "Credentials"
    ]
    session = boto3.client(
        "lambda",
        endpoint_url=live_server_url,
        region_name="us-east-1",
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )
    assert session.get_function_configuration(FunctionName="for-role")["FunctionName"] == "for-role"
    message = _denied(lambda: session.delete_function(FunctionName="for-role"))
    assert f"arn:aws:sts::{ACCOUNT}:assumed-role/reader-role/s1" in message


def test_giving_a_function_a_role_needs_pass_role_for_lambda(iam, user, hello_zip, python_runtime):
    """CreateFunction and UpdateFunctionConfiguration pass the role to Lambda: iam:PassRole on
    it, which AWSLambda_FullAccess grants only with iam:PassedToService lambda.amazonaws.com."""
    role = lambda_role()
    builder = user("builder")
    create_only = _policy({"Effect": "Allow", "Action": "lambda:*", "Resource": "*"})
    iam.put_user_policy(UserName="builder", PolicyName="lambda-only", PolicyDocument=create_only)
    fields = {
        "FunctionName": "passed",
        "Runtime": python_runtime,
        "Handler": "lambda_function.handler",
        "Code": {"ZipFile": hello_zip},
        "Role": role,
    }
    message = _denied(lambda: builder.create_function(**fields))
    assert message == (
        f"User: arn:aws:iam::{ACCOUNT}:user/builder is not authorized to perform: iam:PassRole on resource: "
        f"{role} because no identity-based policy allows the iam:PassRole action"
    )
    for_ec2 = _policy(
        {
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": role,
            "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
        }
    )
    iam.put_user_policy(UserName="builder", PolicyName="pass-to-ec2", PolicyDocument=for_ec2)
    _denied(lambda: builder.create_function(**fields))
    iam.attach_user_policy(UserName="builder", PolicyArn="arn:aws:iam::aws:policy/AWSLambda_FullAccess")
    assert builder.create_function(**fields)["Role"] == role
    iam.detach_user_policy(UserName="builder", PolicyArn="arn:aws:iam::aws:policy/AWSLambda_FullAccess")
    _denied(lambda: builder.update_function_configuration(FunctionName="passed", Role=role))
    builder.update_function_configuration(FunctionName="passed", Timeout=9)  # no role given: no PassRole


def test_an_arn_of_another_region_names_no_function(lambda_client, create_function):
    create_function("here")
    assert (
        lambda_client.get_function(FunctionName=f"{FUNCTION_ARN}here")["Configuration"]["FunctionName"]
        == "here"
    )
    elsewhere = f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:here"
    for call in (
        lambda: lambda_client.get_function(FunctionName=elsewhere),
        lambda: lambda_client.invoke(FunctionName=elsewhere),
        lambda: lambda_client.delete_function(FunctionName=elsewhere),
    ):
        with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
            call()
    assert lambda_client.get_function(FunctionName="here")
