"""Capacity by memory: one host runs many environments at once, as many as fit in its
memory budget, within the function's concurrency limits; warm environments are reused
through the direct path.

Each stack here is a stack of its own (its own Redis, database and one host process with a
small ``STRATUS_HOST_MEMORY_MB``), so its budget is the only one in play. The handler
reports when it ran and in which environment, so overlap is measured from the functions'
own clocks rather than from how long the test waited.
"""

from __future__ import annotations

import json
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from botocore.exceptions import ClientError
from django.conf import settings

from bench.stack import ROLE, stratus_stack
from tests.conftest import aws_client, holds_throughout, make_zip, wait_until

SLEEPER_PY = """
import json, time

def handler(event, context):
    started = time.time()
    time.sleep(event.get("sleep", 1.0))
    return {"started": started, "ended": time.time(), "environment": context.log_stream_name}
"""


def _function(stack, runtime: str, name: str, **fields):
    key = (stack["key"]["AccessKeyId"], stack["key"]["SecretAccessKey"])
    lam = aws_client("lambda", stack["url"], key, max_pool_connections=50, read_timeout=120)
    lam.create_function(
        FunctionName=name,
        Runtime=runtime,
        Role=ROLE,
        Handler="lambda_function.handler",
        Code={"ZipFile": make_zip({"lambda_function.py": SLEEPER_PY})},
        MemorySize=128,
        Timeout=30,
        **fields,
    )
    return lam


def _burst(lam, name: str, count: int, *, sleep: float = 1.0) -> list[dict]:
    """``count`` invokes at once; each result is the handler's answer, or the error code."""

    def call(_):
        try:
            response = lam.invoke(FunctionName=name, Payload=json.dumps({"sleep": sleep}).encode())
        except ClientError as error:
            return {"error": error.response["Error"]["Code"]}
        return json.loads(response["Payload"].read())

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(call, range(count)))


def _most_at_once(runs: list[dict]) -> int:
    """The largest number of runs in progress at one instant."""
    edges = sorted([(run["started"], 1) for run in runs] + [(run["ended"], -1) for run in runs])
    running = most = 0
    for _, step in edges:
        running += step
        most = max(most, running)
    return most


@pytest.mark.slow
def test_a_burst_gets_environments_up_to_the_memory_budget_and_the_rest_wait_for_one(python_runtime):
    with stratus_stack(STRATUS_HOST_MEMORY_MB="1024") as stack:  # room for eight of 128 MB
        lam = _function(stack, python_runtime, "burst")
        runs = _burst(lam, "burst", 12)
        assert all("error" not in run for run in runs), runs
        # Eight ran side by side: more than one process's worth, and no more than fit.
        assert _most_at_once(runs) == 8
        environments = {run["environment"] for run in runs}
        assert len(environments) == 8

        # The next burst finds them warm: eight invocations, the same eight environments,
        # each sent straight to the host that holds it.
        again = _burst(lam, "burst", 8, sleep=0.5)
        assert {run["environment"] for run in again} == environments
        assert _most_at_once(again) == 8
        connection = redis.Redis.from_url(stack["redis_url"])
        assert connection.llen("stratus:warm:burst:$LATEST") == 8  # one token per idle environment

        # /healthz shows the host's budget and what its environments hold.
        def host() -> dict | None:
            with urllib.request.urlopen(f"{stack['url']}/healthz", timeout=10) as response:
                hosts = json.loads(response.read())["workers"]["hosts"]
            return hosts[0] if hosts and hosts[0]["environments"] == 8 and not hosts[0]["busy"] else None

        reported = wait_until(host, timeout=30, what="the host reporting its eight idle environments")
        assert reported["memory_mb"] == 1024
        assert reported["memory_used_mb"] == 1024


@pytest.mark.slow
def test_a_burst_beyond_reserved_concurrency_is_throttled_and_the_rest_run_at_once(python_runtime):
    with stratus_stack(STRATUS_HOST_MEMORY_MB="2048") as stack:
        lam = _function(stack, python_runtime, "reserved")
        lam.put_function_concurrency(FunctionName="reserved", ReservedConcurrentExecutions=3)
        runs = _burst(lam, "reserved", 8, sleep=3.0)
        throttled = [run for run in runs if "error" in run]
        ran = [run for run in runs if "error" not in run]
        assert {run["error"] for run in throttled} == {"TooManyRequestsException"}
        assert len(ran) >= 3
        assert _most_at_once(ran) <= 3


@pytest.mark.slow
def test_a_function_larger_than_the_host_fails_with_a_clear_error(python_runtime):
    with stratus_stack(STRATUS_HOST_MEMORY_MB="256") as stack:
        lam = _function(stack, python_runtime, "big")
        lam.update_function_configuration(FunctionName="big", MemorySize=512)
        lam.get_waiter("function_updated_v2").wait(FunctionName="big")
        response = lam.invoke(FunctionName="big", Payload=b"{}")
        assert response["FunctionError"] == "Unhandled"
        body = json.loads(response["Payload"].read())
        assert body["errorType"] == "Stratus.NoCapacity"
        assert "STRATUS_HOST_MEMORY_MB" in body["errorMessage"]


@pytest.mark.django_db(transaction=True)
def test_the_overview_shows_operators_each_hosts_capacity(client, stratus_workers):
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_superuser("operator", password="correct horse battery")
    client.login(username="operator", password="correct horse battery")
    page = wait_until(
        lambda: (body := client.get("/").content.decode()).count(" MB</td>") >= 2 and body,
        timeout=30,
        what="both session hosts on the overview",
    )
    assert "<h2>Hosts</h2>" in page


def test_a_host_forks_no_copy_of_itself(stratus_workers):
    """A host runs many threads that start subprocesses; a fork of it that never execs (RQ's
    scheduler process did) holds their exec-status pipes open, and the thread starting a
    subprocess at that moment waited forever: invocations hung on the PostgreSQL CI run."""
    from pathlib import Path

    def own_copies(pid: int) -> list[int]:
        copies = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                command = (entry / "cmdline").read_bytes()
            except (OSError, ValueError, IndexError):
                continue
            if parent == pid and b"stratus_worker" in command:
                copies.append(int(entry.name))
        return copies

    connection = redis.Redis.from_url(settings.REDIS_URL)
    # A host holds the event queue's scheduler lock: RQ's scheduler forked as it took it.
    wait_until(
        lambda: connection.exists("rq:scheduler-lock:async"), timeout=30, what="a scheduler taking its lock"
    )
    holds_throughout(
        lambda: all(own_copies(host.pid) == [] for host in stratus_workers),
        seconds=2,
        what="no host having a forked copy of itself",
    )


@pytest.mark.slow
def test_a_cold_start_waiting_for_memory_takes_the_first_environment_to_come_free(python_runtime):
    """Two async events fill a two-environment host; a sync invoke then waits inside the host
    for memory, and gets the first environment that comes free (warm) at once: it used to
    sleep out a 60 s wait because nothing woke it when an environment went back idle."""
    with stratus_stack(STRATUS_HOST_MEMORY_MB="256") as stack:  # room for two of 128 MB
        lam = _function(stack, python_runtime, "full")
        connection = redis.Redis.from_url(stack["redis_url"])
        for _ in range(2):
            lam.invoke(FunctionName="full", InvocationType="Event", Payload=json.dumps({"sleep": 3}).encode())
        wait_until(
            lambda: connection.zcard("stratus:concurrency:function:full") == 2,
            timeout=60,
            what="both events running",
        )
        started = time.monotonic()
        response = lam.invoke(FunctionName="full", Payload=json.dumps({"sleep": 0}).encode())
        waited = time.monotonic() - started
        assert "FunctionError" not in response, response["Payload"].read()
        assert waited < 15, f"the invoke waited {waited:.1f} s for an environment that came free after ~3 s"
