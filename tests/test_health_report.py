"""/healthz tells the truth about hosts: ok, degraded (200) or error (503), and why in words."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from dashboard.health import platform_status, platform_verdict
from functions_app.redis_client import redis_client
from functions_app.runtime import direct
from functions_app.triggers.presence import alive_clear, alive_mark


@pytest.fixture
def connection():
    client = redis_client()
    names: list[str] = []
    yield client, names
    for name in names:
        direct.tokens_forget(client, worker=name)
        alive_clear(client, "consumer", name)


def _worker(connection, names, *, database: str = "ok", faults: int = 0) -> str:
    """A host's heartbeat, as a host writes it."""
    name = f"health-test-{uuid.uuid4().hex[:8]}"
    names.append(name)
    status = {"role": "worker", "at": time.time(), "database": database, "faults": faults}
    if faults:
        status["last_fault"] = "could not fetch code artifact ab12: ConnectionError: storage is down"
    direct.alive_refresh(connection, worker=name, status=json.dumps(status))
    return name


def _host(status: dict, name: str) -> dict:
    return next(host for host in status["hosts"] if host["name"] == name)


def test_it_reports_a_worker_that_stopped_reporting_until_the_grace_period_ends(connection):
    client, names = connection
    name = _worker(client, names)
    assert _host(platform_status(), name)["database"] == "ok"
    client.delete(direct.ALIVE_PREFIX + name)  # SIGKILLed: its alive key lapses

    status = platform_status()
    gone = [entry for entry in status["seen"] if entry["name"] == name]
    assert gone and gone[0]["alive"] is False and gone[0]["role"] == "worker"
    assert any(f"worker {name} stopped reporting" in problem for problem in platform_verdict(status)[1])

    stale = json.dumps({"role": "worker", "at": time.time() - 3600})
    client.hset(direct.HOSTS_SEEN, f"worker:{name}", stale)  # gone longer than the grace period
    assert name not in [entry["name"] for entry in platform_status()["seen"]]


def test_a_clean_stop_is_not_reported_as_a_lost_host(connection):
    client, names = connection
    name = _worker(client, names)
    direct.tokens_forget(client, worker=name)
    alive_mark(client, "consumer", name)
    alive_clear(client, "consumer", name)

    seen = [entry["name"] for entry in platform_status()["seen"]]
    assert name not in seen


def test_a_worker_without_its_database_or_with_platform_faults_makes_the_platform_degraded(connection):
    client, names = connection
    _worker(client, names)  # one healthy host keeps invocations running
    dbless = _worker(client, names, database="OperationalError: connection timed out")
    faulty = _worker(client, names, faults=2)
    alive_mark(client, "consumer", names[0])

    verdict, problems = platform_verdict(platform_status())
    assert verdict == "degraded", problems
    assert any(f"worker {dbless} cannot reach the database" in problem for problem in problems)
    assert any(
        f"worker {faulty}: 2 platform fault(s)" in problem and "storage is down" in problem
        for problem in problems
    )


def test_no_worker_able_to_run_invocations_is_an_error():
    dbless = {"name": "w1", "database": "OperationalError: timeout", "faults": 0, "last_fault": ""}
    verdict, problems = platform_verdict({"hosts": [dbless], "seen": [], "consumers": 1})
    assert verdict == "error"
    assert problems[0] == "no worker host is alive and able to run invocations"
    assert platform_verdict({"hosts": [], "seen": [], "consumers": 1})[0] == "error"
    healthy = {**dbless, "database": "ok"}
    assert platform_verdict({"hosts": [healthy], "seen": [], "consumers": 1}) == ("ok", [])
    assert platform_verdict({"hosts": [healthy], "seen": [], "consumers": 0})[0] == "degraded"


@pytest.mark.django_db
def test_the_dashboard_banner_names_a_worker_with_platform_faults_or_no_database(connection):
    from django.contrib.auth import get_user_model
    from django.test import RequestFactory

    from dashboard.context import platform

    client, names = connection
    request = RequestFactory().get("/")
    request.user = get_user_model().objects.create_user("banner-viewer", password="x")
    faulty = _worker(client, names, faults=1)
    assert platform(request)["platform_banner"] == (
        f"Worker {faulty} could not run invocations: could not fetch code artifact ab12: "
        "ConnectionError: storage is down"
    )
    direct.tokens_forget(client, worker=faulty)
    dbless = _worker(client, names, database="OperationalError: connection timed out")
    assert (
        platform(request)["platform_banner"]
        == f"Worker {dbless} cannot reach the database and takes no work."
    )
