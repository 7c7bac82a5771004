"""Accounts: ``createaccount`` makes one, ``createaccesskey --account`` an administrator of it,
and what one account's callers see through IAM is their own account only."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from iam.models import Account, IamUser, PolicyAttachment
from tests.conftest import ROOT, aws_client, stratus_env

pytestmark = [pytest.mark.django_db(transaction=True)]

ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"


def _manage(*args: str) -> dict:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=stratus_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout
    return json.loads(lines[0])


def test_it_creates_an_account_and_prints_it_as_json():
    created = _manage("createaccount", "research")

    assert set(created) == {"AccountId", "AccountName"}
    assert created["AccountName"] == "research"
    assert len(created["AccountId"]) == 12 and created["AccountId"].isdigit()
    assert Account.objects.get(id=created["AccountId"]).name == "research"


def test_it_makes_createaccesskey_users_administrators_of_the_named_account(live_server_url):
    account_id = _manage("createaccount", "research")["AccountId"]

    issued = _manage("createaccesskey", "rita", "--account", account_id)

    assert set(issued) == {"AccessKeyId", "SecretAccessKey"}
    rita = IamUser.objects.get(account_id=account_id, name="rita")
    assert list(PolicyAttachment.objects.filter(user=rita).values_list("policy_arn", flat=True)) == [ADMIN]
    key = (issued["AccessKeyId"], issued["SecretAccessKey"])
    identity = aws_client("sts", live_server_url, key).get_caller_identity()
    assert identity["Account"] == account_id
    assert identity["Arn"] == f"arn:aws:iam::{account_id}:user/rita"
    iam = aws_client("iam", live_server_url, key)
    assert [user["UserName"] for user in iam.list_users()["Users"]] == ["rita"]
    assert iam.list_attached_user_policies(UserName="rita")["AttachedPolicies"][0]["PolicyArn"] == ADMIN


def test_it_makes_createaccesskey_users_administrators_of_the_default_account(live_server_url):
    issued = _manage("createaccesskey", "sam")

    sam = IamUser.objects.get(name="sam")
    assert sam.account_id == "000000000000" and sam.user.username == "sam"
    assert list(PolicyAttachment.objects.filter(user=sam).values_list("policy_arn", flat=True)) == [ADMIN]
    identity = aws_client(
        "sts", live_server_url, (issued["AccessKeyId"], issued["SecretAccessKey"])
    ).get_caller_identity()
    assert identity["Arn"] == "arn:aws:iam::000000000000:user/sam"


def test_it_keeps_the_same_name_apart_in_two_accounts(live_server_url, access_key):
    account_id = _manage("createaccount", "other")["AccountId"]
    issued = _manage("createaccesskey", "tester", "--account", account_id)
    theirs = aws_client("iam", live_server_url, (issued["AccessKeyId"], issued["SecretAccessKey"]))
    ours = aws_client("iam", live_server_url, access_key)

    theirs.create_role(
        RoleName="only-theirs",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"AWS": account_id}, "Action": "sts:AssumeRole"}
                ],
            }
        ),
    )

    assert theirs.get_user()["User"]["Arn"] == f"arn:aws:iam::{account_id}:user/tester"
    assert ours.get_user()["User"]["Arn"] == "arn:aws:iam::000000000000:user/tester"
    assert ours.list_roles()["Roles"] == []
    with pytest.raises(ours.exceptions.NoSuchEntityException):
        ours.get_role(RoleName="only-theirs")


def test_it_refuses_createaccesskey_for_an_account_that_does_not_exist():
    result = subprocess.run(
        [sys.executable, "manage.py", "createaccesskey", "x", "--account", "123456789012"],
        cwd=ROOT,
        env=stratus_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    assert "123456789012" in result.stderr
