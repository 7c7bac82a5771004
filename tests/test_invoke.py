"""Synchronous Invoke through boto3 against the live server and real sandboxed workers."""

from __future__ import annotations

import base64
import json
import re
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import make_zip

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("stratus_workers")]

CONTEXT_PY = """
import os, json
COUNTER = {"n": 0}

def handler(event, context):
    COUNTER["n"] += 1
    print("event", json.dumps(event))
    return {
        "event": event,
        "count": COUNTER["n"],
        "request_id": context.aws_request_id,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "invoked_function_arn": context.invoked_function_arn,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "remaining": context.get_remaining_time_in_millis(),
        "client_context": context.client_context.custom if context.client_context else None,
        "env": {k: v for k, v in os.environ.items()},
        "cwd": os.getcwd(),
    }
"""


def _invoke(client, name, payload=None, **kwargs):
    response = client.invoke(FunctionName=name, Payload=json.dumps(payload or {}).encode(), **kwargs)
    body = response["Payload"].read()
    return response, body


def _log(response) -> str:
    return base64.b64decode(response["LogResult"]).decode()


@pytest.fixture
def context_function(create_function):
    create_function(
        "ctx",
        Code={"ZipFile": make_zip({"lambda_function.py": CONTEXT_PY})},
        Environment={"Variables": {"GREETING": "hi"}},
        MemorySize=256,
        Timeout=5,
    )
    return "ctx"


def test_it_returns_the_handlers_result_with_context_and_lambda_environment(lambda_client, context_function):
    response, body = _invoke(lambda_client, context_function, {"name": "stratus"}, LogType="Tail")
    assert response["StatusCode"] == 200
    assert "FunctionError" not in response
    assert response["ExecutedVersion"] == "$LATEST"
    result = json.loads(body)
    assert result["event"] == {"name": "stratus"}
    assert result["function_name"] == "ctx"
    assert result["function_version"] == "$LATEST"
    assert result["memory_limit_in_mb"] == "256"
    assert result["invoked_function_arn"] == "arn:aws:lambda:us-east-1:000000000000:function:ctx"
    assert result["log_group_name"] == "/aws/lambda/ctx"
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}", result["log_stream_name"])
    assert 0 < result["remaining"] <= 5000
    assert re.fullmatch(r"[0-9a-f-]{36}", result["request_id"])
    env = result["env"]
    assert env["GREETING"] == "hi"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "ctx"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_REGION"] == "us-east-1"
    assert env["LAMBDA_TASK_ROOT"] == "/var/task"
    assert env["_HANDLER"] == "lambda_function.handler"
    assert env["AWS_EXECUTION_ENV"] == f"AWS_Lambda_python3.{sys.version_info.minor}"
    assert env["AWS_LAMBDA_INITIALIZATION_TYPE"] == "on-demand"
    assert result["cwd"] == "/var/task"
    log = _log(response)
    assert f"START RequestId: {result['request_id']} Version: $LATEST" in log
    assert 'event {"name": "stratus"}' in log
    assert f"END RequestId: {result['request_id']}" in log
    report = re.search(
        r"REPORT RequestId: \S+\tDuration: (\d+\.\d\d) ms\tBilled Duration: (\d+) ms\tMemory Size: 256 MB\t"
        r"Max Memory Used: (\d+) MB\t(Init Duration: (\d+\.\d\d) ms\t)?",
        log,
    )
    assert report, log
    assert int(report.group(3)) > 1


def test_it_keeps_environments_warm_and_reports_init_only_on_cold_starts(lambda_client, context_function):
    counts, cold_flags = [], []
    for _ in range(6):
        response, body = _invoke(lambda_client, context_function, LogType="Tail")
        counts.append(json.loads(body)["count"])
        cold_flags.append("Init Duration" in _log(response))
    # With two workers, at most two environments start cold; every other call is warm and
    # finds the module state its earlier calls left.
    assert 1 <= sum(cold_flags) <= 2
    assert max(counts) >= 3
    assert all(cold == (count == 1) for cold, count in zip(cold_flags, counts, strict=True))


def test_it_passes_the_client_context_through(lambda_client, context_function):
    context = base64.b64encode(json.dumps({"custom": {"tenant": "acme"}}).encode()).decode()
    response, body = _invoke(lambda_client, context_function, ClientContext=context)
    assert json.loads(body)["client_context"] == {"tenant": "acme"}


ERRORS_PY = """
import os, sys, time

def handler(event, context):
    kind = event.get("kind")
    if kind == "raise":
        raise ValueError("bad input: " + str(event.get("value")))
    if kind == "sleep":
        time.sleep(event["seconds"])
    if kind == "memory":
        hog = []
        while True:
            hog.append(bytearray(16 * 1024 * 1024))
    if kind == "exit":
        os._exit(3)
    if kind == "big":
        return "x" * (6 * 1024 * 1024 + 200)
    return {"ok": True, "pid": os.getpid()}
"""


@pytest.fixture
def errors_function(create_function):
    create_function(
        "errs", Code={"ZipFile": make_zip({"lambda_function.py": ERRORS_PY})}, Timeout=2, MemorySize=128
    )
    return "errs"


def test_it_reports_an_unhandled_exception_as_a_function_error(lambda_client, errors_function):
    response, body = _invoke(lambda_client, errors_function, {"kind": "raise", "value": 7}, LogType="Tail")
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    error = json.loads(body)
    assert error["errorType"] == "ValueError"
    assert error["errorMessage"] == "bad input: 7"
    assert any("lambda_function.py" in frame for frame in error["stackTrace"])
    assert "[ERROR] ValueError: bad input: 7" in _log(response)


@pytest.mark.slow
def test_it_times_out_kills_the_environment_and_recovers(lambda_client, errors_function):
    response, body = _invoke(lambda_client, errors_function, {"kind": "sleep", "seconds": 10}, LogType="Tail")
    assert response["FunctionError"] == "Unhandled"
    error = json.loads(body)
    assert error["errorType"] == "Sandbox.Timedout"
    assert re.fullmatch(r"RequestId: \S+ Error: Task timed out after 2\.00 seconds", error["errorMessage"])
    assert "Task timed out after 2.00 seconds" in _log(response)
    healthy, body = _invoke(lambda_client, errors_function, {"kind": "ok"})
    assert "FunctionError" not in healthy
    assert json.loads(body)["ok"] is True


def test_it_reports_running_out_of_memory_and_recovers(lambda_client, errors_function):
    response, body = _invoke(lambda_client, errors_function, {"kind": "memory"})
    assert response["FunctionError"] == "Unhandled"
    assert json.loads(body)["errorType"] == "Runtime.OutOfMemory"
    healthy, body = _invoke(lambda_client, errors_function, {"kind": "ok"})
    assert json.loads(body)["ok"] is True


def test_it_reports_a_runtime_that_exits_and_starts_fresh_next_time(lambda_client, errors_function):
    response, body = _invoke(lambda_client, errors_function, {"kind": "exit"})
    assert response["FunctionError"] == "Unhandled"
    error = json.loads(body)
    assert error["errorType"] == "Runtime.ExitError"
    assert "exit status 3" in error["errorMessage"]
    healthy, body = _invoke(lambda_client, errors_function, {"kind": "ok"}, LogType="Tail")
    assert json.loads(body)["ok"] is True


def test_it_refuses_a_response_over_6_mb(lambda_client, errors_function):
    response, body = _invoke(lambda_client, errors_function, {"kind": "big"})
    assert response["FunctionError"] == "Unhandled"
    assert json.loads(body)["errorType"] == "Function.ResponseSizeTooLarge"


def test_it_surfaces_import_and_syntax_errors_from_init(lambda_client, create_function):
    create_function(
        "broken-import", Code={"ZipFile": make_zip({"lambda_function.py": "import not_a_module\n"})}
    )
    response, body = _invoke(lambda_client, "broken-import")
    assert response["FunctionError"] == "Unhandled"
    error = json.loads(body)
    assert error["errorType"] == "Runtime.ImportModuleError"
    assert "not_a_module" in error["errorMessage"]

    create_function("broken-syntax", Code={"ZipFile": make_zip({"lambda_function.py": "def handler(:\n"})})
    response, body = _invoke(lambda_client, "broken-syntax")
    assert json.loads(body)["errorType"] == "Runtime.UserCodeSyntaxError"

    create_function("no-handler", Code={"ZipFile": make_zip({"lambda_function.py": "x = 1\n"})})
    response, body = _invoke(lambda_client, "no-handler")
    assert json.loads(body)["errorType"] == "Runtime.HandlerNotFound"


def test_it_runs_the_new_code_after_an_update(lambda_client, create_function, hello_zip):
    create_function("updated")
    _, body = _invoke(lambda_client, "updated", {"name": "a"})
    assert json.loads(body) == {"hello": "a"}
    lambda_client.update_function_code(
        FunctionName="updated",
        ZipFile=make_zip({"lambda_function.py": "def handler(e, c):\n    return {'bye': e['name']}\n"}),
    )
    for _ in range(3):
        _, body = _invoke(lambda_client, "updated", {"name": "b"})
        assert json.loads(body) == {"bye": "b"}


def test_it_routes_an_alias_by_weight_and_reports_the_executed_version(lambda_client, create_function):
    create_function(
        "weighted",
        Code={"ZipFile": make_zip({"lambda_function.py": "def handler(e, c):\n    return 'one'\n"})},
    )
    lambda_client.publish_version(FunctionName="weighted")
    lambda_client.update_function_code(
        FunctionName="weighted",
        ZipFile=make_zip({"lambda_function.py": "def handler(e, c):\n    return 'two'\n"}),
    )
    lambda_client.publish_version(FunctionName="weighted")
    lambda_client.create_alias(
        FunctionName="weighted",
        Name="live",
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}},
    )
    seen = {}
    for _ in range(24):
        response, body = _invoke(lambda_client, "weighted", Qualifier="live")
        seen[response["ExecutedVersion"]] = body
    assert seen == {"1": b'"one"', "2": b'"two"'}
    response, body = _invoke(lambda_client, "weighted:1")
    assert response["ExecutedVersion"] == "1" and body == b'"one"'


def test_it_throttles_everything_with_reserved_concurrency_zero(lambda_client, create_function):
    create_function("reserved-zero")
    lambda_client.put_function_concurrency(FunctionName="reserved-zero", ReservedConcurrentExecutions=0)
    with pytest.raises(lambda_client.exceptions.TooManyRequestsException) as raised:
        _invoke(lambda_client, "reserved-zero")
    assert raised.value.response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429


@pytest.mark.slow
def test_it_admits_one_at_a_time_with_reserved_concurrency_one(lambda_client, create_function):
    create_function(
        "reserved-one",
        Code={
            "ZipFile": make_zip(
                {"lambda_function.py": "import time\ndef handler(e, c):\n    time.sleep(1.5)\n    return 1\n"}
            )
        },
        Timeout=5,
    )
    lambda_client.put_function_concurrency(FunctionName="reserved-one", ReservedConcurrentExecutions=1)

    def call(_):
        try:
            _invoke(lambda_client, "reserved-one")
            return "ok"
        except lambda_client.exceptions.TooManyRequestsException:
            return "throttled"

    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = sorted(pool.map(call, range(4)))
    assert outcomes.count("ok") >= 1
    assert outcomes.count("throttled") >= 2
    # The lease is released when the invocation ends, so the next call is admitted.
    assert call(0) == "ok"


def test_it_validates_invocation_headers_and_payloads(lambda_client, create_function):
    create_function("validated")
    response = lambda_client.invoke(FunctionName="validated", InvocationType="DryRun")
    assert response["StatusCode"] == 204
    with pytest.raises(lambda_client.exceptions.InvalidRequestContentException):
        lambda_client.invoke(FunctionName="validated", Payload=b"{not json")
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.invoke(FunctionName="validated", Qualifier="nope")
    with pytest.raises(lambda_client.exceptions.RequestTooLargeException):
        lambda_client.invoke(FunctionName="validated", Payload=b'"' + b"x" * (6 * 1024 * 1024 + 10) + b'"')


@pytest.mark.slow
def test_it_serves_the_first_invoke_from_provisioned_concurrency_without_a_cold_start(
    lambda_client, create_function
):
    import time

    create_function(
        "provisioned", Code={"ZipFile": make_zip({"lambda_function.py": CONTEXT_PY})}, Publish=True
    )
    lambda_client.put_provisioned_concurrency_config(
        FunctionName="provisioned", Qualifier="1", ProvisionedConcurrentExecutions=1
    )
    deadline = time.monotonic() + 30
    while True:
        config = lambda_client.get_provisioned_concurrency_config(FunctionName="provisioned", Qualifier="1")
        if config["Status"] == "READY":
            break
        assert time.monotonic() < deadline, config
        time.sleep(0.5)
    assert config["AllocatedProvisionedConcurrentExecutions"] == 1
    response, body = _invoke(lambda_client, "provisioned", Qualifier="1", LogType="Tail")
    assert "Init Duration" not in _log(response)
    result = json.loads(body)
    assert result["env"]["AWS_LAMBDA_INITIALIZATION_TYPE"] == "provisioned-concurrency"
    assert result["function_version"] == "1"
