"""The dashboard's pages and forms through Django's test client: who may do what, CSRF, escaping,
search and sort, and the service's own error messages next to the field that caused them."""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils.html import escape

from functions_app.models import LATEST, FailedDelivery, FailedEvent, Function, FunctionVersion, TestEvent
from functions_app.services.functions import function_update_configuration
from metrics_app.models import InvocationRecord, LogEvent, LogGroup, LogStream, MetricPoint
from tests.conftest import HELLO_PY, function_made

pytestmark = pytest.mark.django_db(transaction=True)

SCRIPT = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
TABS = ("code", "test", "monitor", "logs", "invocations", "async", "configuration")
RUNTIME = f"python3.{sys.version_info.minor}"
# What the Configuration tab's General form posts.
SETTINGS = {
    "action": "settings",
    "description": "",
    "runtime": RUNTIME,
    "handler": "lambda_function.handler",
    "memory": "128",
    "timeout": "3",
    "ephemeral": "512",
}


_function = function_made  # the name the dashboard tests (and test_dashboard_triggers) use


def _invocation(function: Function, request_id: str, **fields) -> InvocationRecord:
    started = datetime.now(UTC) - timedelta(seconds=5)
    values = {
        "function_name": function.name,
        "version": LATEST,
        "trigger": "api",
        "outcome": "success",
        "started_at": started,
        "ended_at": started + timedelta(milliseconds=12),
        "duration_ms": 12.0,
        "billed_duration_ms": 12,
        "max_memory_mb": 30,
        **fields,
    }
    return InvocationRecord.objects.create(request_id=request_id, **values)


def _log_line(function: Function, message: str, *, request_id: str = "") -> LogEvent:
    group, _ = LogGroup.objects.get_or_create(name=f"/aws/lambda/{function.name}")
    stream, _ = LogStream.objects.get_or_create(group=group, name="2026/01/01/[$LATEST]0123456789abcdef")
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    return LogEvent.objects.create(
        group=group,
        stream=stream,
        timestamp_ms=now_ms,
        ingestion_ms=now_ms,
        request_id=request_id,
        message=message,
    )


def _client(user=None, **options) -> Client:
    client = Client(**options)
    if user is not None:
        client.force_login(user)
    return client


def _user(username: str, *permissions: str):
    user = get_user_model().objects.create_user(username=username, password="pw-for-tests-1")
    for codename in permissions:
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label="functions_app", codename=codename)
        )
    return user


def _admin():
    return get_user_model().objects.create_superuser(username="admin", password="pw-for-tests-1")


def _pages(name: str, request_id: str) -> list[str]:
    return [
        "/",
        "/functions/",
        "/functions/?q=hello&sort=errors",
        *(f"/functions/{name}/?tab={tab}" for tab in TABS),
        f"/functions/{name}/invocations/{request_id}",
        f"/functions/{name}/code.zip",
    ]


def _actions(name: str) -> list[tuple[str, dict]]:
    """Every form and script POST the dashboard makes to change something."""
    action = f"/functions/{name}/action"
    return [
        ("/functions/new", {"name": "intruder", "runtime": RUNTIME, "memory": "128", "timeout": "3"}),
        (action, {"action": "deploy", "file:lambda_function.py": "def handler(e, c):\n    return 'owned'\n"}),
        (action, {"action": "upload"}),
        (action, {"action": "publish", "description": "v1"}),
        (action, {**SETTINGS, "description": "changed", "memory": "256"}),
        (action, {"action": "environment", "environment": "A=1"}),
        (action, {"action": "reserved", "reserved": "5"}),
        (action, {"action": "provisioned", "qualifier": "1", "provisioned": "1"}),
        (action, {"action": "async", "retries": "0"}),
        (action, {"action": "alias", "alias": "live", "version": "$LATEST"}),
        (action, {"action": "alias-delete", "alias": "live"}),
        (action, {"action": "tags", "tags": "team=x"}),
        (action, {"action": "delete", "confirm": name}),
        (f"/functions/{name}/test", {"event": "{}"}),
        (f"/functions/{name}/test", {"event": "{}", "mode": "async"}),
        (f"/functions/{name}/test-events", {"name": "saved", "event": "{}"}),
        (f"/functions/{name}/test-events/delete", {"name": "kept"}),
    ]


def _assert_nothing_changed(function: Function) -> None:
    assert list(Function.objects.values_list("name", flat=True)) == [function.name]
    latest = FunctionVersion.objects.get(function=function, version=LATEST)
    assert latest.description == ""
    assert latest.memory_size == 128
    assert latest.environment == {}
    assert FunctionVersion.objects.filter(function=function).count() == 1
    function.refresh_from_db()
    assert function.tags == {}
    assert function.reserved_concurrency is None
    assert not function.aliases.exists()
    assert not function.event_invoke_configs.exists()
    assert list(TestEvent.objects.values_list("name", flat=True)) == ["kept"]


def test_it_sends_an_anonymous_visitor_to_sign_in_from_every_page_and_action():
    function = _function("hello")
    _invocation(function, "req-1")
    TestEvent.objects.create(function=function, name="kept", payload="{}")
    client = Client()

    for path in _pages("hello", "req-1"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith("/login/?next="), path
    for path, data in _actions("hello"):
        response = client.post(path, data)
        assert response.status_code == 302, path
        assert response["Location"].startswith("/login/?next="), path

    _assert_nothing_changed(function)


def test_it_forbids_every_page_and_action_to_a_user_without_rights():
    function = _function("hello")
    _invocation(function, "req-1")
    TestEvent.objects.create(function=function, name="kept", payload="{}")
    client = _client(_user("outsider"))

    for path in [*_pages("hello", "req-1"), "/functions/new"]:
        assert client.get(path).status_code == 403, path
    for path, data in _actions("hello"):
        assert client.post(path, data).status_code == 403, path

    _assert_nothing_changed(function)


def test_it_shows_a_viewer_every_page_but_forbids_every_action():
    function = _function("hello")
    _invocation(function, "req-1")
    TestEvent.objects.create(function=function, name="kept", payload="{}")
    client = _client(_user("viewer", "view_function"))

    for path in _pages("hello", "req-1"):
        assert client.get(path).status_code == 200, path
    assert client.get("/functions/hello/code.zip").content.startswith(b"PK")
    assert client.get("/functions/new").status_code == 403
    for path, data in _actions("hello"):
        assert client.post(path, data).status_code == 403, path

    _assert_nothing_changed(function)


def test_it_lets_an_editor_without_superuser_status_change_a_function():
    function = _function("hello")
    client = _client(_user("editor", "view_function", "change_function"))

    response = client.post("/functions/hello/action", {"action": "environment", "environment": "GREETING=hi"})

    assert response.status_code == 302
    assert response["Location"] == "/functions/hello/?tab=configuration"
    assert FunctionVersion.objects.get(function=function, version=LATEST).environment == {"GREETING": "hi"}


def test_it_rejects_dashboard_forms_without_a_csrf_token():
    function = _function("hello")
    client = _client(_admin(), enforce_csrf_checks=True)
    page = client.get("/functions/hello/?tab=configuration")
    token = (
        page.cookies["csrftoken"].value if "csrftoken" in page.cookies else client.cookies["csrftoken"].value
    )

    without = [
        client.post("/functions/hello/action", {**SETTINGS, "description": "changed"}),
        client.post("/functions/new", {"name": "sneaky", "runtime": RUNTIME}),
        client.post("/functions/hello/test-events", {"name": "sneaky", "event": "{}"}),
        client.post("/functions/hello/test-events/delete", {"name": "kept"}),
        client.post("/functions/hello/test", {"event": "{}", "mode": "async"}),
        client.post("/keys/new", {"description": "sneaky"}),
    ]
    assert [response.status_code for response in without] == [403] * len(without)
    assert b"CSRF" in without[0].content
    assert FunctionVersion.objects.get(function=function, version=LATEST).description == ""
    assert not Function.objects.filter(name="sneaky").exists()
    assert not TestEvent.objects.exists()

    form = client.post(
        "/functions/hello/action",
        {**SETTINGS, "description": "changed", "csrfmiddlewaretoken": token},
    )
    script = client.post(
        "/functions/hello/test-events", {"name": "saved", "event": "{}"}, headers={"X-CSRFToken": token}
    )
    assert form.status_code == 302
    assert script.status_code == 200
    assert FunctionVersion.objects.get(function=function, version=LATEST).description == "changed"
    assert list(TestEvent.objects.values_list("name", flat=True)) == ["saved"]


def test_it_renders_what_users_and_functions_wrote_as_text():
    function = _function(
        "hello",
        source=f"# {SCRIPT}\n{HELLO_PY}",
        Description=SCRIPT,
        Environment={"Variables": {"GREETING": SCRIPT}},
    )
    TestEvent.objects.create(function=function, name=SCRIPT, payload=json.dumps({"html": SCRIPT}))
    _log_line(function, f"START {SCRIPT}", request_id="req-1")
    _invocation(
        function,
        "req-1",
        outcome="error",
        error_type=SCRIPT,
        request_payload=SCRIPT,
        response_payload=SCRIPT,
    )
    FailedEvent.objects.create(
        function=function,
        request_id="req-2",
        payload=b"{}",
        accepted_at=datetime.now(UTC),
        attempts=1,
        condition=FailedEvent.Condition.RETRIES_EXHAUSTED,
        error_type="Exception",
        error_message=SCRIPT,
    )
    FailedDelivery.objects.create(
        function=function,
        request_id="req-1",
        kind="destination",
        target="http://127.0.0.1:9/",
        body={},
        error=SCRIPT,
    )
    client = _client(_admin())

    pages = {
        "home": "/",
        "list": "/functions/",
        "search": f"/functions/?q={SCRIPT}",
        "invocation": "/functions/hello/invocations/req-1",
        **{
            tab: f"/functions/hello/?tab={tab}"
            for tab in ("code", "test", "logs", "invocations", "async", "configuration")
        },
    }
    for where, path in pages.items():
        html = client.get(path).content.decode()
        assert ESCAPED in html, where
        assert "<script>alert(1)" not in html, where


def _listed(client: Client, query: str = "") -> list[str]:
    html = client.get(f"/functions/{query}").content.decode()
    return re.findall(r'<td><a href="/functions/([\w-]+)/">', html)


def _metric(function: str, metric: str, total: float, *, minutes_ago: int = 5) -> None:
    at = (datetime.now(UTC) - timedelta(minutes=minutes_ago)).replace(second=0, microsecond=0)
    MetricPoint.objects.create(
        period=60, timestamp=at, metric=metric, function_name=function, sum=total, count=total
    )


def test_it_searches_functions_by_name_and_description():
    _function("billing-export", Description="Nightly CSV for finance")
    _function("thumbnails", Description="Resize uploaded images")
    _function("mailer")
    client = _client(_user("viewer", "view_function"))

    assert _listed(client) == ["billing-export", "mailer", "thumbnails"]
    assert _listed(client, "?q=RESIZE") == ["thumbnails"]
    assert _listed(client, "?q=bill") == ["billing-export"]
    assert _listed(client, "?q=nothing-like-it") == []
    assert (
        "No function matches “nothing-like-it”."
        in client.get("/functions/?q=nothing-like-it").content.decode()
    )


def test_it_sorts_functions_by_name_last_modified_invocations_and_error_rate():
    for name in ("alpha", "bravo", "charlie"):
        _function(name)
    function_update_configuration(
        function=Function.objects.get(name="bravo"), fields={"Description": "newer"}
    )
    _metric("alpha", "Invocations", 10)
    _metric("charlie", "Invocations", 40)
    _metric("charlie", "Errors", 1)
    _metric("alpha", "Errors", 5)
    _metric("bravo", "Invocations", 99, minutes_ago=120)  # older than the last hour: not counted
    client = _client(_user("viewer", "view_function"))

    assert _listed(client, "?sort=name") == ["alpha", "bravo", "charlie"]
    assert _listed(client, "?sort=modified")[0] == "bravo"
    assert _listed(client, "?sort=invocations") == ["charlie", "alpha", "bravo"]
    assert _listed(client, "?sort=errors") == ["alpha", "charlie", "bravo"]
    html = client.get("/functions/?sort=errors").content.decode()
    assert "50.0%" in html and "2.5%" in html


def test_it_shows_the_services_message_next_to_the_field_that_caused_it():
    client = _client(_admin())

    response = client.post(
        "/functions/new",
        {"name": "small", "runtime": RUNTIME, "memory": "64", "timeout": "3", "source": "blueprint"},
    )

    assert response.status_code == 400
    html = response.content.decode()
    message = (
        "1 validation error detected: Value '64' at 'memorySize' failed to satisfy constraint: "
        "Member must have value greater than or equal to 128"
    )
    field_error = f'<p class="error field-error">{escape(message)}</p>'
    assert field_error in html
    # Right after the memory and timeout inputs, which keep what was typed.
    assert html.index('name="memory"') < html.index(field_error) < html.index("<legend>Code</legend>")
    assert 'name="memory" type="number" min="128" max="10240" value="64"' in html
    assert not Function.objects.filter(name="small").exists()


def test_it_shows_a_duplicate_name_next_to_the_name_field():
    _function("taken")
    client = _client(_admin())

    response = client.post(
        "/functions/new", {"name": "taken", "runtime": RUNTIME, "memory": "128", "timeout": "3"}
    )

    assert response.status_code == 400
    html = response.content.decode()
    field_error = '<p class="error field-error">Function already exist: taken</p>'
    assert html.index('name="name"') < html.index(field_error) < html.index('name="runtime"')


def test_it_shows_a_configuration_error_on_the_form_that_caused_it():
    function = _function("hello")
    client = _client(_admin())

    memory = client.post("/functions/hello/action", {**SETTINGS, "memory": "64"})
    environment = client.post(
        "/functions/hello/action", {"action": "environment", "environment": "no equals"}
    )

    assert memory.status_code == 400
    assert "Member must have value greater than or equal to 128" in memory.content.decode()
    assert environment.status_code == 400
    assert "Environment variables, line 1: write KEY=value." in environment.content.decode()
    assert FunctionVersion.objects.get(function=function, version=LATEST).memory_size == 128


def test_it_creates_a_function_from_the_blueprint_and_opens_it():
    client = _client(_admin())

    response = client.post(
        "/functions/new",
        {"name": "fresh", "runtime": RUNTIME, "memory": "128", "timeout": "3", "source": "blueprint"},
    )

    assert response.status_code == 302
    assert response["Location"] == "/functions/fresh/"
    code = client.get(response["Location"]).content.decode()
    assert "Created fresh." in code
    assert "Saying hello to {name}" in code


def test_it_answers_an_unknown_action_with_400_as_plain_text():
    _function("hello")
    client = _client(_admin())

    response = client.post("/functions/hello/action", {"action": SCRIPT})

    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/plain")
    assert response.content.decode() == f"Unknown action {SCRIPT!r}."


def test_it_explains_why_a_test_event_cannot_be_saved():
    function = _function("hello")
    client = _client(_admin())

    not_json = client.post("/functions/hello/test-events", {"name": "broken", "event": "{nope"})
    no_name = client.post("/functions/hello/test-events", {"name": " ", "event": "{}"})

    assert not_json.status_code == 400
    assert not_json.json()["error"].startswith("The event is not valid JSON:")
    assert no_name.status_code == 400
    assert no_name.json()["error"] == "Give the test event a name of at most 100 characters."
    assert not function.test_events.exists()


def test_it_sends_an_unknown_invocation_back_to_the_invocations_tab():
    _function("hello")
    client = _client(_user("viewer", "view_function"))

    response = client.get("/functions/hello/invocations/no-such-request", follow=True)

    assert response.redirect_chain == [("/functions/hello/?tab=invocations", 302)]
    assert "No invocation no-such-request in the history." in response.content.decode()


def test_it_lets_a_user_revoke_only_their_own_access_keys():
    from functions_app.models import AccessKey
    from functions_app.services.access_keys import access_key_create

    owner = _user("owner")
    key, _ = access_key_create(user=owner, description="owner's laptop")
    client = _client(_user("someone-else"))

    assert client.post(f"/keys/{key.access_key_id}/revoke").status_code == 404
    assert "owner&#x27;s laptop" not in client.get("/keys/").content.decode()
    assert AccessKey.objects.get(pk=key.pk).revoked_at is None


def test_it_checks_permissions_on_the_json_api_and_websockets_for_dashboard_sessions():
    import asyncio

    from channels.testing import WebsocketCommunicator

    from dashboard.asgi import application

    user = get_user_model().objects.create_user(username="no-rights-api", password="pw-for-tests")
    client = Client()
    client.force_login(user)
    assert client.get("/api/v1/metrics").status_code == 403
    assert (
        client.post(
            "/api/v1/functions/anything/async-events/redrive", {}, content_type="application/json"
        ).status_code
        == 403
    )
    assert client.post("/keys/new", {"description": "x"}).status_code == 403
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()

    async def connect():
        communicator = WebsocketCommunicator(
            application, "/ws/account/", headers=[(b"origin", b"http://127.0.0.1"), (b"cookie", cookie)]
        )
        connected, _ = await communicator.connect()
        return connected

    assert asyncio.run(connect()) is False
