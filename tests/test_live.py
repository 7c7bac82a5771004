"""Live updates: a new metric point, log line and invocation reach a connected websocket."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

from dashboard.asgi import application
from functions_app.models import CodeArtifact, Function, FunctionVersion
from metrics_app.ingest import ingest

pytestmark = pytest.mark.django_db(transaction=True)


def _session_cookie(username: str = "watcher") -> bytes:
    from django.contrib.auth.models import Permission

    user = get_user_model().objects.create_user(username=username, password="pw-for-tests")
    user.user_permissions.add(Permission.objects.get(codename="view_function"))
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


def _function(name: str) -> None:
    artifact = CodeArtifact.objects.create(sha256="0" * 64, size=1, unzipped_size=1, storage_name="x")
    function = Function.objects.create(name=name)
    FunctionVersion.objects.create(
        function=function,
        version="$LATEST",
        number=0,
        code=artifact,
        runtime="python3.11",
        handler="a.b",
        role="r",
    )


def _record(name: str) -> dict:
    now = time.time()
    return {
        "kind": "invocation",
        "request_id": "live-1",
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


async def _connect(path: str, cookie: bytes | None) -> tuple[WebsocketCommunicator, bool]:
    headers = [(b"origin", b"http://127.0.0.1")]
    if cookie:
        headers.append((b"cookie", cookie))
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await communicator.connect()
    return communicator, connected


def test_it_pushes_a_new_point_log_line_and_invocation_to_a_signed_in_browser():
    _function("live-fn")
    cookie = _session_cookie()
    connection = redis.Redis.from_url(settings.REDIS_URL)

    async def scenario():
        communicator, connected = await _connect("/ws/functions/live-fn/", cookie)
        assert connected
        started = time.monotonic()
        await sync_to_async(ingest)(
            connection,
            records=[(f"{int(time.time() * 1000)}-0", _record("live-fn"))],
            logs=[
                (
                    f"{int(time.time() * 1000)}-1",
                    {
                        "function": "live-fn",
                        "group": "/aws/lambda/live-fn",
                        "stream": "2026/11/24/[$LATEST]abc",
                        "request_id": "live-1",
                        "lines": [[int(time.time() * 1000), "hello <script>alert(1)</script>"]],
                    },
                )
            ],
        )
        kinds = {}
        while set(kinds) != {"metrics", "logs", "invocation"}:
            message = await communicator.receive_json_from(timeout=5)
            kinds[message["type"]] = message
        assert time.monotonic() - started < 1.0
        assert kinds["logs"]["lines"][0][1] == "hello <script>alert(1)</script>"
        assert kinds["invocation"]["invocation"]["request_id"] == "live-1"
        assert any(point[1] == "Invocations" and point[2] == 1 for point in kinds["metrics"]["points"])
        await communicator.disconnect()

    asyncio.run(scenario())


def test_it_refuses_websockets_without_a_session_or_for_unknown_functions():
    _function("live-private")
    cookie = _session_cookie("other")

    async def scenario():
        communicator, connected = await _connect("/ws/functions/live-private/", None)
        assert not connected
        communicator, connected = await _connect("/ws/functions/no-such-function/", cookie)
        assert not connected

    asyncio.run(scenario())
