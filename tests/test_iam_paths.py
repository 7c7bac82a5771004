"""IAM entities keep their path in the ARNs policies are matched against: a policy scoped to
``user/division/*`` reaches the users created with ``Path="/division/"`` and no others."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.conftest import aws_client

pytestmark = [pytest.mark.django_db(transaction=True)]

ACCOUNT = "000000000000"


@pytest.fixture
def iam(live_server_url, access_key):
    return aws_client("iam", live_server_url, access_key)


def _client_allowed(iam, live_server_url, name: str, *, action: str, resource: str | list[str]):
    """A new user whose one inline policy allows ``action`` on ``resource``, and its IAM client."""
    iam.create_user(UserName=name)
    iam.put_user_policy(
        UserName=name,
        PolicyName="scoped",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": action, "Resource": resource}],
            }
        ),
    )
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return aws_client("iam", live_server_url, (key["AccessKeyId"], key["SecretAccessKey"]))


def _error(call) -> tuple[str, int]:
    with pytest.raises(ClientError) as raised:
        call()
    error = raised.value.response
    return error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]


def test_it_matches_a_policy_scoped_to_a_path_against_the_users_on_that_path(iam, live_server_url):
    iam.create_user(UserName="bob", Path="/division/")
    iam.create_user(UserName="carol")
    reader = _client_allowed(
        iam,
        live_server_url,
        "division-reader",
        action="iam:GetUser",
        resource=f"arn:aws:iam::{ACCOUNT}:user/division/*",
    )

    assert reader.get_user(UserName="bob")["User"]["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/division/bob"
    assert _error(lambda: reader.get_user(UserName="carol")) == ("AccessDenied", 403)


def test_it_looks_names_nobody_holds_up_at_the_root_path(iam, live_server_url):
    iam.create_role(
        RoleName="builder",
        Path="/ci/",
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
    )
    root_only = _client_allowed(
        iam,
        live_server_url,
        "root-only",
        action="iam:GetRole",
        resource=[f"arn:aws:iam::{ACCOUNT}:role/builder", f"arn:aws:iam::{ACCOUNT}:role/nobody"],
    )

    with pytest.raises(ClientError) as raised:
        root_only.get_role(RoleName="builder")
    assert f"on resource: arn:aws:iam::{ACCOUNT}:role/ci/builder" in raised.value.response["Error"]["Message"]
    assert _error(lambda: root_only.get_role(RoleName="nobody")) == ("NoSuchEntity", 404)
