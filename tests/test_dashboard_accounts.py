"""The dashboard, ``/api/v1/`` and the live websockets act in the signed-in user's account: an
IAM user's own, or for a superuser (an administrator of every account) the one chosen in the
nav. Another account's functions appear nowhere, and a direct link to one is a 404."""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
import redis
from asgiref.sync import sync_to_async
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client

from dashboard.asgi import application
from functions_app.models import LATEST, Function
from functions_app.services.access_keys import access_key_create
from functions_app.services.execution_role import LAMBDA_TRUST_POLICY
from functions_app.triggers.queues import queue_create
from functions_app.triggers.schedules import schedule_create
from iam import services
from iam.models import Account, IamUser
from iam.tenancy import acting_in
from iam.web.accounts import SESSION_KEY
from metrics_app.aggregation import Batch
from metrics_app.ingest import ingest
from metrics_app.models import InvocationRecord, MetricPoint
from metrics_app.storage import write_batch
from tests.conftest import function_made

pytestmark = [pytest.mark.django_db(transaction=True)]

ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
RUNTIME = f"python3.{sys.version_info.minor}"


def _account_b() -> Account:
    """Account B, with a role Lambda may assume (a function's role is of its own account)."""
    account = services.account_create(name="bee")
    services.role_create(account=account, name="lambda-role", trust_policy=LAMBDA_TRUST_POLICY)
    return account


def _function_in(account: Account, name: str) -> Function:
    with acting_in(account.id):
        return function_made(name, Role=f"arn:aws:iam::{account.id}:role/lambda-role")


def _administrator(account: Account, name: str):
    """An IAM user of ``account`` with AdministratorAccess, and a client signed in as them."""
    iam_user = services.user_create(account=account, name=name)
    services.policy_attach(principal=iam_user, policy_arn=ADMIN)
    client = Client()
    client.force_login(iam_user.user)
    return iam_user, client


def _superuser() -> Client:
    user = get_user_model().objects.create_superuser(username="root", password="pw-for-tests")
    client = Client()
    client.force_login(user)
    return client


def _listed(client: Client) -> set[str]:
    page = client.get("/functions/").content.decode()
    return {name for name in ("alpha", "beta") if f'href="/functions/{name}/"' in page}


def _failures(*names: str) -> None:
    """A minute of invocations and errors, and one failed invocation, for each function."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    for name in names:
        for metric in ("Invocations", "Errors"):
            MetricPoint.objects.create(
                period=60, timestamp=now, metric=metric, function_name=name, sum=3, count=3
            )
        started = datetime.now(UTC) - timedelta(seconds=5)
        InvocationRecord.objects.create(
            request_id=f"req-{name}",
            function_name=name,
            version=LATEST,
            trigger="api",
            outcome="error",
            error_type=f"{name.title()}Error",
            started_at=started,
            ended_at=started + timedelta(milliseconds=12),
            duration_ms=12.0,
            billed_duration_ms=12,
            max_memory_mb=30,
        )


def _signed(key_id: str, secret: str, path: str) -> dict:
    """Headers that sign ``GET path`` with the key, as boto3 would."""
    wire = AWSRequest(method="GET", url=f"http://testserver{path}")
    SigV4Auth(Credentials(key_id, secret), "lambda", "us-east-1").add_auth(wire)
    headers = {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in wire.headers.items()}
    return {"HTTP_HOST": "testserver", **headers}


def test_it_shows_a_user_of_another_account_only_that_accounts_functions():
    function_made("alpha")  # the install's account, A
    account = _account_b()
    _function_in(account, "beta")
    _failures("alpha", "beta")
    _, client = _administrator(account, "bob")

    assert _listed(client) == {"beta"}
    assert client.get("/functions/alpha/").status_code == 404
    assert client.get("/functions/alpha/invocations/req-alpha").status_code == 404
    assert client.get("/functions/beta/").status_code == 200
    home = client.get("/").content.decode()
    assert "data-live-charts" in home  # every function of B: the account's charts
    assert "beta" in home and "BetaError" in home
    assert "alpha" not in home and "AlphaError" not in home
    assert f"Account {account.id} (bee)" in home
    assert 'name="account"' not in home  # no switcher


def test_it_lists_only_the_accounts_queues_on_the_triggers_page():
    queue_create(name="alpha-queue")
    account = _account_b()
    with acting_in(account.id):
        queue_create(name="beta-queue")
    _, client = _administrator(account, "bob")

    page = client.get("/triggers/").content.decode()
    assert "beta-queue" in page and "alpha-queue" not in page
    assert [queue["name"] for queue in client.get("/api/v1/queues").json()["queues"]] == ["beta-queue"]


def test_it_creates_a_function_in_the_users_account():
    account = _account_b()
    _, client = _administrator(account, "bob")

    response = client.post(
        "/functions/new",
        {"name": "made-in-b", "runtime": RUNTIME, "memory": "128", "timeout": "3", "source": "blueprint"},
    )

    assert response.status_code == 302, response.content.decode()
    function = Function.objects.get(name="made-in-b")
    assert function.account_id == account.id
    assert function.arn() == f"arn:aws:lambda:us-east-1:{account.id}:function:made-in-b"
    assert _listed(client) == set()  # neither alpha nor beta exists; made-in-b is B's
    assert 'href="/functions/made-in-b/"' in client.get("/functions/").content.decode()


def test_it_lets_a_superuser_switch_to_another_account():
    function_made("alpha")
    services.user_create(account=services.account_default(), name="alice")
    account = _account_b()
    _function_in(account, "beta")
    services.user_create(account=account, name="bob")
    client = _superuser()

    page = client.get("/functions/").content.decode()
    assert _listed(client) == {"alpha"}
    assert f'<option value="{settings.STRATUS_ACCOUNT_ID}" selected>' in page
    assert f'<option value="{account.id}">{account.id} (bee)</option>' in page

    response = client.post("/account/switch", {"account": account.id, "next": "/functions/"})

    assert response.status_code == 302 and response["Location"] == "/functions/"
    assert _listed(client) == {"beta"}
    assert client.get("/functions/alpha/").status_code == 404
    assert client.get("/functions/beta/").status_code == 200
    users = client.get("/iam/users/").content.decode()
    assert "bob" in users and "alice" not in users
    assert f'<option value="{account.id}" selected>' in client.get("/").content.decode()


def test_it_refuses_a_switch_to_an_unknown_account_or_without_csrf():
    client = _superuser()

    assert client.post("/account/switch", {"account": "123456789012"}).status_code == 400
    assert client.get("/account/switch").status_code == 405
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(get_user_model().objects.get(username="root"))
    account = _account_b()
    assert strict.post("/account/switch", {"account": account.id}).status_code == 403
    assert SESSION_KEY not in strict.session


def test_it_refuses_a_switch_to_an_iam_user():
    function_made("alpha")
    account = _account_b()
    _function_in(account, "beta")
    _, client = _administrator(account, "bob")

    response = client.post("/account/switch", {"account": settings.STRATUS_ACCOUNT_ID})

    assert response.status_code == 403
    assert _listed(client) == {"beta"}


def test_it_answers_api_v1_in_the_signing_keys_account():
    function_made("alpha")
    account = _account_b()
    beta = _function_in(account, "beta")
    _failures("alpha", "beta")
    alpha = Function.objects.get(name="alpha")
    for function in (alpha, beta):
        schedule_create(
            name=f"{function.name}-nightly", function=function, qualifier="", expression="rate(1 day)"
        )
    bob, client = _administrator(account, "bob")
    key, secret = access_key_create(user=bob.user)
    api = Client()

    def get(path: str):
        return api.get(path, **_signed(key.access_key_id, secret, path))

    assert get("/api/v1/functions/beta/invocations").json()["invocations"][0]["requestId"] == "req-beta"
    assert get("/api/v1/functions/alpha/invocations").status_code == 404
    assert get("/api/v1/invocations/req-beta").status_code == 200
    assert get("/api/v1/invocations/req-alpha").status_code == 404
    assert get("/api/v1/metrics?function=alpha").status_code == 404
    assert [s["name"] for s in get("/api/v1/schedules").json()["schedules"]] == ["beta-nightly"]
    assert get("/api/v1/schedules/alpha-nightly").status_code == 404
    end = int(time.time()) // 60 * 60 + 60
    series = get(f"/api/v1/metrics?metric=Invocations&period=60&start={end - 600}&end={end}").json()
    assert sum(point["v"] for point in series["points"]) == 3  # beta's, not alpha's
    # The same calls from bob's dashboard session act in the same account.
    assert client.get("/api/v1/functions/alpha/invocations").status_code == 404
    assert client.get("/api/v1/functions/beta/invocations").status_code == 200


def test_it_sums_the_accounts_functions_for_its_account_wide_series():
    function_made("alpha")
    account = _account_b()
    _function_in(account, "beta")
    _function_in(account, "gamma")
    _, client = _administrator(account, "bob")
    now = time.time()
    batch = Batch()
    for name, running in (("alpha", 5.0), ("beta", 2.0), ("gamma", 3.0)):
        batch.add_gauge("ConcurrentExecutions", running, now, (name, "", ""))
    batch.add_gauge("ConcurrentExecutions", 10.0, now, ("", "", ""))  # the install's
    write_batch(redis.Redis.from_url(settings.REDIS_URL), batch)

    def peak(period: int) -> float:
        start, end = int(now) // 60 * 60, int(now) // 60 * 60 + 60
        query = f"metric=ConcurrentExecutions&statistic=Maximum&period={period}&start={start}&end={end}"
        points = client.get(f"/api/v1/metrics?{query}").json()["points"]
        return max(point["v"] for point in points)

    # Side by side, B's functions run 2 + 3 at once; alpha's 5 are A's.
    assert peak(1) == 5.0
    assert peak(60) == 5.0


def test_it_leaves_the_lambda_api_in_the_signing_keys_account_whoever_is_signed_in():
    function_made("alpha")
    account = _account_b()
    _function_in(account, "beta")
    _, client = _administrator(account, "bob")  # B's session cookie rides along
    alice = services.user_create(account=services.account_default(), name="alice")
    services.policy_attach(principal=alice, policy_arn=ADMIN)
    key, secret = access_key_create(user=alice.user)

    path = "/2015-03-31/functions/"
    listed = client.get(path, **_signed(key.access_key_id, secret, path)).json()["Functions"]

    assert [function["FunctionName"] for function in listed] == ["alpha"]


async def _connect(path: str, client: Client) -> tuple[WebsocketCommunicator, bool]:
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    communicator = WebsocketCommunicator(
        application, path, headers=[(b"origin", b"http://127.0.0.1"), (b"cookie", cookie)]
    )
    connected, code = await communicator.connect()
    return communicator, connected if connected else code


def _record(name: str) -> dict:
    now = time.time()
    return {
        "kind": "invocation",
        "request_id": f"live-{name}",
        "function": name,
        "version": "$LATEST",
        "started_at": now,
        "ended_at": now + 0.01,
        "duration_ms": 10.0,
        "billed_duration_ms": 10,
        "memory_size": 128,
        "outcome": "success",
        "cold": True,
        "attempt": 1,
    }


def test_it_keeps_another_accounts_functions_off_the_live_websockets():
    function_made("alpha")
    account = _account_b()
    _function_in(account, "beta")
    _, client = _administrator(account, "bob")
    connection = redis.Redis.from_url(settings.REDIS_URL)

    async def scenario():
        refused, code = await _connect("/ws/functions/alpha/", client)
        assert code == 4404
        mine, connected = await _connect("/ws/functions/beta/", client)
        assert connected is True
        await mine.disconnect()
        feed, connected = await _connect("/ws/account/", client)
        assert connected is True
        entries = [
            (f"{int(time.time() * 1000)}-{index}", _record(name))
            for index, name in enumerate(("alpha", "beta"))
        ]
        await sync_to_async(ingest)(connection, records=entries, logs=[])
        seen, points = set(), []
        while "live-beta" not in seen or not points:
            message = await feed.receive_json_from(timeout=5)
            if message["type"] == "invocation":
                seen.add(message["invocation"]["request_id"])
            elif message["type"] == "metrics":
                points += [point for point in message["points"] if point[1] == "Invocations"]
        assert seen == {"live-beta"}
        assert sum(point[2] for point in points) == 1  # beta's one invocation, not alpha's
        await feed.disconnect()

    asyncio.run(scenario())


def test_it_acts_in_the_install_account_for_a_user_without_an_iam_identity():
    function_made("alpha")
    account = _account_b()
    _function_in(account, "beta")
    user = get_user_model().objects.create_user(username="plain", password="pw-for-tests")
    user.user_permissions.add(Permission.objects.get(codename="view_function"))
    client = Client()
    client.force_login(user)

    assert not IamUser.objects.filter(user=user).exists()
    assert _listed(client) == {"alpha"}
    assert client.get("/functions/beta/").status_code == 404
