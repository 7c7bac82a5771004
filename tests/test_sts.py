"""STS (boto3's ``sts`` client): who a caller is, assuming a role its trust policy allows, and
the temporary credentials that come of it signing requests until they expire."""

from __future__ import annotations

import json
from datetime import timedelta

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from django.utils import timezone

from iam import selectors, services
from iam.models import StsSession
from tests.conftest import aws_client

pytestmark = [pytest.mark.django_db(transaction=True)]

ACCOUNT = "000000000000"


def _trust(principal: dict) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}],
        }
    )


def _session_client(service: str, url: str, credentials: dict, *, token: str | None = None):
    return boto3.client(
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"] if token is None else token,
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )


@pytest.fixture
def iam(live_server_url, access_key):
    return aws_client("iam", live_server_url, access_key)


@pytest.fixture
def sts(live_server_url, access_key):
    return aws_client("sts", live_server_url, access_key)


def _error(raised: pytest.ExceptionInfo) -> tuple[str, int, str]:
    response = raised.value.response
    return (
        response["Error"]["Code"],
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Message"],
    )


def test_it_tells_a_key_who_it_is(sts, iam):
    identity = sts.get_caller_identity()

    assert identity["Account"] == ACCOUNT
    assert identity["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/tester"
    assert identity["UserId"] == iam.get_user()["User"]["UserId"]


def test_it_assumes_a_role_its_trust_policy_allows(sts, iam, live_server_url):
    role = iam.create_role(
        RoleName="deployer", AssumeRolePolicyDocument=_trust({"AWS": f"arn:aws:iam::{ACCOUNT}:user/tester"})
    )["Role"]
    # The session acts with the role's permissions: here, reading Lambda.
    iam.attach_role_policy(RoleName="deployer", PolicyArn="arn:aws:iam::aws:policy/AWSLambda_ReadOnlyAccess")

    assumed = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="ci-run", DurationSeconds=900)

    credentials = assumed["Credentials"]
    assert credentials["AccessKeyId"].startswith("ASIA") and len(credentials["AccessKeyId"]) == 20
    assert len(credentials["SessionToken"]) >= 43  # at least 32 random bytes
    remaining = credentials["Expiration"] - timezone.now()
    assert timedelta(seconds=800) < remaining <= timedelta(seconds=900)
    session_arn = f"arn:aws:sts::{ACCOUNT}:assumed-role/deployer/ci-run"
    assert assumed["AssumedRoleUser"] == {"AssumedRoleId": f"{role['RoleId']}:ci-run", "Arn": session_arn}
    identity = _session_client("sts", live_server_url, credentials).get_caller_identity()
    assert (identity["Arn"], identity["UserId"], identity["Account"]) == (
        session_arn,
        f"{role['RoleId']}:ci-run",
        ACCOUNT,
    )
    assert _session_client("lambda", live_server_url, credentials).list_functions()["Functions"] == []
    stored = StsSession.objects.get(access_key_id=credentials["AccessKeyId"])
    assert credentials["SessionToken"] not in stored.token_sha256
    assert credentials["SecretAccessKey"] not in stored.secret_ciphertext


def test_it_refuses_a_role_whose_trust_policy_does_not_name_the_caller(sts, iam):
    role_arn = iam.create_role(
        RoleName="lambda-only", AssumeRolePolicyDocument=_trust({"Service": "lambda.amazonaws.com"})
    )["Role"]["Arn"]

    with pytest.raises(ClientError) as raised:
        sts.assume_role(RoleArn=role_arn, RoleSessionName="nope")

    assert _error(raised) == (
        "AccessDenied",
        403,
        f"User: arn:aws:iam::{ACCOUNT}:user/tester is not authorized to perform: sts:AssumeRole "
        f"on resource: {role_arn}",
    )
    with pytest.raises(ClientError) as raised:
        sts.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/missing", RoleSessionName="nope")
    assert _error(raised)[:2] == ("AccessDenied", 403)


def test_it_lets_a_trust_policy_naming_the_account_defer_to_identity_policies(iam, sts, live_server_url):
    role_arn = iam.create_role(RoleName="account-wide", AssumeRolePolicyDocument=_trust({"AWS": ACCOUNT}))[
        "Role"
    ]["Arn"]
    iam.create_user(UserName="nobody")
    key = iam.create_access_key(UserName="nobody")["AccessKey"]
    unprivileged = aws_client("sts", live_server_url, (key["AccessKeyId"], key["SecretAccessKey"]))

    assert sts.assume_role(RoleArn=role_arn, RoleSessionName="admin")["Credentials"]  # AdministratorAccess
    with pytest.raises(ClientError) as raised:
        unprivileged.assume_role(RoleArn=role_arn, RoleSessionName="nobody")
    assert _error(raised)[:2] == ("AccessDenied", 403)


def test_it_refuses_a_duration_beyond_the_roles_maximum(sts, iam):
    role_arn = iam.create_role(
        RoleName="short", AssumeRolePolicyDocument=_trust({"AWS": f"arn:aws:iam::{ACCOUNT}:user/tester"})
    )["Role"]["Arn"]

    with pytest.raises(ClientError) as raised:
        sts.assume_role(RoleArn=role_arn, RoleSessionName="long", DurationSeconds=7200)

    assert _error(raised)[:2] == ("ValidationError", 400)


def test_it_refuses_session_credentials_without_their_token_or_with_a_wrong_one(sts, iam, live_server_url):
    role_arn = iam.create_role(
        RoleName="r", AssumeRolePolicyDocument=_trust({"AWS": f"arn:aws:iam::{ACCOUNT}:user/tester"})
    )["Role"]["Arn"]
    credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName="session")["Credentials"]
    without_token = aws_client(
        "sts", live_server_url, (credentials["AccessKeyId"], credentials["SecretAccessKey"])
    )
    wrong_token = _session_client(
        "lambda", live_server_url, credentials, token=credentials["SessionToken"][:-4] + "AAAA"
    )

    with pytest.raises(ClientError) as raised:
        without_token.get_caller_identity()
    assert _error(raised)[:2] == ("InvalidClientTokenId", 403)
    with pytest.raises(ClientError) as raised:
        wrong_token.list_functions()
    assert _error(raised)[:2] == ("UnrecognizedClientException", 403)


def test_it_refuses_an_expired_session_with_expired_token(live_server_url, access_key):
    role = services.role_create(
        account=services.account_default(),
        name="expiring",
        trust_policy=_trust({"Service": "lambda.amazonaws.com"}),
    )
    credentials = services.role_session_issue(role=role, session_name="old", duration_seconds=900)
    services.session_expire(
        session=StsSession.objects.get(access_key_id=credentials["AccessKeyId"]),
        at=timezone.now() - timedelta(seconds=1),
    )

    with pytest.raises(ClientError) as raised:
        _session_client("sts", live_server_url, credentials).get_caller_identity()
    assert _error(raised) == ("ExpiredToken", 403, "The security token included in the request is expired")
    with pytest.raises(ClientError) as raised:
        _session_client("lambda", live_server_url, credentials).list_functions()
    assert _error(raised)[:2] == ("ExpiredTokenException", 403)


def test_it_issues_credentials_for_a_role_that_trusts_lambda(live_server_url, access_key):
    account = services.account_default()
    trusting = services.role_create(
        account=account, name="fn-role", trust_policy=_trust({"Service": "lambda.amazonaws.com"})
    )
    other = services.role_create(
        account=account, name="people-only", trust_policy=_trust({"AWS": f"arn:aws:iam::{ACCOUNT}:root"})
    )

    assert selectors.role_trusts_service(trusting, "lambda.amazonaws.com")
    assert not selectors.role_trusts_service(other, "lambda.amazonaws.com")
    credentials = services.role_session_issue(
        role=trusting, session_name="my-function", duration_seconds=3600
    )
    identity = _session_client("sts", live_server_url, credentials).get_caller_identity()
    assert identity["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/fn-role/my-function"
