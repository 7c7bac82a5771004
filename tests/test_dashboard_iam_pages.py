"""The dashboard's IAM pages: users and their keys, groups, roles, policies, the simulator and
the audit log, decided by the same evaluator as the IAM API and recorded in the same log."""

from __future__ import annotations

import html
import json
import re
from datetime import timedelta

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from functions_app.models import AccessKey
from functions_app.services.policy import permission_add
from iam import services
from iam.models import AuditEvent, IamUser, InlinePolicy, ManagedPolicy, PolicyAttachment, Role
from tests.conftest import function_made

pytestmark = [pytest.mark.django_db(transaction=True)]

ACCOUNT = "000000000000"
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
LAMBDA_READ_ONLY = "arn:aws:iam::aws:policy/AWSLambda_ReadOnlyAccess"
NAV_LINK = '<a href="/iam/">IAM</a>'


def _admin() -> Client:
    """A Django superuser (no IAM identity: the default account's administrator)."""
    admin = get_user_model().objects.create_superuser("admin", password="pw-for-tests-1")
    client = Client()
    client.force_login(admin)
    return client


def _iam_user(name: str, *policy_arns: str) -> tuple[IamUser, Client]:
    iam_user = services.user_create(account=services.account_default(), name=name)
    for arn in policy_arns:
        services.policy_attach(principal=iam_user, policy_arn=arn)
    client = Client()
    client.force_login(iam_user.user)
    return iam_user, client


def _text(response) -> str:
    return response.content.decode()


def _signed(key_id: str, secret: str, method: str, path: str) -> dict:
    """Headers that sign ``method path`` for Lambda with the key, as boto3 would."""
    wire = AWSRequest(method=method, url=f"http://testserver{path}")
    SigV4Auth(Credentials(key_id, secret), "lambda", "us-east-1").add_auth(wire)
    headers = {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in wire.headers.items()}
    return {"HTTP_HOST": "testserver", **headers}


def test_it_lets_an_admin_make_a_user_whose_new_key_works_as_its_policy_allows():
    function_made("hello")
    client = _admin()
    response = client.post("/iam/users/", {"name": "builder"})
    assert response.status_code == 302 and response["Location"] == "/iam/users/builder/"
    response = client.post("/iam/users/builder/attach", {"policy_arn": LAMBDA_READ_ONLY})
    assert response.status_code == 302
    assert client.post("/iam/users/builder/keys/new").status_code == 302

    page = _text(client.get("/iam/users/builder/"))
    key_id = re.search(r'id="new-key-id">(\w+)<', page)[1]
    secret = html.unescape(re.search(r'id="new-key-secret">([^<]+)<', page)[1])
    assert "AWSLambda_ReadOnlyAccess" in page
    assert secret not in _text(client.get("/iam/users/builder/")), "the secret is shown once"
    assert AccessKey.objects.get(access_key_id=key_id).user.iam_user.name == "builder"

    api = Client()
    listed = api.get("/2015-03-31/functions/", **_signed(key_id, secret, "GET", "/2015-03-31/functions/"))
    assert listed.status_code == 200
    assert [f["FunctionName"] for f in listed.json()["Functions"]] == ["hello"]
    path = "/2015-03-31/functions/hello"
    assert api.delete(path, **_signed(key_id, secret, "DELETE", path)).status_code == 403

    # Deactivated, the key no longer signs; active again, it does.
    assert client.post(f"/iam/users/builder/keys/{key_id}/status", {"status": "Inactive"}).status_code == 302
    refused = api.get("/2015-03-31/functions/", **_signed(key_id, secret, "GET", "/2015-03-31/functions/"))
    assert refused.status_code == 403
    client.post(f"/iam/users/builder/keys/{key_id}/status", {"status": "Active"})
    again = api.get("/2015-03-31/functions/", **_signed(key_id, secret, "GET", "/2015-03-31/functions/"))
    assert again.status_code == 200


def test_it_deletes_a_user_only_once_it_has_nothing_left_as_iam_does():
    client = _admin()
    client.post("/iam/users/", {"name": "leaver"})
    client.post("/iam/users/leaver/attach", {"policy_arn": READ_ONLY})
    client.post("/iam/users/leaver/keys/new")
    refused = client.post("/iam/users/leaver/delete", follow=True)
    assert "DeleteConflict" in _text(refused)
    assert IamUser.objects.filter(name="leaver").exists()

    key = AccessKey.objects.get(user__iam_user__name="leaver")
    client.post(f"/iam/users/leaver/keys/{key.access_key_id}/delete")
    client.post("/iam/users/leaver/detach", {"policy_arn": READ_ONLY})
    assert client.post("/iam/users/leaver/delete")["Location"] == "/iam/users/"
    assert not IamUser.objects.filter(name="leaver").exists()
    assert not get_user_model().objects.filter(username="leaver").exists()


def test_it_keeps_what_was_typed_when_a_policy_document_is_refused():
    client = _admin()
    client.post("/iam/users/", {"name": "typist"})
    no_resource = '{"Version": "2012-10-17",\n "Statement": [{"Effect": "Allow", "Action": "s3:GetObject"}]}'
    response = client.post("/iam/users/typist/inline/new", {"name": "reader", "document": no_resource})
    assert response.status_code == 400
    page = _text(response)
    assert html.escape(no_resource) in page
    assert 'value="reader"' in page
    assert "MalformedPolicyDocument: Policy statement must contain resources." in page

    broken = '{"Version": "2012-10-17", "Statement": [ '
    response = client.post(
        "/iam/policies/new", {"name": "half", "description": "unfinished", "document": broken}
    )
    assert response.status_code == 400
    assert html.escape(broken) in _text(response)
    assert 'value="unfinished"' in _text(response)
    assert "MalformedPolicyDocument" in _text(response)
    assert not InlinePolicy.objects.exists() and not ManagedPolicy.objects.exists()

    good = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    )
    assert (
        client.post("/iam/users/typist/inline/new", {"name": "reader", "document": good}).status_code == 302
    )
    editor = client.get("/iam/users/typist/inline/reader/")
    assert editor.status_code == 200 and html.escape(good) in _text(editor)


def test_it_lets_a_read_only_user_look_but_not_change():
    services.group_create(account=services.account_default(), name="staff")
    services.policy_create(
        account=services.account_default(),
        name="mine",
        document=json.dumps({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}),
    )
    looker, client = _iam_user("looker", READ_ONLY)
    for url in (
        "/iam/",
        "/iam/users/",
        "/iam/users/looker/",
        "/iam/groups/",
        "/iam/groups/staff/",
        "/iam/roles/",
        "/iam/policies/",
        f"/iam/policies/view?arn=arn:aws:iam::{ACCOUNT}:policy/mine",
        f"/iam/policies/view?arn={READ_ONLY}",
        "/iam/simulate",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        page = _text(response)
        assert NAV_LINK in page, "the nav links to IAM"
        for change in (
            "Create user",
            "Create group",
            "Attach policy",
            "Create access key",
            "Delete",
            "Create policy",
        ):
            assert change not in page, (url, change)

    for url, data in (
        ("/iam/users/", {"name": "intruder"}),
        ("/iam/users/looker/attach", {"policy_arn": "arn:aws:iam::aws:policy/AdministratorAccess"}),
        ("/iam/users/looker/keys/new", {}),
        ("/iam/users/looker/inline/new", {"name": "x", "document": "{}"}),
        ("/iam/users/looker/groups", {"group": "staff", "change": "add"}),
        ("/iam/groups/staff/delete", {}),
        ("/iam/roles/new", {"name": "r", "document": "{}"}),
        ("/iam/policies/new", {"name": "p", "document": "{}"}),
        ("/iam/policies/delete", {"arn": f"arn:aws:iam::{ACCOUNT}:policy/mine"}),
    ):
        assert client.post(url, data).status_code == 403, url
    assert client.get("/iam/users/looker/inline/new").status_code == 403
    assert list(IamUser.objects.values_list("name", flat=True)) == ["looker"]
    assert [a.policy_arn for a in PolicyAttachment.objects.all()] == [READ_ONLY]
    assert not AccessKey.objects.exists() and not Role.objects.exists()
    assert ManagedPolicy.objects.filter(name="mine").exists()
    refused = AuditEvent.objects.filter(principal_arn=looker.arn, allowed=False)
    assert {"iam:CreateUser", "iam:AttachUserPolicy", "iam:DeleteGroup"} <= set(
        refused.values_list("action", flat=True)
    )


def test_it_shows_nothing_to_a_user_with_no_policy():
    _, client = _iam_user("nobody")
    for url in ("/iam/", "/iam/users/", "/iam/roles/", "/iam/policies/", "/iam/simulate", "/iam/audit/"):
        assert client.get(url).status_code == 403, url
    assert client.post("/iam/users/", {"name": "sneaky"}).status_code == 403
    assert not IamUser.objects.filter(name="sneaky").exists()
    keys_page = client.get("/keys/")
    assert keys_page.status_code == 200
    assert NAV_LINK not in _text(keys_page)
    assert NAV_LINK in _text(_admin().get("/keys/"))


def test_it_simulates_what_a_real_policy_allows_and_denies():
    account = services.account_default()
    reader, _ = _iam_user("reader")
    group = services.group_create(account=account, name="readers")
    services.group_member_add(group=group, iam_user=reader)
    services.inline_policy_put(
        principal=group,
        name="bucket",
        document=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "ReadBucket",
                        "Effect": "Allow",
                        "Action": "s3:GetObject",
                        "Resource": "arn:aws:s3:::data/*",
                    },
                    {
                        "Sid": "KeepSecrets",
                        "Effect": "Deny",
                        "Action": "s3:*",
                        "Resource": "arn:aws:s3:::data/secret/*",
                    },
                ],
            }
        ),
    )
    client = _admin()

    def verdict(action: str, resource: str) -> str:
        response = client.get(
            "/iam/simulate", {"principal": reader.arn, "action": action, "resource": resource}
        )
        assert response.status_code == 200
        return re.search(r'id="verdict".*?</section>', _text(response), re.DOTALL)[0]

    allowed = verdict("s3:GetObject", "arn:aws:s3:::data/report.csv")
    assert "<h2>Allowed</h2>" in allowed and "ReadBucket" in allowed
    denied = verdict("s3:GetObject", "arn:aws:s3:::data/secret/keys")
    assert "<h2>Explicitly denied</h2>" in denied and "KeepSecrets" in denied
    implicit = verdict("s3:PutObject", "arn:aws:s3:::data/report.csv")
    assert "Implicitly denied" in implicit and "ReadBucket" not in implicit

    role = services.role_create(
        account=account, name="worker", trust_policy=json.dumps(_lambda_trust()), description=""
    )
    services.policy_attach(principal=role, policy_arn=LAMBDA_READ_ONLY)
    response = client.get(
        "/iam/simulate", {"principal": role.arn, "action": "lambda:GetFunction", "resource": "*"}
    )
    assert "<h2>Allowed</h2>" in _text(response) and LAMBDA_READ_ONLY in _text(response)


def _lambda_trust() -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }


def test_it_records_page_changes_in_the_audit_log_and_searches_it():
    client = _admin()
    client.post("/iam/users/", {"name": "audited"})
    client.post("/iam/groups/", {"name": "team"})
    client.post("/iam/groups/team/members", {"user": "audited", "change": "add"})
    client.post(
        "/iam/roles/new", {"name": "runner", "description": "", "document": json.dumps(_lambda_trust())}
    )
    client.post("/iam/users/", {"name": "audited"})  # refused by IAM: it exists
    _, looker = _iam_user("looker", READ_ONLY)
    looker.post("/iam/users/", {"name": "intruder"})

    admin_arn = f"arn:aws:iam::{ACCOUNT}:user/admin"
    events = list(
        AuditEvent.objects.order_by("at", "id").values_list("principal_arn", "action", "allowed", "status")
    )
    assert events == [
        (admin_arn, "iam:CreateUser", True, 200),
        (admin_arn, "iam:CreateGroup", True, 200),
        (admin_arn, "iam:AddUserToGroup", True, 200),
        (admin_arn, "iam:CreateRole", True, 200),
        (admin_arn, "iam:CreateUser", True, 409),
        (f"arn:aws:iam::{ACCOUNT}:user/looker", "iam:CreateUser", False, 403),
    ]
    assert not AuditEvent.objects.exclude(access_key_id="").exists(), "the dashboard signs with no key"
    assert AuditEvent.objects.get(action="iam:CreateRole").resource == f"arn:aws:iam::{ACCOUNT}:role/runner"

    def rows(**filters) -> list[str]:
        response = client.get("/iam/audit/", filters)
        assert response.status_code == 200
        return re.findall(r"<td>(iam:\w+)</td>", _text(response))

    assert rows() == [
        "iam:CreateUser",
        "iam:CreateUser",
        "iam:CreateRole",
        "iam:AddUserToGroup",
        "iam:CreateGroup",
        "iam:CreateUser",
    ]
    assert "dashboard session" in _text(client.get("/iam/audit/"))
    assert rows(action="role") == ["iam:CreateRole"]
    assert rows(outcome="denied") == ["iam:CreateUser"]
    assert rows(principal="looker") == ["iam:CreateUser"]
    # Group membership is authorized, and so recorded, on the group, as AWS has it.
    assert rows(resource="group/team") == ["iam:AddUserToGroup", "iam:CreateGroup"]
    today = timezone.localdate()
    assert len(rows(since=today.isoformat(), until=today.isoformat())) == 6
    assert rows(since=(today + timedelta(days=1)).isoformat()) == []
    assert rows(until=(today - timedelta(days=1)).isoformat()) == []
    # Reading it is cloudtrail:LookupEvents, which ReadOnlyAccess has and no policy at all has not.
    assert looker.get("/iam/audit/").status_code == 200
    _, nobody = _iam_user("nobody")
    assert nobody.get("/iam/audit/").status_code == 403


def test_it_pages_the_audit_log_newest_first():
    client = _admin()
    start = timezone.now() - timedelta(hours=2)
    AuditEvent.objects.bulk_create(
        AuditEvent(
            at=start + timedelta(minutes=n), account_id=ACCOUNT, principal_arn="p", action=f"iam:Op{n:02d}"
        )
        for n in range(60)
    )
    first = _text(client.get("/iam/audit/"))
    assert first.index("iam:Op59") < first.index("iam:Op58") and "iam:Op09" not in first
    assert "Page 1 of 2" in first
    second = _text(client.get("/iam/audit/", {"page": 2}))
    assert "iam:Op09" in second and "iam:Op00" in second and "iam:Op59" not in second


def test_it_checks_a_role_trust_policy_and_keeps_the_edit_when_refused():
    client = _admin()
    form = _text(client.get("/iam/roles/new"))
    assert "lambda.amazonaws.com" in form, "the default trust policy lets Lambda assume the role"
    assert (
        client.post("/iam/roles/new", {"name": "fn", "document": json.dumps(_lambda_trust())}).status_code
        == 302
    )

    with_resource = json.dumps(
        {
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": ACCOUNT},
                    "Action": "sts:AssumeRole",
                    "Resource": "*",
                }
            ]
        }
    )
    response = client.post("/iam/roles/fn/trust", {"document": with_resource})
    assert response.status_code == 400
    assert "Has prohibited field Resource" in _text(response)
    assert html.escape(with_resource) in _text(response)
    assert "lambda.amazonaws.com" in Role.objects.get(name="fn").trust_policy

    account_trust = json.dumps(
        {"Statement": [{"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}]}
    )
    assert client.post("/iam/roles/fn/trust", {"document": account_trust}).status_code == 302
    assert Role.objects.get(name="fn").trust_policy == account_trust
    assert f"<code>{ACCOUNT}</code>" in _text(client.get("/iam/roles/fn/"))


def test_it_manages_policies_their_versions_and_groups_that_grant_them():
    client = _admin()
    member, _ = _iam_user("member")
    v1 = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}]}
    )
    v2 = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sns:*", "Resource": "*"}]}
    )
    response = client.post("/iam/policies/new", {"name": "messaging", "description": "", "document": v1})
    arn = f"arn:aws:iam::{ACCOUNT}:policy/messaging"
    assert response.status_code == 302 and arn.replace(":", "%3A").replace("/", "%2F") in response["Location"]
    listing = _text(client.get("/iam/policies/", {"scope": "local"}))
    assert "messaging" in listing and "ReadOnlyAccess" not in listing

    new_version = client.post(
        f"/iam/policies/versions/new?arn={arn}", {"document": v2, "set_as_default": "on"}
    )
    assert new_version.status_code == 302
    assert ManagedPolicy.objects.get(name="messaging").versions.get(is_default=True).version_id == "v2"
    client.post("/iam/policies/versions/default", {"arn": arn, "version": "v1"})
    assert ManagedPolicy.objects.get(name="messaging").versions.get(is_default=True).version_id == "v1"

    client.post("/iam/groups/", {"name": "messengers"})
    client.post("/iam/groups/messengers/attach", {"policy_arn": arn})
    client.post("/iam/users/member/groups", {"group": "messengers", "change": "add"})
    simulated = client.get(
        "/iam/simulate", {"principal": member.arn, "action": "sqs:SendMessage", "resource": "*"}
    )
    assert "<h2>Allowed</h2>" in _text(simulated)
    assert "DeleteConflict" in _text(client.post("/iam/policies/delete", {"arn": arn}, follow=True))

    client.post("/iam/groups/messengers/detach", {"policy_arn": arn})
    client.post("/iam/policies/versions/delete", {"arn": arn, "version": "v2"})
    assert client.post("/iam/policies/delete", {"arn": arn})["Location"] == "/iam/policies/"
    assert not ManagedPolicy.objects.exists()


def test_it_shows_a_functions_execution_role_and_resource_policy():
    function = function_made("hello")
    permission_add(
        function=function,
        qualifier=None,
        fields={"StatementId": "from-s3", "Action": "lambda:InvokeFunction", "Principal": "s3.amazonaws.com"},
    )
    role_name = function.versions.get(version="$LATEST").role.rsplit("/", 1)[-1]
    page = _text(_admin().get("/functions/hello/?tab=configuration"))
    assert f'href="/iam/roles/{role_name}/"' in page
    policy = html.unescape(re.search(r'id="resource-policy">(.*?)</pre>', page, re.DOTALL)[1])
    assert json.loads(policy)["Statement"][0]["Sid"] == "from-s3"
