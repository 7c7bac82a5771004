"""IAM's own API is authorized like every other: a user cannot grant itself what it lacks."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.conftest import aws_client

pytestmark = [pytest.mark.django_db(transaction=True)]

ACCOUNT = "000000000000"


@pytest.fixture
def iam(live_server_url, access_key):
    return aws_client("iam", live_server_url, access_key)


def _user_client(iam, live_server_url, name: str, service: str = "iam"):
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return aws_client(service, live_server_url, (key["AccessKeyId"], key["SecretAccessKey"]))


def _denied(call) -> str:
    with pytest.raises(ClientError) as raised:
        call()
    error = raised.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == ("AccessDenied", 403), (
        error
    )
    return error["Error"]["Message"]


def test_it_refuses_a_user_granting_itself_administrator_access(iam, live_server_url):
    climber = _user_client(iam, live_server_url, "climber")
    message = _denied(
        lambda: climber.attach_user_policy(
            UserName="climber", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess"
        )
    )
    assert message.startswith(
        f"User: arn:aws:iam::{ACCOUNT}:user/climber is not authorized to perform: iam:AttachUserPolicy "
        f"on resource: arn:aws:iam::{ACCOUNT}:user/climber"
    )
    _denied(lambda: climber.create_user(UserName="accomplice"))
    _denied(lambda: climber.list_users())
    # Nothing changed.
    assert iam.list_attached_user_policies(UserName="climber")["AttachedPolicies"] == []


def test_it_lets_read_only_access_read_iam_and_nothing_more(iam, live_server_url):
    reader = _user_client(iam, live_server_url, "auditor")
    iam.attach_user_policy(UserName="auditor", PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
    assert "auditor" in [user["UserName"] for user in reader.list_users()["Users"]]
    assert reader.get_user()["User"]["UserName"] == "auditor"
    _denied(lambda: reader.create_user(UserName="not-allowed"))
    _denied(lambda: reader.delete_user(UserName="auditor"))


def test_it_still_answers_get_caller_identity_to_a_user_with_no_policy(iam, live_server_url):
    sts = _user_client(iam, live_server_url, "whoami", service="sts")
    assert sts.get_caller_identity()["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/whoami"
