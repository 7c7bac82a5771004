"""A host that cannot fetch a function's code: a platform fault the caller, the invocation
history, the metrics and /healthz all show, and an async event that is not lost.

A stack of its own (bench.stack), so the fault its host reports stays out of the session's."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from bench.stack import ROLE, ROOT, stratus_stack
from tests.conftest import aws_client, make_zip, wait_until


def _manage_shell(stack, code: str) -> str:
    """Run ``code`` in the stack's Django (its own database); what it prints."""
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "-v", "0", "-c", code],
        cwd=ROOT,
        env=stack["env"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


HISTORY = """
import json
from metrics_app.models import InvocationRecord
print(json.dumps(list(InvocationRecord.objects.filter(function_name="codeless").order_by("started_at")
      .values("request_id", "outcome", "error_type", "invocation_type", "redelivery", "worker"))))
"""


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_code_that_cannot_be_fetched_is_a_platform_fault_everyone_sees(python_runtime):
    with stratus_stack() as stack:
        key = (stack["key"]["AccessKeyId"], stack["key"]["SecretAccessKey"])
        lam = aws_client("lambda", stack["url"], key)
        lam.create_function(
            FunctionName="codeless",
            Runtime=python_runtime,
            Role=ROLE,
            Handler="lambda_function.handler",
            Code={"ZipFile": make_zip({"lambda_function.py": "def handler(e, c):\n    return 'ran'\n"})},
        )
        # The stored artifact goes missing (a storage outage, a botched move): no host has it cached.
        _manage_shell(stack, "from functions_app.models import StoredFile; StoredFile.objects.all().delete()")

        with pytest.raises(ClientError) as raised:
            lam.invoke(FunctionName="codeless", Payload=b"{}")
        error = raised.value.response
        assert error["Error"]["Code"] == "ServiceException"
        assert error["ResponseMetadata"]["HTTPStatusCode"] == 500
        assert "could not fetch code artifact" in error["Error"]["Message"]
        event = lam.invoke(FunctionName="codeless", InvocationType="Event", Payload=b"{}")
        event_id = event["ResponseMetadata"]["RequestId"]

        # The history shows both runs as the platform's fault, the event's again and again
        # (each a redelivery: the event keeps its attempts for when the code is back).
        def history() -> list[dict] | None:
            runs = json.loads(_manage_shell(stack, HISTORY))
            event_runs = [run for run in runs if run["request_id"] == event_id]
            return runs if len(runs) >= 3 and len(event_runs) >= 2 else None

        runs = wait_until(history, timeout=90, what="the platform faults in the invocation history")
        assert {run["outcome"] for run in runs} == {"platform_error"}
        assert {run["error_type"] for run in runs} == {"Stratus.CodeUnavailable"}
        assert [run["redelivery"] for run in runs if run["request_id"] == event_id][:2] == [0, 1]

        # New code is deployed; the event (its next delivery backs off from 1 s, doubling) runs
        # that, not the revision it was sent to, whose code is gone.
        lam.update_function_code(
            FunctionName="codeless",
            ZipFile=make_zip({"lambda_function.py": "def handler(e, c):\n    return 'ran again'\n"}),
        )

        # /healthz: still serving (200), degraded, naming the host and the fault.
        with urllib.request.urlopen(f"{stack['url']}/healthz", timeout=10) as response:
            health = json.loads(response.read())
        assert health["status"] == "degraded", health
        host = health["workers"]["hosts"][0]
        assert host["faults"] >= 1 and "could not fetch code artifact" in host["last_fault"]
        assert any("platform fault" in problem for problem in health["problems"])

        # The event was never lost: it runs now that its code is back.
        seen: list[dict] = []

        def event_ran() -> bool:
            seen[:] = [
                run for run in json.loads(_manage_shell(stack, HISTORY)) if run["request_id"] == event_id
            ]
            return any(run["outcome"] == "success" for run in seen)

        try:
            wait_until(event_ran, timeout=120, what="the event running once its code is back")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; its runs: {seen}") from None

        # PlatformErrors counts the faults; Invocations and Errors count only the one real run.
        cloudwatch = aws_client("cloudwatch", stack["url"], key)

        def metric(name: str) -> float:
            now = datetime.now(UTC)
            points = cloudwatch.get_metric_statistics(
                Namespace="AWS/Lambda",
                MetricName=name,
                Dimensions=[{"Name": "FunctionName", "Value": "codeless"}],
                StartTime=now - timedelta(minutes=10),
                EndTime=now + timedelta(minutes=1),
                Period=60,
                Statistics=["Sum"],
            )["Datapoints"]
            return sum(point["Sum"] for point in points)

        wait_until(
            lambda: metric("PlatformErrors") >= 3 and metric("Invocations") == 1,
            timeout=60,
            what="PlatformErrors counting the faults and Invocations the event's run",
        )
        assert metric("Errors") == 0
