"""A synchronous invoke whose worker dies fails fast and frees the concurrency it held.

Before, the caller waited the function's whole timeout plus a minute, then got a 500 (RQ
refused to cancel the started job), and the lease stayed until it expired. The stack here is
a stack of its own (its own Redis, database and host), so killing its host leaves the
session's hosts alone.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
import redis
from botocore.exceptions import ClientError

from bench.stack import ROLE, stratus_stack
from tests.conftest import aws_client, make_zip, wait_until
from tests.test_make_run import _alive, _cmdline, _descendants

SLEEPER_PY = "import time\n\ndef handler(event, context):\n    time.sleep(60)\n"


def _stack_function(stack, runtime: str, name: str, source: str, **fields):
    """A Lambda client of the stack's administrator, and a function made with it."""
    key = (stack["key"]["AccessKeyId"], stack["key"]["SecretAccessKey"])
    lam = aws_client("lambda", stack["url"], key)
    lam.create_function(
        FunctionName=name,
        Runtime=runtime,
        Role=ROLE,
        Handler="lambda_function.handler",
        Code={"ZipFile": make_zip({"lambda_function.py": source})},
        **fields,
    )
    return key, lam


@pytest.mark.slow
def test_a_sync_invoke_whose_worker_is_killed_fails_within_seconds_and_frees_its_concurrency(python_runtime):
    with stratus_stack(workers=1) as stack:
        _, lam = _stack_function(stack, python_runtime, "sleeper", SLEEPER_PY, Timeout=120)
        lam.put_function_concurrency(FunctionName="sleeper", ReservedConcurrentExecutions=1)
        outcome: dict = {}

        def invoke() -> None:
            try:
                lam.invoke(FunctionName="sleeper", Payload=b"{}")
                outcome["error"] = None
            except ClientError as error:
                outcome["error"] = error.response
            outcome["at"] = time.monotonic()

        caller = threading.Thread(target=invoke, daemon=True)
        caller.start()
        connection = redis.Redis.from_url(stack["redis_url"])

        def taken_up() -> list:
            assert "error" not in outcome, f"the invocation ended before its host was killed: {outcome}"
            return connection.keys("stratus:direct:taken:*")

        taken = wait_until(taken_up, timeout=60, what="a host taking the invocation up")
        worker_pid = int(connection.get(taken[0]).decode().rsplit("-", 1)[1])
        sandbox = wait_until(
            lambda: [
                pid
                for pid in _descendants(worker_pid)
                if "sleeper" in _cmdline(pid) or "bwrap" in _cmdline(pid)
            ],
            timeout=30,
            what="the environment's sandbox processes",
        )
        os.kill(worker_pid, signal.SIGKILL)
        killed_at = time.monotonic()

        caller.join(timeout=30)
        assert not caller.is_alive(), "the caller was still waiting 30 s after its worker died"
        assert outcome["error"] is not None
        assert outcome["error"]["Error"]["Code"] == "ServiceException"
        assert "stopped" in outcome["error"]["Error"]["Message"]
        assert outcome["at"] - killed_at <= 15
        # The lease it held is gone: reserved concurrency 1 admits the next invocation at once.
        assert connection.zcard("stratus:concurrency:function:sleeper") == 0
        # Nothing of its sandbox outlives it: bwrap dies with the host's thread, the rest with bwrap.
        wait_until(
            lambda: not [pid for pid in sandbox if _alive(pid)],
            timeout=10,
            what=f"the killed host's sandbox processes to die: {[_cmdline(pid) for pid in sandbox if _alive(pid)]}",
        )


@pytest.mark.slow
def test_workers_outlive_a_redis_restart_under_load_with_nothing_to_restart_them(python_runtime):
    """No supervisor here (as on a worker host started by hand): the worker reconnects by
    itself, and invocations succeed again once Redis is back."""
    with stratus_stack(workers=1) as stack:
        key, lam = _stack_function(
            stack, python_runtime, "echo", "def handler(event, context):\n    return event\n"
        )
        assert lam.invoke(FunctionName="echo", Payload=b'{"n": 0}')["Payload"].read() == b'{"n": 0}'
        stop = threading.Event()
        failures: list[str] = []
        sent: list[int] = []

        def load() -> None:  # invocations keep arriving while Redis is away
            while not stop.is_set():
                try:
                    lam.invoke(FunctionName="echo", InvocationType="Event", Payload=b"{}")
                    sent.append(1)
                except ClientError as error:
                    failures.append(error.response["Error"]["Code"])
                except Exception as error:  # the API itself may drop the connection
                    failures.append(type(error).__name__)
                stop.wait(0.05)  # pacing the load, not waiting for anything

        loader = threading.Thread(target=load, daemon=True)
        loader.start()
        wait_until(lambda: len(sent) >= 5, timeout=30, what="the load to get going")
        stack["redis_restart"](down_seconds=3)
        # An invocation caught mid-restart may wait out its pick-up time (its enqueue can be
        # in the second Redis loses): probe with a short read timeout until one goes through.
        probe = aws_client("lambda", stack["url"], key, read_timeout=15)

        def answered() -> bool:
            try:
                return probe.invoke(FunctionName="echo", Payload=b'{"n": 1}')["Payload"].read() == b'{"n": 1}'
            except Exception:  # Redis still coming back
                return False

        wait_until(answered, timeout=120, what="an invocation succeeding after the restart")
        stop.set()
        loader.join(timeout=10)
        assert all(worker.poll() is None for worker in stack["workers"]), "a worker exited with Redis"
        assert failures, "the load should have met the outage"
