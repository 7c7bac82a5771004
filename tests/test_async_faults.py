"""Fault tests for asynchronous invocation: no accepted event is lost when a worker or Redis dies.

Jepsen-style accounting: every request id the API accepted (202) must complete, and each
duplicate run is counted rather than hidden.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import redis
from django.conf import settings

from dashboard.managed_redis import free_port
from tests.conftest import ROOT, _spawn_logged, aws_client, lambda_role, make_zip, records

SLOW_PY = "import time\ndef handler(event, context):\n    time.sleep(0.3)\n    return event\n"


def _completed(request_ids: set[str], function: str, *, source) -> Counter:
    runs = Counter(
        record["request_id"]
        for record in source(kind="invocation", function=function)
        if record["request_id"] in request_ids and record["outcome"] == "success"
    )
    return runs


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_it_completes_every_event_when_a_worker_is_killed_mid_invocation(
    lambda_client, create_function, stratus_workers, tmp_path
):
    create_function("fault-worker", Code={"ZipFile": make_zip({"lambda_function.py": SLOW_PY})}, Timeout=10)
    # One RQ worker each, so the victim has one event in hand when it dies (as a worker
    # process of old did), and the count of duplicate runs below stays meaningful.
    extra = [
        _spawn_logged(
            [sys.executable, "manage.py", "stratus_worker", "--slot", f"k{slot}"],
            tmp_path / f"k{slot}.log",
            STRATUS_ASYNC_WORKERS="1",
        )
        for slot in (1, 2)
    ]
    try:
        time.sleep(1.5)
        accepted = {
            lambda_client.invoke(
                FunctionName="fault-worker", InvocationType="Event", Payload=json.dumps({"n": n}).encode()
            )["ResponseMetadata"]["RequestId"]
            for n in range(50)
        }
        assert len(accepted) == 50
        client = redis.Redis.from_url(settings.REDIS_URL)
        victim = extra[0]
        deadline = time.monotonic() + 20
        # Wait until one of the victim's RQ workers is in the middle of an event, then SIGKILL it.
        while not any(
            client.hget(key, "state") == b"busy"
            for key in client.keys("rq:worker:*")
            if f"-{victim.pid}.rq" in key.decode()
        ):
            assert time.monotonic() < deadline, "the victim worker never picked an event up"
            time.sleep(0.02)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        deadline = time.monotonic() + 60
        while True:
            runs = _completed(accepted, "fault-worker", source=records)
            if set(runs) == accepted:
                break
            assert time.monotonic() < deadline, (
                f"{len(accepted - set(runs))} of 50 accepted events never completed"
            )
            time.sleep(0.5)
        duplicates = sum(count - 1 for count in runs.values())
        print(f"accepted 50, completed 50, duplicate runs {duplicates}")
        assert duplicates <= 2  # at most the event(s) the victim had started
    finally:
        for worker in extra:
            if worker.poll() is None:
                worker.terminate()
                worker.wait(timeout=20)


def _descendant_with(pid: int, text: str) -> int | None:
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid and text.encode() in cmdline:
            return int(entry)
    return None


@pytest.mark.slow
def test_it_loses_no_accepted_event_when_the_managed_redis_restarts_with_fsync_always(tmp_path):
    port = free_port()
    data_dir = tmp_path / "data"
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"REDIS_URL", "DATABASE_URL", "SECRET_KEY"}
    }
    env.update(
        STRATUS_DATA_DIR=str(data_dir),
        PORT=str(port),
        STRATUS_REDIS_FSYNC="always",
        STRATUS_ASYNC_WORKERS="2",
        DJANGO_SUPERUSER_PASSWORD="unused-password",
    )
    stack = subprocess.Popen(
        [sys.executable, "manage.py", "runstratus"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        import urllib.request

        while True:
            try:
                urllib.request.urlopen(f"{url}/healthz", timeout=1)
                break
            except OSError:
                assert stack.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
        key = json.loads(
            subprocess.run(
                [sys.executable, "manage.py", "createaccesskey", "fault"],
                cwd=ROOT,
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
        client = aws_client("lambda", url, (key["AccessKeyId"], key["SecretAccessKey"]))
        iam = aws_client("iam", url, (key["AccessKeyId"], key["SecretAccessKey"]))
        client.create_function(
            FunctionName="fault-redis",
            Runtime=f"python3.{sys.version_info.minor}",
            Role=lambda_role(iam=iam),
            Handler="lambda_function.handler",
            Code={"ZipFile": make_zip({"lambda_function.py": "def handler(e, c):\n    return e\n"})},
        )
        accepted: set[str] = set()
        refused = 0
        stop = threading.Event()

        def load():
            nonlocal refused
            sender = aws_client("lambda", url, (key["AccessKeyId"], key["SecretAccessKey"]))
            n = 0
            while not stop.is_set() and n < 400:
                n += 1
                try:
                    response = sender.invoke(
                        FunctionName="fault-redis",
                        InvocationType="Event",
                        Payload=json.dumps({"n": n}).encode(),
                    )
                    accepted.add(response["ResponseMetadata"]["RequestId"])
                except Exception:
                    refused += 1
                time.sleep(0.01)

        sender = threading.Thread(target=load)
        sender.start()
        time.sleep(2)
        redis_pid = _descendant_with(stack.pid, "redis-server")
        assert redis_pid is not None
        os.kill(redis_pid, signal.SIGKILL)
        time.sleep(3)
        stop.set()
        sender.join()
        assert accepted, "nothing was accepted"
        password = (data_dir / "redis" / "password").read_text().strip()
        redis_port = int((data_dir / "redis" / "port").read_text())
        restarted = redis.Redis(host="127.0.0.1", port=redis_port, password=password)

        def stream_records(**filters):
            found = []
            for _, fields in restarted.xrange("stratus:records"):
                record = json.loads(fields[b"r"])
                if all(record.get(name) == value for name, value in filters.items()):
                    found.append(record)
            return found

        # An event whose attempts met the outage as a platform fault is retried with backoff
        # (1 s doubling): late is not lost, so give that backoff room before calling it lost.
        deadline = time.monotonic() + 180
        while True:
            try:
                done = _completed(accepted, "fault-redis", source=stream_records)
            except redis.RedisError:
                done = Counter()
            if set(done) == accepted:
                break
            assert time.monotonic() < deadline, (
                f"{len(accepted - set(done))} of {len(accepted)} accepted events never completed ({refused} refused)"
            )
            time.sleep(0.5)
        print(f"accepted {len(accepted)}, refused while Redis was down {refused}, all completed")
    finally:
        stack.send_signal(signal.SIGINT)
        try:
            stack.wait(timeout=60)
        except subprocess.TimeoutExpired:
            stack.kill()


@pytest.mark.django_db(transaction=True)
def test_it_requeues_an_event_whose_job_the_queue_lost(create_function, stratus_workers):
    """RQ pops a job id before it records the job as started; a crash in between loses it."""
    from functions_app.runtime import events

    create_function("fault-lost")
    client = redis.Redis.from_url(settings.REDIS_URL)
    message = {
        "request_id": "lost-0001",
        "function_name": "fault-lost",
        "version": "$LATEST",
        "qualifier": None,
        "invoked_arn": "arn:aws:lambda:us-east-1:000000000000:function:fault-lost",
        "payload": b"{}",
        "accepted_at": time.time(),
        "attempt": 2,
        "throttles": 0,
        "redeliveries": 0,
    }
    # Waiting for a retry an hour away, where no worker of this session can take it...
    job_id = events.event_enqueue(client, message, delay_seconds=3600, last_error="boom")
    # ...then lost, as when a worker pops the job and dies before recording it as started.
    assert client.zrem(f"rq:scheduled:{events.ASYNC_QUEUE}", job_id) == 1
    later = time.time() + 3600
    key = events.EVENT_KEY.format(request_id="lost-0001")
    # (Other tests' events may be rescued by these passes too; only this one is checked.)
    events.stranded_events_rescue(client, now=later + 5)
    assert client.hget(key, "redeliveries") == b"0"  # not overdue long enough yet
    events.stranded_events_rescue(client, now=later + 60)
    # Back on the queue with its request id: a worker runs it, counted as a redelivery.
    deadline = time.monotonic() + 20
    while not (runs := records(kind="invocation", request_id="lost-0001")):
        assert time.monotonic() < deadline, "the rescued event never ran"
        time.sleep(0.2)
    assert runs[0]["redeliveries"] == 1 and runs[0]["outcome"] == "success"
