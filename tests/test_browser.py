"""The dashboard in a real browser (Debian's Chromium) against a real server, workers and consumer:
create, edit, deploy and test a function, watch it live, follow one invocation, redrive a
dead-lettered event and manage access keys."""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.conftest import ROOT, aws_client, make_zip

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("stratus_workers", "stratus_consumer"),
]

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
# The README's screenshots are these tests' own; `STRATUS_UPDATE_SCREENSHOTS=1 make test`
# refreshes them in docs/, otherwise they go to a temporary directory.
SCREENSHOTS = (
    ROOT / "docs" / "screenshots"
    if os.environ.get("STRATUS_UPDATE_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "stratus-screenshots"
)
PASSWORD = "a-long-browser-password"

DEPLOYED_PY = """import json


def handler(event, context):
    name = event.get("name", "world")
    print(f"deployed-v2 greets {name}")
    return {"version": 2, "greeting": f"Hi, {name}!"}
"""

MARKER_PY = """def handler(event, context):
    print("marker:", event["marker"])
    return {"marker": event["marker"]}
"""

# True once the bars Plotly has drawn (its calculated data, not just what it was given) add up
# to the expected total on each chart.
BARS_DRAWN = """expected => Object.entries(expected).every(([metric, total]) =>
  (document.querySelector(`.chart[data-metric=${metric}]`).calcdata || [[]])[0]
    .reduce((sum, bar) => sum + (bar.s || 0), 0) === total)"""

FAIL_PY = "def handler(event, context):\n    raise RuntimeError('not fixed yet')\n"
FIXED_PY = "def handler(event, context):\n    return {'fixed': event['n']}\n"


@pytest.fixture(scope="module")
def browser():
    # Playwright's sync API keeps an event loop running in this thread; Django would then refuse
    # the tests' own (synchronous) database calls unless told that this is deliberate.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()


@pytest.fixture
def page(browser: Browser, live_server_url):
    """A fresh browser session, signed in as a superuser through the real /login/ form."""
    get_user_model().objects.create_superuser(username="ada", email="ada@example.com", password=PASSWORD)
    context = browser.new_context(base_url=live_server_url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto("/functions/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/functions/$"))
    page.fill("input[name=username]", "ada")
    page.fill("input[name=password]", PASSWORD)
    page.click("button:text('Sign in')")
    expect(page.locator("h1")).to_have_text("Functions")
    yield page
    context.close()


def _tab(page: Page, name: str) -> None:
    page.locator("nav.tabs").get_by_role("link", name=name, exact=True).click()
    expect(page.locator(f"#tab-{name.lower()}")).to_be_visible()


def _live(page: Page) -> None:
    """Wait until the page's websocket is connected, so nothing published after this is missed."""
    expect(page.locator("body")).to_have_attribute("data-live", "connected")


def _screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


def _marker_function(create_function, name: str) -> None:
    create_function(name, Code={"ZipFile": make_zip({"lambda_function.py": MARKER_PY})})


@pytest.mark.slow
def test_it_creates_a_function_from_the_blueprint_edits_deploys_and_tests_it(page: Page):
    page.get_by_role("link", name="Functions", exact=True).click()
    page.get_by_role("link", name="Create function").click()
    page.fill("input[name=name]", "greeter")
    page.click("button:text('Create function')")

    expect(page).to_have_url(re.compile(r"/functions/greeter/$"))
    expect(page.locator(".flash")).to_have_text("Created greeter.")
    expect(page.locator(".CodeMirror")).to_contain_text("Saying hello to")

    page.evaluate("source => document.querySelector('textarea.code').editor.setValue(source)", DEPLOYED_PY)
    page.click("#deploy")
    expect(page.locator(".flash")).to_have_text("Deployed to $LATEST.")
    assert "deployed-v2 greets" in page.evaluate("document.querySelector('textarea.code').editor.getValue()")

    _tab(page, "Test")
    page.click("#invoke-sync")
    expect(page.locator("#result-status")).to_have_text("200 · Succeeded", timeout=30_000)
    assert json.loads(page.inner_text("#result-payload")) == {"version": 2, "greeting": "Hi, world!"}

    page.fill("#event-name", "ada")
    page.fill("#event-json", '{"name": "Ada"}')
    page.click("#save-event")
    expect(page.locator("#saved-events")).to_have_value("ada")
    page.reload()
    page.select_option("#saved-events", "ada")
    expect(page.locator("#event-json")).to_have_value('{"name": "Ada"}')
    expect(page.locator("#event-name")).to_have_value("ada")
    page.click("#invoke-sync")

    expect(page.locator("#result-status")).to_have_text("200 · Succeeded", timeout=30_000)
    assert json.loads(page.inner_text("#result-payload")) == {"version": 2, "greeting": "Hi, Ada!"}
    request_id = page.inner_text("#result-request")
    expect(page.locator("#result-duration")).to_have_text(re.compile(r"^\d+\.\d{2} ms$"))
    expect(page.locator("#result-billed")).to_have_text(re.compile(r"^[1-9]\d* ms$"))
    expect(page.locator("#result-memory")).to_have_text(re.compile(r"^[1-9]\d* of 128 MB$"))
    expect(page.locator("#result-start")).to_have_text(re.compile(r"^(warm|cold \(init \d+\.\d{2} ms\))$"))
    log = page.locator("#result-log")
    expect(log).to_contain_text(f"START RequestId: {request_id}")
    expect(log).to_contain_text("deployed-v2 greets Ada")
    expect(log).to_contain_text(f"REPORT RequestId: {request_id}")
    _screenshot(page, "test.png")


@pytest.mark.slow
def test_it_charts_an_invocation_on_the_monitor_tab_within_seconds(
    page: Page, create_function, lambda_client
):
    _marker_function(create_function, "monitored")
    page.goto("/functions/monitored/?tab=monitor")
    expect(page.locator("[data-live-charts]")).to_have_attribute("data-loaded", "true")
    _live(page)
    chart = page.locator(".chart[data-metric=Invocations]")
    assert chart.get_attribute("data-points") == "0"
    assert chart.get_attribute("data-live") is None

    invoked = time.monotonic()
    lambda_client.invoke(FunctionName="monitored", Payload=b'{"marker": "charted"}')
    page.wait_for_function(
        "document.querySelector('.chart[data-metric=Invocations]').dataset.live >= 1", timeout=15_000
    )

    assert time.monotonic() - invoked < 10
    assert chart.get_attribute("data-points") == "1"
    expect(chart.locator(".main-svg").first).to_be_visible()
    page.wait_for_function(BARS_DRAWN, arg={"Invocations": 1}, timeout=5_000)

    # More traffic, one run failing: the bars drawn grow (and the README's screenshot shows activity).
    for payload in (b'{"marker": "a"}', b'{"marker": "b"}', b"{}", b'{"marker": "c"}'):
        lambda_client.invoke(FunctionName="monitored", Payload=payload)
    page.wait_for_function(BARS_DRAWN, arg={"Invocations": 5, "Errors": 1}, timeout=15_000)
    _screenshot(page, "monitor.png")


@pytest.mark.slow
def test_it_tails_a_new_log_line_live_on_the_logs_tab(page: Page, create_function, lambda_client):
    _marker_function(create_function, "tailed")
    page.goto("/functions/tailed/?tab=logs")
    expect(page.locator("#logs-empty")).to_be_visible()
    _live(page)
    marker = uuid.uuid4().hex

    lambda_client.invoke(FunctionName="tailed", Payload=json.dumps({"marker": marker}).encode())

    expect(page.locator("#log-lines")).to_contain_text(f"marker: {marker}")
    expect(page.locator("#logs-empty")).to_have_count(0)


@pytest.mark.slow
def test_it_opens_an_invocation_from_the_invocations_tab_with_its_timeline_and_logs(
    page: Page, create_function, lambda_client
):
    _marker_function(create_function, "followed")
    marker = uuid.uuid4().hex
    response = lambda_client.invoke(FunctionName="followed", Payload=json.dumps({"marker": marker}).encode())
    request_id = response["ResponseMetadata"]["RequestId"]

    page.goto("/functions/followed/?tab=invocations")
    link = page.get_by_role("link", name=request_id)
    deadline = time.monotonic() + 15
    while not link.count():  # the consumer writes the history a moment after the run
        assert time.monotonic() < deadline, "the invocation never reached the Invocations tab"
        time.sleep(0.3)
        page.reload()
    link.click()

    expect(page.locator("h1")).to_have_text(f"Invocation {request_id}")
    phases = page.locator(".timeline .phase")
    expect(phases.first).to_be_visible()
    assert "phase-invoke" in (phases.last.get_attribute("class") or "")
    expect(page.locator("h2").first).to_contain_text("success")
    logs = page.locator("pre.logs")
    expect(logs).to_contain_text(f"START RequestId: {request_id}")
    expect(logs).to_contain_text(f"marker: {marker}")


@pytest.mark.slow
def test_it_redrives_a_dead_lettered_event_from_the_async_tab(
    page: Page, create_function, lambda_client, webhook
):
    create_function("flaky", Code={"ZipFile": make_zip({"lambda_function.py": FAIL_PY})})
    lambda_client.put_function_event_invoke_config(
        FunctionName="flaky",
        MaximumRetryAttempts=0,
        DestinationConfig={"OnSuccess": {"Destination": webhook.url + "/ok"}},
    )
    response = lambda_client.invoke(FunctionName="flaky", InvocationType="Event", Payload=b'{"n": 7}')
    request_id = response["ResponseMetadata"]["RequestId"]

    page.goto("/functions/flaky/?tab=async")
    row = page.locator(f"#failed-events tr[data-request-id='{request_id}']")
    deadline = time.monotonic() + 20
    while not row.count():
        assert time.monotonic() < deadline, "the event was never dead-lettered"
        time.sleep(0.3)
        page.reload()
    expect(row).to_contain_text("RetriesExhausted")
    expect(row).to_contain_text("not fixed yet")

    lambda_client.update_function_code(
        FunctionName="flaky", ZipFile=make_zip({"lambda_function.py": FIXED_PY})
    )
    row.get_by_role("button", name="Redrive").click()

    ((path, record, _),) = webhook.wait(1)
    assert path == "/ok"
    assert record["requestContext"]["requestId"] == request_id
    assert record["requestContext"]["condition"] == "Success"
    assert record["responsePayload"] == {"fixed": 7}
    page.reload()
    expect(row).to_contain_text("redriven")
    expect(row.get_by_role("button", name="Redrive")).to_have_count(0)


@pytest.mark.slow
def test_it_creates_an_access_key_shows_its_secret_once_and_revokes_it(page: Page, live_server_url):
    page.get_by_role("link", name="Access keys").click()
    page.fill("input[name=description]", "laptop")
    page.click("#create-key")

    key_id = page.inner_text("#new-key-id")
    secret = page.inner_text("#new-key-secret")
    assert len(secret) >= 30
    client = aws_client("lambda", live_server_url, (key_id, secret))
    assert client.list_functions()["Functions"] == []
    page.reload()
    expect(page.locator("#new-key-secret")).to_have_count(0)
    assert secret not in page.content()
    row = page.locator("#keys tr", has_text=key_id)
    expect(row).to_contain_text("laptop")
    expect(row).to_contain_text("active")

    row.get_by_role("button", name="Revoke").click()

    expect(page.locator(".flash")).to_have_text(f"Revoked {key_id}.")
    expect(row).to_contain_text("revoked")
    with pytest.raises(client.exceptions.ClientError) as refused:
        client.list_functions()
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
