"""Every change made through the APIs, and every refused call, is in the audit log: who,
when, what, with which key, and what was answered. Reads and invocations are not."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from django.test import Client

from iam.models import AuditEvent
from tests.conftest import aws_client

pytestmark = [pytest.mark.django_db(transaction=True)]

ACCOUNT = "000000000000"


def test_it_records_changes_and_refusals_not_reads(live_server_url, access_key, create_function):
    create_function("audited")
    lambda_client = aws_client("lambda", live_server_url, access_key)
    iam = aws_client("iam", live_server_url, access_key)
    lambda_client.get_function(FunctionName="audited")
    lambda_client.update_function_configuration(FunctionName="audited", MemorySize=256)
    iam.create_user(UserName="snoop")
    key = iam.create_access_key(UserName="snoop")["AccessKey"]
    snoop = aws_client("lambda", live_server_url, (key["AccessKeyId"], key["SecretAccessKey"]))
    with pytest.raises(ClientError):
        snoop.delete_function(FunctionName="audited")

    events = list(
        AuditEvent.objects.order_by("at").values(
            "principal_arn", "access_key_id", "action", "allowed", "status"
        )
    )
    admin = f"arn:aws:iam::{ACCOUNT}:user/tester"
    assert {
        "principal_arn": admin,
        "access_key_id": access_key[0],
        "action": "lambda:UpdateFunctionConfiguration",
        "allowed": True,
        "status": 200,
    } in events
    assert {
        "principal_arn": admin,
        "access_key_id": access_key[0],
        "action": "iam:CreateUser",
        "allowed": True,
        "status": 200,
    } in events
    assert {
        "principal_arn": f"arn:aws:iam::{ACCOUNT}:user/snoop",
        "access_key_id": key["AccessKeyId"],
        "action": "lambda:DeleteFunction",
        "allowed": False,
        "status": 403,
    } in events
    assert not [
        event
        for event in events
        if event["action"] in ("lambda:GetFunction", "lambda:GetFunctionConfiguration")
    ]
    refused = AuditEvent.objects.get(action="lambda:DeleteFunction")
    assert refused.resource == f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:audited"


def test_it_is_searchable_in_the_admin_and_read_only(live_server_url, access_key):
    from django.contrib.auth import get_user_model

    aws_client("iam", live_server_url, access_key).create_user(UserName="searched-for")
    admin = get_user_model().objects.create_superuser("auditor-admin", password="pw-for-tests-1")
    client = Client()
    client.force_login(admin)
    page = client.get("/admin/iam/auditevent/", {"q": "CreateUser"})
    assert page.status_code == 200
    assert "iam:CreateUser" in page.content.decode()
    event = AuditEvent.objects.get(action="iam:CreateUser")
    assert client.post(f"/admin/iam/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
