"""Custom runtimes (provided.al2023): the zip's own executable `bootstrap` speaks the Runtime API.

The sandbox shows the host's /usr read-only, so a bootstrap may be a python3 script, a
shell script that uses curl, or AWS's own runtime interface client (awslambdaric) vendored
in the zip exactly as pip installs it.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("stratus_workers")]

HOST_PYTHON = Path("/usr/bin/python3")
AWSLAMBDARIC_VERSION = "4.2.2"


def _zip(files: dict[str, str | bytes], executable: tuple[str, ...] = ("bootstrap",)) -> bytes:
    """A zip whose ``executable`` members carry mode 0755, as `zip` records it on Unix."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, body in files.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (0o755 if name in executable else 0o644) << 16
            archive.writestr(info, body)
    return buffer.getvalue()


def _invoke(client, name, payload=None, **kwargs):
    response = client.invoke(FunctionName=name, Payload=json.dumps(payload or {}).encode(), **kwargs)
    return response, response["Payload"].read()


def _log(response) -> str:
    return base64.b64decode(response["LogResult"]).decode()


@pytest.fixture
def provided_function(create_function):
    def create(name: str, code: bytes, handler: str = "function.handler", **overrides):
        create_function(name, Runtime="provided.al2023", Handler=handler, Code={"ZipFile": code}, **overrides)
        return name

    return create


# ---- a bootstrap written in python3, standard library only ---------------------------------

PYTHON_BOOTSTRAP = """#!/usr/bin/env python3
import json, os, sys, urllib.request

API = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime"
invocations = 0


def post(path, body, headers=None):
    request = urllib.request.Request(API + path, data=json.dumps(body).encode(), method="POST",
                                     headers=headers or {})
    with urllib.request.urlopen(request) as response:
        return response.status


while True:
    with urllib.request.urlopen(API + "/invocation/next") as response:
        request_id = response.headers["Lambda-Runtime-Aws-Request-Id"]
        deadline_ms = int(response.headers["Lambda-Runtime-Deadline-Ms"])
        arn = response.headers["Lambda-Runtime-Invoked-Function-Arn"]
        event = json.loads(response.read())
    invocations += 1
    print(f"custom runtime handling {request_id}", flush=True)
    if event.get("fail"):
        post(f"/invocation/{request_id}/error",
             {"errorType": "Custom.Failure", "errorMessage": os.environ["AWS_LAMBDA_LOG_STREAM_NAME"]},
             {"Lambda-Runtime-Function-Error-Type": "Custom.Failure"})
        continue
    post(f"/invocation/{request_id}/response", {
        "event": event,
        "invocations": invocations,
        "environment": os.environ["AWS_LAMBDA_LOG_STREAM_NAME"],
        "handler": os.environ["_HANDLER"],
        "task_root": os.environ["LAMBDA_TASK_ROOT"],
        "execution_env": os.environ.get("AWS_EXECUTION_ENV"),
        "arn": arn,
        "deadline_ms": deadline_ms,
        "python": sys.executable,
        "cwd": os.getcwd(),
    })
"""


def test_it_runs_a_python3_bootstrap_that_speaks_the_runtime_api(lambda_client, provided_function):
    name = provided_function("custom-py", _zip({"bootstrap": PYTHON_BOOTSTRAP}), Timeout=5)
    response, body = _invoke(lambda_client, name, {"n": 1}, LogType="Tail")
    assert response["StatusCode"] == 200
    assert "FunctionError" not in response, body
    result = json.loads(body)
    assert result["event"] == {"n": 1}
    assert result["handler"] == "function.handler"
    assert result["task_root"] == "/var/task"
    assert result["cwd"] == "/var/task"
    # AWS leaves AWS_EXECUTION_ENV unset for custom runtimes.
    assert result["execution_env"] is None
    assert result["arn"] == "arn:aws:lambda:us-east-1:000000000000:function:custom-py"
    assert result["python"].startswith("/usr/bin/python3")
    request_id = response["ResponseMetadata"]["RequestId"]
    log = _log(response)
    assert log.index(f"START RequestId: {request_id}") < log.index(f"custom runtime handling {request_id}")
    assert log.index(f"custom runtime handling {request_id}") < log.index(f"END RequestId: {request_id}")


def test_it_reports_an_error_a_custom_runtime_posts_and_keeps_the_environment(
    lambda_client, provided_function
):
    name = provided_function("custom-py-errors", _zip({"bootstrap": PYTHON_BOOTSTRAP}))
    response, body = _invoke(lambda_client, name, {"fail": True})
    assert response["FunctionError"] == "Unhandled"
    error = json.loads(body)
    assert error["errorType"] == "Custom.Failure"
    failed_in = error["errorMessage"]  # the bootstrap reports which environment it ran in
    later = [json.loads(_invoke(lambda_client, name)[1]) for _ in range(3)]
    # The environment that posted the error lives on, and serves later calls warm.
    assert {"environment": failed_in, "invocations": 2} in [
        {"environment": seen["environment"], "invocations": seen["invocations"]} for seen in later
    ]


def test_it_reports_an_init_error_a_custom_runtime_posts(lambda_client, provided_function):
    bootstrap = """#!/usr/bin/env python3
import json, os, urllib.request
request = urllib.request.Request(
    "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/init/error",
    data=json.dumps({"errorType": "Custom.ConfigMissing", "errorMessage": "no config"}).encode(),
    headers={"Lambda-Runtime-Function-Error-Type": "Custom.ConfigMissing"}, method="POST")
print("init error status", urllib.request.urlopen(request).status, flush=True)
raise SystemExit(1)
"""
    name = provided_function("custom-init-error", _zip({"bootstrap": bootstrap}))
    response, body = _invoke(lambda_client, name, LogType="Tail")
    assert response["FunctionError"] == "Unhandled"
    assert json.loads(body)["errorType"] == "Custom.ConfigMissing"
    assert "init error status 202" in _log(response)


def test_it_refuses_a_bootstrap_that_is_missing_or_not_executable(lambda_client, provided_function):
    name = provided_function("custom-not-exec", _zip({"bootstrap": PYTHON_BOOTSTRAP}, executable=()))
    response, body = _invoke(lambda_client, name)
    assert response["FunctionError"] == "Unhandled"
    assert json.loads(body) == {
        "errorType": "Runtime.InvalidEntrypoint",
        "errorMessage": "fork/exec /var/task/bootstrap: permission denied",
    }
    name = provided_function("custom-no-bootstrap", _zip({"main.py": "print(1)\n"}))
    response, body = _invoke(lambda_client, name)
    assert response["FunctionError"] == "Unhandled"
    assert json.loads(body) == {
        "errorType": "Runtime.InvalidEntrypoint",
        "errorMessage": "Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]",
    }


SHELL_BOOTSTRAP = """#!/bin/sh
set -eu
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
while true; do
  HEADERS="$(mktemp)"
  EVENT="$(curl -sS -D "$HEADERS" "$API/invocation/next")"
  REQUEST_ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
  echo "shell runtime handling $REQUEST_ID"
  curl -sS -X POST "$API/invocation/$REQUEST_ID/response" -d "{\\"echo\\":$EVENT,\\"shell\\":\\"$0\\"}" >/dev/null
  rm -f "$HEADERS"
done
"""


@pytest.mark.skipif(not Path("/usr/bin/curl").exists(), reason="curl is not installed on this host")
def test_it_runs_a_posix_shell_bootstrap_that_uses_curl(lambda_client, provided_function):
    name = provided_function("custom-sh", _zip({"bootstrap": SHELL_BOOTSTRAP}))
    response, body = _invoke(lambda_client, name, {"from": "shell"}, LogType="Tail")
    assert "FunctionError" not in response, body
    assert json.loads(body) == {"echo": {"from": "shell"}, "shell": "/var/task/bootstrap"}
    assert f"shell runtime handling {response['ResponseMetadata']['RequestId']}" in _log(response)


# ---- AWS's own runtime interface client, vendored in the zip ---------------------------------


def _host_python_version() -> str:
    out = subprocess.run(
        [str(HOST_PYTHON), "-c", "import sys; print(f'{sys.version_info[0]}.{sys.version_info[1]}')"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


HANDLER_PY = """
import os, sys
import awslambdaric

STATE = {"invocations": 0}


def fn(event, context):
    if event.get("fail"):
        raise ValueError("awslambdaric saw " + str(event["fail"]))
    STATE["invocations"] += 1
    return {
        "sum": sum(event.get("numbers", [])),
        "invocations": STATE["invocations"],
        "request_id": context.aws_request_id,
        "function_name": context.function_name,
        "remaining": context.get_remaining_time_in_millis(),
        "ric_file": awslambdaric.__file__,
        "python": sys.version.split()[0],
    }
"""


@pytest.fixture(scope="session")
def awslambdaric_tree(tmp_path_factory) -> Path:
    """awslambdaric as pip installs it for the host's /usr/bin/python3, unmodified."""
    if not HOST_PYTHON.exists():
        pytest.skip("no /usr/bin/python3 on this host for a provided.al2023 bootstrap to run")
    target = tmp_path_factory.mktemp("awslambdaric")
    installed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--target",
            str(target),
            "--only-binary=:all:",
            "--python-version",
            _host_python_version(),
            "--platform",
            "manylinux2014_x86_64",
            f"awslambdaric=={AWSLAMBDARIC_VERSION}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if installed.returncode != 0:
        pytest.skip(f"could not download awslambdaric from the package registry:\n{installed.stderr[-2000:]}")
    return target


def _vendored_zip(tree: Path, files: dict[str, str]) -> bytes:
    """The vendored tree plus ``files``, each member keeping its Unix mode."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(tree.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                info = zipfile.ZipInfo(str(path.relative_to(tree)))
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = (os.stat(path).st_mode & 0o777) << 16
                archive.writestr(info, path.read_bytes())
        for name, body in files.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (0o755 if name == "bootstrap" else 0o644) << 16
            archive.writestr(info, body)
    return buffer.getvalue()


RIC_BOOTSTRAP = "#!/bin/sh\nexec python3 -m awslambdaric handler.fn\n"


@pytest.fixture(scope="session")
def awslambdaric_zip(awslambdaric_tree) -> bytes:
    return _vendored_zip(awslambdaric_tree, {"bootstrap": RIC_BOOTSTRAP, "handler.py": HANDLER_PY})


@pytest.mark.slow
def test_it_runs_an_unmodified_vendored_awslambdaric(lambda_client, provided_function, awslambdaric_zip):
    name = provided_function("ric", awslambdaric_zip, handler="handler.fn", Timeout=10)
    response, body = _invoke(lambda_client, name, {"numbers": [1, 2, 3.5]}, LogType="Tail")
    assert response["StatusCode"] == 200
    assert "FunctionError" not in response, body
    result = json.loads(body)
    assert result["sum"] == 6.5
    assert result["request_id"] == response["ResponseMetadata"]["RequestId"]
    assert result["function_name"] == "ric"
    assert 0 < result["remaining"] <= 10000
    # The client really is the one in the zip, not something of the host's.
    assert result["ric_file"] == "/var/task/awslambdaric/__init__.py"
    assert result["python"].startswith(_host_python_version() + ".")
    log = _log(response)
    assert "Init Duration" in log

    # An exception in the handler comes back in awslambdaric's own error shape.
    response, body = _invoke(lambda_client, name, {"fail": "a bad day"}, LogType="Tail")
    assert response["FunctionError"] == "Unhandled"
    error = json.loads(body)
    assert error["errorType"] == "ValueError"
    assert error["errorMessage"] == "awslambdaric saw a bad day"
    assert error["requestId"] == response["ResponseMetadata"]["RequestId"]
    assert any("handler.py" in frame for frame in error["stackTrace"])
    assert "[ERROR] ValueError: awslambdaric saw a bad day" in _log(response)

    # The environments survive both calls: later calls are warm and find the module state.
    counts, cold = [], []
    for _ in range(5):
        response, body = _invoke(lambda_client, name, {"numbers": [1]}, LogType="Tail")
        counts.append(json.loads(body)["invocations"])
        cold.append("Init Duration" in _log(response))
    assert max(counts) >= 3
    assert sum(cold) <= 1  # at most the second worker's first environment


@pytest.mark.slow
def test_it_reports_awslambdarics_init_errors(lambda_client, provided_function, awslambdaric_tree):
    code = _vendored_zip(
        awslambdaric_tree, {"bootstrap": RIC_BOOTSTRAP, "handler.py": "import not_a_module\n"}
    )
    name = provided_function("ric-import-error", code, handler="handler.fn")
    response, body = _invoke(lambda_client, name, LogType="Tail")
    assert response["FunctionError"] == "Unhandled"
    error = json.loads(body)
    assert error["errorType"] == "Runtime.ImportModuleError", body
    assert re.search(r"Unable to import module 'handler'.*not_a_module", error["errorMessage"])
