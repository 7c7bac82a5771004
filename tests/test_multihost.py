"""Stratus across three hosts that share only Redis and PostgreSQL.

``tests/multihost.py`` builds the machines: an API host (``STRATUS_ROLE=api``) and two worker
hosts (``STRATUS_ROLE=worker``), each a network namespace on a bridge running
``manage.py runstratus`` with a data dir of its own, and a private Redis and PostgreSQL in the
root namespace. The test process is a client on that network (boto3 against the API host) and
reads the invocation history straight from PostgreSQL.

The tests run in order and share the cluster:

1. a function runs on both worker hosts;
2. SIGKILLing every process of one worker host under load loses no accepted event, and
   synchronous callers go on being served by the other host (a call in flight on the dead
   host may fail, with ``ServiceException``, within 15 s);
3. a 20 s database cut on one worker host loses no event sent during it;
4. a Redis restart (empty, same address) heals by itself: last, as it wipes every queue.

A failed step leaves the next ones a cluster to work with: a worker host it left dead is
started again. On failure, the message says what the history and the API saw, pytest shows
the tails of every host's log, and the logs are kept (the path is printed).
"""

from __future__ import annotations

import json
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from tests.conftest import aws_client, lambda_role, make_zip, signed_get, wait_until
from tests.multihost import API_URL, HOSTS, Cluster, host_of, missing_prerequisites, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

WORKERS = ("str-w1", "str-w2")
FUNCTION = "multihost-echo"
HANDLER = """
import time


def handler(event, context):
    time.sleep(event.get("sleep", 0))
    print("ran " + str(event.get("id")))
    return {"id": event.get("id"), "requestId": context.aws_request_id}
"""
# A call in flight on a host that dies must fail within this long (README: the host's alive
# key lapses within 5 s and its callers get ServiceException).
DEAD_HOST_ANSWER_SECONDS = 15
# How long an accepted event may take to show in the history once the load stops
# (redelivery from a dead host takes about 10 s; retries after platform faults back off).
EVENTS_RUN_SECONDS = 120
# How long the client waits for an answer: well past DEAD_HOST_ANSWER_SECONDS (a longer call
# fails the test anyway), long enough to see how a slow call ends (a host waits up to 60 s for
# memory).
READ_TIMEOUT = 75
# A worker host that cannot reach the database says so in /healthz within this long (it checks
# every 2 s; a connection attempt gives up after 5 s).
DB_LOSS_REPORT_SECONDS = 12


# ---- calls -------------------------------------------------------------------------------


@dataclass
class Call:
    """One synchronous invoke as the caller saw it (monotonic times)."""

    id: str
    started: float
    ended: float = 0.0
    ok: bool = False
    code: str = ""
    message: str = ""
    request_id: str = ""

    @property
    def seconds(self) -> float:
        return self.ended - self.started

    def __str__(self) -> str:
        return self.describe()

    def describe(self, since: float | None = None) -> str:
        """The call, its duration and outcome; with ``since``, when it started relative to it."""
        outcome = "ok" if self.ok else f"{self.code}: {self.message[:160]}"
        at = f" started at {self.started - since:+.1f}s" if since is not None else ""
        return f"{self.request_id or self.id}{at} took {self.seconds:.1f}s {outcome}"


@dataclass
class Sent:
    """One Event invoke: accepted (202 and a request id) or not."""

    id: str
    at: float
    request_id: str = ""
    error: str = ""


def invoke(lam, *, sleep: float = 0.0) -> Call:
    call = Call(id=uuid.uuid4().hex, started=time.monotonic())
    try:
        response = lam.invoke(
            FunctionName=FUNCTION, Payload=json.dumps({"id": call.id, "sleep": sleep}).encode()
        )
        call.request_id = response["ResponseMetadata"]["HTTPHeaders"].get("x-amzn-requestid", "")
        body = response["Payload"].read()
        if response.get("FunctionError"):
            call.code, call.message = (
                f"FunctionError:{response['FunctionError']}",
                body.decode(errors="replace"),
            )
        else:
            echoed = json.loads(body).get("id")
            call.ok = echoed == call.id
            if not call.ok:
                call.code, call.message = "WrongAnswer", body.decode(errors="replace")
    except ClientError as error:
        call.code = error.response.get("Error", {}).get("Code", "ClientError")
        call.message = error.response.get("Error", {}).get("Message", str(error))
        call.request_id = error.response.get("ResponseMetadata", {}).get("RequestId", "")
    except (BotoCoreError, OSError) as error:  # a timeout, a refused connection
        call.code, call.message = type(error).__name__, str(error)
    call.ended = time.monotonic()
    return call


def send_event(lam, *, sleep: float = 0.0) -> Sent:
    sent = Sent(id=uuid.uuid4().hex, at=time.monotonic())
    try:
        response = lam.invoke(
            FunctionName=FUNCTION,
            InvocationType="Event",
            Payload=json.dumps({"id": sent.id, "sleep": sleep}).encode(),
        )
        if response["StatusCode"] == 202:
            sent.request_id = response["ResponseMetadata"]["HTTPHeaders"].get("x-amzn-requestid", "")
        else:
            sent.error = f"status {response['StatusCode']}"
    except ClientError as error:
        sent.error = f"{error.response.get('Error', {}).get('Code')}: {error}"
    except (BotoCoreError, OSError) as error:
        sent.error = f"{type(error).__name__}: {error}"
    return sent


def burst(lam, count: int, *, threads: int = 8, sleep: float = 0.3) -> list[Call]:
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(lambda _: invoke(lam, sleep=sleep), range(count)))


@dataclass
class Load:
    """``callers`` threads invoking synchronously back to back, and one thread sending
    ``rate`` events a second, until ``stop()``."""

    lam: object
    callers: int = 8
    rate: float = 4.0
    sync_sleep: float = 0.3
    event_sleep: float = 1.0
    calls: list[Call] = field(default_factory=list)
    events: list[Sent] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._call, daemon=True) for _ in range(self.callers)]
        if self.rate:
            self._threads.append(threading.Thread(target=self._send, daemon=True))

    def start(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=READ_TIMEOUT + 15)
            assert not thread.is_alive(), f"a load thread did not finish within {READ_TIMEOUT + 15} s of stop"

    def _call(self) -> None:
        while not self._stop.is_set():
            self.calls.append(invoke(self.lam, sleep=self.sync_sleep))

    def _send(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            self.events.append(send_event(self.lam, sleep=self.event_sleep))
            next_at += 1 / self.rate
            self._stop.wait(max(0.0, next_at - time.monotonic()))


# ---- the invocation history, read from PostgreSQL -----------------------------------------


def runs(cluster: Cluster, request_ids: list[str]) -> dict[str, list[tuple[str, str, int]]]:
    """request id -> [(worker, outcome, redelivery)] for every run in the history."""
    found: dict[str, list[tuple[str, str, int]]] = {}
    if not request_ids:
        return found
    for request_id, worker, outcome, redelivery in cluster.sql(
        "SELECT request_id, worker, outcome, redelivery FROM metrics_app_invocationrecord "
        "WHERE function_name = %s AND request_id = ANY(%s)",
        (FUNCTION, list(request_ids)),
    ):
        found.setdefault(request_id, []).append((worker, outcome, redelivery))
    return found


def run_details(cluster: Cluster, request_ids: list[str]) -> list[str]:
    """What the history says about each run of ``request_ids`` (for failure messages)."""
    if not request_ids:
        return []
    rows = cluster.sql(
        "SELECT request_id, worker, outcome, error_type, cold, queue_wait_ms, init_duration_ms, duration_ms, "
        "started_at, ended_at FROM metrics_app_invocationrecord WHERE function_name = %s AND request_id = ANY(%s)",
        (FUNCTION, list(request_ids)),
    )
    found = {row[0] for row in rows}
    details = [
        f"{rid} on {worker}: {outcome} {error_type} cold={cold} queue_wait={queue_wait or 0:.0f}ms "
        f"init={init or 0:.0f}ms duration={duration:.0f}ms, from {started:%H:%M:%S.%f} to {ended:%H:%M:%S.%f} "
        f"({(ended - started).total_seconds():.1f} s on the host)"
        for rid, worker, outcome, error_type, cold, queue_wait, init, duration, started, ended in rows
    ]
    return details + [f"{rid}: not in the history" for rid in request_ids if rid not in found]


def stream_runs(cluster: Cluster, request_ids: list[str]) -> dict[str, list[tuple[str, str, int]]]:
    """request id -> [(worker, outcome, redelivery)] from the records the hosts appended to
    Redis (what the metrics consumer ingests into the history), for failure messages."""
    import redis

    from functions_app.runtime.records import RECORDS_STREAM

    wanted, found = set(request_ids), {}
    try:
        client = redis.Redis.from_url(cluster.redis_url, socket_timeout=10, socket_connect_timeout=5)
        for _, fields in client.xrange(RECORDS_STREAM):
            record = json.loads(fields[b"r"])
            if record.get("request_id") in wanted:
                found.setdefault(record["request_id"], []).append(
                    (record.get("worker", ""), record.get("outcome", ""), record.get("redelivery", 0))
                )
    except (redis.RedisError, ValueError, KeyError):
        pass  # diagnostics only
    return found


def hosts_that_ran(history: dict[str, list[tuple[str, str, int]]]) -> Counter:
    return Counter(
        host_of(worker)
        for entries in history.values()
        for worker, outcome, _ in entries
        if outcome == "success"
    )


def async_events_state(stack) -> str:
    """What the API says about the function's events (for failure messages)."""
    states = {}
    for state in ("queued", "running", "retrying", "failed"):
        try:
            answer = signed_get(
                API_URL, stack.key, f"/api/v1/functions/{FUNCTION}/async-events?state={state}"
            )
            items = answer.get("events", answer.get("items", answer))
            states[state] = len(items) if isinstance(items, list) else items
        except Exception as exc:  # diagnostics only
            states[state] = f"{type(exc).__name__}: {exc}"
    return json.dumps(states)


def wait_events_ran(stack, sent: list[Sent], *, what: str, timeout: float = EVENTS_RUN_SECONDS) -> dict:
    """Every accepted event in ``sent`` has a successful run in the history; returns the history."""
    accepted = [event.request_id for event in sent if event.request_id]
    state: dict = {"missing": accepted}

    def all_ran() -> bool:
        history = runs(stack.cluster, accepted)
        state["history"] = history
        state["missing"] = [
            request_id
            for request_id in accepted
            if not any(outcome == "success" for _, outcome, _ in history.get(request_id, []))
        ]
        return not state["missing"]

    try:
        wait_for(all_ran, timeout=timeout, what=what, every=0.5)
    except AssertionError:
        missing = state["missing"]
        seen = {request_id: state.get("history", {}).get(request_id) for request_id in missing[:10]}
        appended = stream_runs(stack.cluster, missing)
        raise AssertionError(
            f"{what}: {len(missing)} of {len(accepted)} accepted events have no successful run in the "
            f"history after {timeout:.0f} s; first missing (with any runs they had): {seen}; "
            f"{len(appended)} of the missing have records in Redis's stream that the history lacks (ran, "
            f"not ingested), by host: {dict(hosts_that_ran(appended))}; "
            f"the API's view of the function's events: {async_events_state(stack)}; worker log lines "
            f"about rescued events: {stack.cluster.grep_logs('re-queued')}; the metrics consumer's last "
            f"complaints: {stack.cluster.grep_logs('Error: ', limit=3, host='str-api')}"
        ) from None
    return state["history"]


# ---- the cluster -------------------------------------------------------------------------


@dataclass
class Stack:
    cluster: Cluster
    lam: object
    key: tuple[str, str]
    timeline: list[str] = field(default_factory=list)

    def note(self, message: str) -> None:
        line = f"{time.strftime('%H:%M:%S')} {message}"
        self.timeline.append(line)
        print(line, flush=True)


def _client(service: str, key: tuple[str, str]):
    return aws_client(
        service, API_URL, key, connect_timeout=5, read_timeout=READ_TIMEOUT, max_pool_connections=32
    )


def _api_up(cluster: Cluster) -> bool:
    process = cluster.hosts["str-api"].process
    assert process is not None and process.poll() is None, (
        f"the API host's runstratus exited ({process.returncode})"
    )
    return cluster.health(timeout=2).get("database", {}).get("status") == "ok"


@pytest.fixture(scope="module")
def stack(request):
    problem = missing_prerequisites()
    if problem:
        pytest.skip(f"multi-host test: {problem}")
    try:
        cluster = Cluster()
    except RuntimeError as exc:
        pytest.skip(f"multi-host test: {exc}")
    started = time.monotonic()
    try:
        with cluster.explained():
            try:
                cluster.network_up()
            except RuntimeError as exc:
                # The addresses are in use, or this root may not make namespaces (a container).
                if any(
                    why in str(exc)
                    for why in ("is taken on this machine", "not permitted", "Permission denied")
                ):
                    pytest.skip(f"multi-host test: {exc}")
                raise
            cluster.postgres_start()
            cluster.redis_start()
            cluster.host_add(
                "str-api",
                "api",
                STRATUS_BIND=HOSTS["str-api"],
                PORT="8000",
                ALLOWED_HOSTS=f"{HOSTS['str-api']},127.0.0.1,localhost",
                DJANGO_SUPERUSER_USERNAME="admin",
                DJANGO_SUPERUSER_PASSWORD=cluster.admin_password,
                STRATUS_WEB_PROCESSES="2",
            )
            for name in WORKERS:
                cluster.host_add(
                    name,
                    "worker",
                    # 8 environments of the function each: the load of step 2 wants about 12 at
                    # once, which two hosts carry and the survivor of a host's death runs at
                    # its capacity, as it would.
                    STRATUS_HOST_MEMORY_MB="1024",
                    STRATUS_ASYNC_WORKERS="8",
                )
            # The API host migrates the empty database; workers do not, so they start after it.
            cluster.host_start("str-api")
            wait_for(lambda: _api_up(cluster), timeout=180, what=f"the API host answers {API_URL}/healthz")
            for name in WORKERS:
                cluster.host_start(name)
            wait_for(
                lambda: set(WORKERS) <= set(cluster.worker_hosts()),
                timeout=120,
                what="both worker hosts are listed in /healthz",
            )
            output = cluster.host_exec("str-api", "createaccesskey", "tester")
            answer = json.loads(output.strip().splitlines()[-1])
            key = (answer["AccessKeyId"], answer["SecretAccessKey"])
            lam = _client("lambda", key)
            role = lambda_role(iam=_client("iam", key))
            lam.create_function(
                FunctionName=FUNCTION,
                Runtime=f"python3.{sys.version_info.minor}",
                Handler="lambda_function.handler",
                Role=role,
                Code={"ZipFile": make_zip({"lambda_function.py": HANDLER})},
                MemorySize=128,
                Timeout=30,
            )
            lam.get_waiter("function_active_v2").wait(FunctionName=FUNCTION)
            result = Stack(cluster, lam, key)
            result.note(f"cluster up in {time.monotonic() - started:.0f} s: {cluster.worker_hosts()}")
        failures = request.session.testsfailed
        yield result
        if request.session.testsfailed > failures:
            print(f"the hosts' logs are kept in {cluster.logs_keep()}")
    finally:
        cluster.close()


def workers_up(stack) -> None:
    """Both worker hosts running and listed in /healthz: a host a failed step left dead is
    started again (a machine rebooted, same disk), and it joins by itself."""
    cluster = stack.cluster
    for name in WORKERS:
        process = cluster.hosts[name].process
        if process is None or process.poll() is not None:
            cluster.host_start(name)
            stack.note(f"{name} started again")
    wait_for(
        lambda: set(WORKERS) <= set(cluster.worker_hosts()),
        timeout=90,
        what=f"both worker hosts {WORKERS} are listed in /healthz",
    )


# ---- 1. both worker hosts run the function ----------------------------------------------


def test_a_function_runs_on_both_worker_hosts(stack):
    cluster, lam = stack.cluster, stack.lam
    with cluster.explained():
        listed = cluster.worker_hosts()
        assert set(listed) == set(WORKERS), (
            f"/healthz should list exactly the two worker hosts (the API host runs no worker): {listed}"
        )
        calls: list[Call] = []
        deadline = time.monotonic() + 90
        while True:
            batch = burst(lam, 16)
            calls += batch
            failed = [str(call) for call in batch if not call.ok]
            assert not failed, f"synchronous invokes failed on a healthy cluster: {failed}"
            ran = hosts_that_ran(runs(cluster, [call.request_id for call in calls]))
            if set(WORKERS) <= set(ran):
                break
            assert time.monotonic() < deadline, (
                f"after {len(calls)} concurrent invokes over 90 s, the history shows runs only on {dict(ran)}; "
                f"both {WORKERS} should run the function"
            )
        networks = cluster.health().get("workers", {}).get("sandbox_networks")
        stack.note(
            f"step 1: {len(calls)} invokes, history by host: {dict(ran)}; sandbox networks: {networks}"
        )


# ---- 2. a worker host dies under load ----------------------------------------------------


def test_a_worker_host_killed_under_load_loses_no_event_and_sync_calls_go_on(stack):
    try:
        _worker_host_killed_under_load(stack)
    finally:
        # The host comes back (a machine rebooted, same disk): it joins again by itself.
        with stack.cluster.explained():
            workers_up(stack)


def _worker_host_killed_under_load(stack) -> None:
    cluster, lam = stack.cluster, stack.lam
    with cluster.explained():
        load = Load(lam).start()
        try:
            # Kill only once w1 is visibly running this load's events (1 s each, so some are
            # in flight on it when it dies).
            def w1_running_events() -> bool:
                history = runs(cluster, [event.request_id for event in load.events if event.request_id])
                return hosts_that_ran(history)["str-w1"] >= 3

            wait_for(w1_running_events, timeout=60, what="str-w1 runs events of the load", every=0.3)
            killed_at = time.monotonic()
            killed = cluster.host_kill("str-w1")
            stack.note(f"step 2: SIGKILLed {len(killed)} processes of str-w1 under load")
            # The dead host leaves /healthz once its alive key lapses.
            wait_for(
                lambda: "str-w1" not in cluster.worker_hosts(),
                timeout=DEAD_HOST_ANSWER_SECONDS,
                what="the killed host str-w1 leaves /healthz",
            )
            gone_after = time.monotonic() - killed_at

            # And /healthz says what happened: degraded, the dead host's worker stopped reporting.
            def dead_host_reported() -> bool:
                report = cluster.health()
                stopped = [
                    process["name"]
                    for process in report.get("processes", [])
                    if process.get("role") == "worker"
                    and host_of(process["name"]) == "str-w1"
                    and not process.get("alive")
                ]
                return report.get("status") == "degraded" and bool(stopped)

            wait_for(
                dead_host_reported,
                timeout=max(1.0, killed_at + DEAD_HOST_ANSWER_SECONDS - time.monotonic()),
                what=f"/healthz says degraded, with str-w1's worker stopped, {DEAD_HOST_ANSWER_SECONDS} s after the kill",
            )
            # Keep the load on until calls started past the window in which calls on the dead
            # host may fail have come back.
            window_end = killed_at + DEAD_HOST_ANSWER_SECONDS
            wait_until(
                lambda: sum(call.started > window_end for call in load.calls) >= 8,
                timeout=DEAD_HOST_ANSWER_SECONDS + READ_TIMEOUT,
                what="eight synchronous calls started after the kill's window",
                every=0.2,
            )
        finally:
            load.stop()

        stack.note(
            f"step 2: str-w1 left /healthz {gone_after:.1f} s after the kill; {len(load.calls)} sync calls, "
            f"{len(load.events)} events sent"
        )
        refused = [f"{event.id}: {event.error}" for event in load.events if not event.request_id]
        assert not refused, f"the API host refused events while it and Redis were up: {refused[:10]}"

        failed = [call for call in load.calls if not call.ok]
        before_kill = [
            call.describe(killed_at)
            for call in failed
            if call.started < killed_at - 1 and call.ended < killed_at
        ]
        assert not before_kill, f"synchronous calls failed before the kill: {before_kill}"
        slow = [call for call in load.calls if call.seconds > DEAD_HOST_ANSWER_SECONDS]
        assert not slow, (
            f"calls took more than {DEAD_HOST_ANSWER_SECONDS} s (a call on a dead host must fail within "
            f"{DEAD_HOST_ANSWER_SECONDS} s, not hang): {[call.describe(killed_at) for call in slow]}; "
            f"their history: {run_details(cluster, [call.request_id for call in slow if call.request_id])}"
        )
        wrong = [call.describe(killed_at) for call in failed if call.code != "ServiceException"]
        assert not wrong, f"calls failed with something other than ServiceException around the kill: {wrong}"
        late = [
            call.describe(killed_at) for call in failed if call.ended > killed_at + DEAD_HOST_ANSWER_SECONDS
        ]
        assert not late, f"calls failed later than {DEAD_HOST_ANSWER_SECONDS} s after the kill: {late}"
        after = [call for call in load.calls if call.started > killed_at + DEAD_HOST_ANSWER_SECONDS]
        assert len(after) >= 5, f"only {len(after)} synchronous calls started after the kill's window"
        assert all(call.ok for call in after), [call.describe(killed_at) for call in after if not call.ok]
        stack.note(
            f"step 2: {len(failed)} sync calls failed (ServiceException, slowest "
            f"{max((call.seconds for call in failed), default=0):.1f} s); {len(after)} later calls all succeeded"
        )

        history = wait_events_ran(stack, load.events, what="events accepted while str-w1 was killed")
        redelivered = sum(
            1 for entries in history.values() if any(redelivery for _, _, redelivery in entries)
        )
        later = runs(cluster, [call.request_id for call in after])
        stack.note(
            f"step 2: all {len(history)} accepted events ran (by host: {dict(hosts_that_ran(history))}, "
            f"{redelivered} redelivered); sync calls after the kill ran on {dict(hosts_that_ran(later))}"
        )
        assert set(hosts_that_ran(later)) <= {"str-w2"}, (
            f"calls started {DEAD_HOST_ANSWER_SECONDS} s after str-w1 died ran on {dict(hosts_that_ran(later))}"
        )


# ---- 3. one worker host loses the database for 20 s --------------------------------------


def test_a_database_cut_on_one_worker_host_loses_no_event(stack):
    cluster, lam = stack.cluster, stack.lam
    cut_seconds = 20
    with cluster.explained():
        workers_up(stack)
        # When /healthz first said str-w1 cannot reach the database, and how it said it.
        reported: dict = {}
        watching = threading.Event()

        def watch() -> None:
            while not watching.wait(0.5):
                try:
                    for entry in cluster.health(timeout=5).get("workers", {}).get("hosts", []):
                        if host_of(entry["name"]) == "str-w1" and entry.get("database", "ok") != "ok":
                            reported.setdefault("after", time.monotonic() - cut_at)
                            reported.setdefault("says", entry["database"])
                except Exception:  # the report is only watched here; the API host's health is not the point
                    pass

        failures_before = cluster.count_in_log("str-w1", "exception raised while executing")
        cluster.db_cut("str-w1")
        cut_at = time.monotonic()
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        # Four events a second for the length of the cut, no synchronous callers.
        events = Load(lam, callers=0, rate=4.0, event_sleep=0.3).start()
        try:
            stack.note(f"step 3: str-w1 cut from PostgreSQL for {cut_seconds} s")
            wait_until(
                lambda: len(events.events) >= cut_seconds * 4,
                timeout=cut_seconds + READ_TIMEOUT,
                what=f"{cut_seconds * 4} events sent during the cut",
                every=0.2,
            )
        finally:
            events.stop()
            cluster.db_heal("str-w1")
            watching.set()
        sent = events.events
        healed_at = time.monotonic()
        watcher.join(timeout=10)
        failed_on_w1 = cluster.count_in_log("str-w1", "exception raised while executing") - failures_before
        stack.note(
            f"step 3: healed after {healed_at - cut_at:.1f} s; {len(sent)} events sent during the cut; "
            f"{failed_on_w1} event runs failed on str-w1 (RQ job exceptions); /healthz reported its lost "
            f"database: {reported or 'never'}"
        )
        refused = [f"{event.id}: {event.error}" for event in sent if not event.request_id]
        assert not refused, f"the API host refused events during a worker host's database cut: {refused[:10]}"

        history = wait_events_ran(stack, sent, what="events sent while str-w1 had no database")
        stack.note(
            f"step 3: all {len(history)} events ran within {time.monotonic() - healed_at:.0f} s of the heal, "
            f"by host: {dict(hosts_that_ran(history))}"
        )

        # The host that lost its database takes work again: events, which every host's RQ
        # workers wait for in turn. (Synchronous invokes go where warm environments are, and
        # str-w2 has enough for this load; that is affinity, not a host left out.)
        again: list[Sent] = []
        deadline = time.monotonic() + 60
        while True:
            again += [send_event(lam, sleep=0.3) for _ in range(16)]
            ran = hosts_that_ran(wait_events_ran(stack, again, what="events sent after the heal"))
            if ran["str-w1"]:
                break
            assert time.monotonic() < deadline, (
                f"str-w1 ran none of {len(again)} events in the 60 s after its database came back: {dict(ran)}"
            )
        stack.note(f"step 3: after the heal, events ran on {dict(ran)}")

        # And while it had none, it said so (README, "Scaling out": a host that cannot reach the
        # database takes no work, and /healthz says degraded).
        assert reported.get("after", cut_seconds + 1) <= DB_LOSS_REPORT_SECONDS, (
            f"str-w1 could not reach PostgreSQL for {cut_seconds} s, but /healthz "
            + (f"said so only {reported['after']:.1f} s into the cut" if reported else "never said so")
            + f" (expected within {DB_LOSS_REPORT_SECONDS} s); meanwhile {failed_on_w1} event runs failed on "
            f"str-w1 with database errors (it kept taking work); its log lines about the database: "
            f"{cluster.grep_logs('the database', limit=5, host='str-w1')}"
        )


# ---- 4. Redis restarts empty -------------------------------------------------------------


def test_a_redis_restart_heals_by_itself(stack):
    cluster, lam = stack.cluster, stack.lam
    with cluster.explained():
        workers_up(stack)
        before = burst(lam, 8)
        assert all(call.ok for call in before), [str(call) for call in before if not call.ok]

        cluster.redis_kill()
        restarted_at = time.monotonic()
        cluster.redis_start()  # same address and port, no data
        attempts: list[Call] = []

        def one_succeeds() -> bool:
            attempts.append(invoke(lam))
            return attempts[-1].ok

        try:
            wait_for(
                one_succeeds,
                timeout=60,
                what="a synchronous invoke succeeds after the Redis restart",
                every=0.5,
            )
        except AssertionError as error:
            raise AssertionError(
                f"{error}; the last attempts: {[str(call) for call in attempts[-5:]]}"
            ) from None
        healed = time.monotonic() - restarted_at
        stack.note(
            f"step 4: first successful invoke {healed:.1f} s after the Redis restart ({len(attempts)} attempts)"
        )

        wait_for(
            lambda: set(WORKERS) <= set(cluster.worker_hosts()),
            timeout=60,
            what="both worker hosts are listed in /healthz again after the Redis restart",
        )
        after = burst(lam, 16)
        failed = [str(call) for call in after if not call.ok]
        assert not failed, f"synchronous invokes failed after the Redis restart healed: {failed}"
        # The rest of the pipeline healed too: events queue and run, and the history records them.
        events = [send_event(lam) for _ in range(4)]
        refused = [f"{event.id}: {event.error}" for event in events if not event.request_id]
        assert not refused, f"events refused after the Redis restart: {refused}"
        wait_events_ran(stack, events, what="events sent after the Redis restart", timeout=60)
        wait_for(
            lambda: len(runs(cluster, [call.request_id for call in after])) == len(after),
            timeout=60,
            what="the synchronous invokes after the Redis restart are in the history",
        )
        history = runs(cluster, [call.request_id for call in after])
        stack.note(f"step 4: after the restart, sync invokes ran on {dict(hosts_that_ran(history))}")
