"""The dashboard, ``/api/v1/`` and the live websockets decide per function, with the IAM
evaluator the Lambda API uses: a user's policies (and a function's resource-based policy)
show and let them change exactly the functions they name."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Permission
from django.test import Client

from dashboard.asgi import application
from functions_app.models import Function
from functions_app.services.policy import permission_add
from functions_app.web.access import EVERY_FUNCTION
from iam import services
from metrics_app.models import MetricPoint
from tests.conftest import function_made

pytestmark = [pytest.mark.django_db(transaction=True)]

ARN = "arn:aws:lambda:us-east-1:000000000000:function"
VIEW = "functions_app.view_function"
CHANGE = "functions_app.change_function"


def _statement(effect: str, actions: list[str], resource: str) -> dict:
    return {"Effect": effect, "Action": actions, "Resource": resource}


def _iam_user(name: str, *statements: dict):
    """An IAM user whose one inline policy holds ``statements``, and a client signed in as them."""
    iam_user = services.user_create(account=services.account_default(), name=name)
    if statements:
        document = json.dumps({"Version": "2012-10-17", "Statement": list(statements)})
        services.inline_policy_put(principal=iam_user, name="dashboard", document=document)
    client = Client()
    client.force_login(iam_user.user)
    return iam_user, client


def _listed(client: Client) -> set[str]:
    page = client.get("/functions/").content.decode()
    return {name for name in ("hello", "other", "secret") if f'href="/functions/{name}/"' in page}


def _signed(key_id: str, secret: str, path: str) -> dict:
    """Headers that sign ``GET path`` with the key, as boto3 would."""
    wire = AWSRequest(method="GET", url=f"http://testserver{path}")
    SigV4Auth(Credentials(key_id, secret), "lambda", "us-east-1").add_auth(wire)
    headers = {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in wire.headers.items()}
    return {"HTTP_HOST": "testserver", **headers}


async def _connects(path: str, client: Client) -> bool:
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    communicator = WebsocketCommunicator(
        application, path, headers=[(b"origin", b"http://127.0.0.1"), (b"cookie", cookie)]
    )
    connected, _ = await communicator.connect()
    await communicator.disconnect()
    return connected


def test_it_shows_a_user_allowed_one_function_that_function_only():
    function_made("hello")
    function_made("other")
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    for name in ("hello", "other"):
        MetricPoint.objects.create(period=60, timestamp=now, metric="Invocations", function_name=name, sum=3)
    iam_user, client = _iam_user("hello-reader", _statement("Allow", ["lambda:GetFunction"], f"{ARN}:hello"))
    user = iam_user.user

    assert user.has_perm(VIEW)  # may see the Functions section: one function is enough
    assert user.has_perm(VIEW, Function.objects.get(name="hello"))
    assert not user.has_perm(VIEW, Function.objects.get(name="other"))
    assert not user.has_perm(VIEW, EVERY_FUNCTION)
    assert _listed(client) == {"hello"}
    page = client.get("/functions/hello/?tab=configuration")
    assert page.status_code == 200
    assert 'id="read-only"' in page.content.decode() and "Create or update alias" not in page.content.decode()
    for tab in ("code", "test", "monitor", "logs", "invocations", "async"):
        page = client.get(f"/functions/hello/?tab={tab}").content.decode()
        assert 'id="read-only"' in page and 'id="deploy"' not in page and 'class="redrive"' not in page
    assert client.get("/functions/other/").status_code == 403
    assert client.get("/functions/other/code.zip").status_code == 403
    assert client.get("/functions/no-such-function/").status_code == 404
    home = client.get("/").content.decode()
    assert 'href="/functions/hello/"' in home and 'href="/functions/other/"' not in home
    assert "data-live-charts" not in home  # the account's totals include other
    assert client.get("/api/v1/functions/hello/invocations").status_code == 200
    assert client.get("/api/v1/functions/other/invocations").status_code == 403
    assert client.get("/api/v1/functions/other/async-events").status_code == 403
    assert client.get("/api/v1/metrics?function=hello").status_code == 200
    assert client.get("/api/v1/metrics?function=other").status_code == 403
    assert client.get("/api/v1/metrics").status_code == 403
    assert client.get("/triggers/").status_code == 403


def test_it_lets_a_user_change_only_the_function_its_policy_names():
    function_made("hello")
    function_made("other")
    _, client = _iam_user(
        "hello-editor",
        _statement("Allow", ["lambda:GetFunction"], f"{ARN}:*"),
        _statement("Allow", ["lambda:UpdateFunctionConfiguration"], f"{ARN}:hello"),
    )

    assert _listed(client) == {"hello", "other"}
    assert 'id="deploy"' in client.get("/functions/hello/").content.decode()
    assert 'id="deploy"' not in client.get("/functions/other/").content.decode()
    for name in ("hello", "other"):
        client.post(f"/functions/{name}/action", {"action": "tags", "tags": "team=blue"})
    assert Function.objects.get(name="hello").tags == {"team": "blue"}
    assert Function.objects.get(name="other").tags == {}
    refused = client.post("/functions/other/action", {"action": "tags", "tags": "team=blue"})
    assert refused.status_code == 403
    refused = client.post("/functions/other/triggers", {"action": "url-create", "auth_type": "NONE"})
    assert refused.status_code == 403 and not Function.objects.get(name="other").url_configs.exists()
    for name, status in (("other", 403), ("hello", 200)):
        redrive = client.post(
            f"/api/v1/functions/{name}/async-events/redrive", {"all": True}, content_type="application/json"
        )
        assert redrive.status_code == status
    # Creating functions, and the queues, streams and topics, span the account.
    assert client.get("/functions/new").status_code == 403


def test_it_hides_a_function_an_explicit_deny_names_from_an_otherwise_allowed_user():
    function_made("hello")
    function_made("secret")
    iam_user, client = _iam_user(
        "almost-admin",
        _statement("Allow", ["lambda:*"], "*"),
        _statement("Deny", ["lambda:GetFunction"], f"{ARN}:secret"),
    )

    assert _listed(client) == {"hello"}
    assert client.get("/functions/secret/").status_code == 403
    assert client.get("/api/v1/functions/secret/invocations").status_code == 403
    # The account's pages name every function, so the one denied closes them too.
    assert not iam_user.user.has_perm(VIEW, EVERY_FUNCTION)
    assert client.get("/triggers/").status_code == 403
    assert "data-live-charts" not in client.get("/").content.decode()


def test_it_lets_a_functions_resource_based_policy_show_it_to_a_user_with_no_policy():
    function_made("hello")
    function_made("other")
    iam_user, client = _iam_user("guest")
    assert client.get("/functions/").status_code == 403

    permission_add(
        function=Function.objects.get(name="hello"),
        qualifier=None,
        fields={"StatementId": "guest-reads", "Action": "lambda:GetFunction", "Principal": iam_user.arn},
    )

    assert _listed(client) == {"hello"}
    assert client.get("/functions/hello/").status_code == 200
    assert client.get("/functions/other/").status_code == 403
    assert client.get("/api/v1/functions/hello/invocations").status_code == 200


def test_it_counts_django_model_permissions_for_every_function():
    function_made("hello")
    function_made("other")
    iam_user, client = _iam_user("admin-granted")
    iam_user.user.user_permissions.add(Permission.objects.get(codename="view_function"))

    assert _listed(client) == {"hello", "other"}
    page = client.get("/functions/other/")
    assert page.status_code == 200 and 'id="read-only"' in page.content.decode()
    assert client.post("/functions/other/action", {"action": "tags", "tags": "a=b"}).status_code == 403


def test_it_judges_a_signed_api_v1_request_on_the_keys_user_per_function():
    function_made("hello")
    function_made("other")
    iam_user, _ = _iam_user("hello-script", _statement("Allow", ["lambda:GetFunction"], f"{ARN}:hello"))
    key, secret = services.access_key_issue(iam_user=iam_user)
    api = Client()

    for name, status in (("hello", 200), ("other", 403)):
        path = f"/api/v1/functions/{name}/invocations"
        assert api.get(path, **_signed(key.access_key_id, secret, path)).status_code == status


def test_it_refuses_the_live_feed_of_a_function_the_user_may_not_see():
    function_made("hello")
    function_made("other")
    _, client = _iam_user("hello-watcher", _statement("Allow", ["lambda:GetFunction"], f"{ARN}:hello"))

    assert asyncio.run(_connects("/ws/functions/hello/", client)) is True
    assert asyncio.run(_connects("/ws/functions/other/", client)) is False
    assert asyncio.run(_connects("/ws/account/", client)) is False
