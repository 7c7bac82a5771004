"""Node.js functions on Stratus's own Node runtime, invoked through boto3 on real workers."""

from __future__ import annotations

import base64
import hashlib
import json
import re

import pytest

from functions_app.runtime.languages import available_runtimes
from tests.conftest import make_zip

NODE_RUNTIME = next((name for name in available_runtimes() if name.startswith("nodejs")), None)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("stratus_workers"),
    pytest.mark.skipif(
        NODE_RUNTIME is None, reason="Node.js is not installed on this host (no `node` on PATH)"
    ),
]

INDEX_JS = """
let invocations = 0;

exports.asyncHandler = async (event, context) => {
  invocations += 1;
  console.log("hello from node", JSON.stringify(event));
  return {
    event,
    invocations,
    awsRequestId: context.awsRequestId,
    functionName: context.functionName,
    functionVersion: context.functionVersion,
    memoryLimitInMB: context.memoryLimitInMB,
    invokedFunctionArn: context.invokedFunctionArn,
    remaining: context.getRemainingTimeInMillis(),
    node: process.version,
  };
};

exports.callbackHandler = (event, context, callback) => {
  setTimeout(() => callback(null, { doubled: event.value * 2, via: "callback" }), 10);
};

exports.throwingHandler = async (event) => {
  throw new TypeError("cannot handle " + event.value);
};
"""


def _invoke(client, name, payload=None, **kwargs):
    response = client.invoke(FunctionName=name, Payload=json.dumps(payload or {}).encode(), **kwargs)
    return response, response["Payload"].read()


def _log(response) -> str:
    return base64.b64decode(response["LogResult"]).decode()


@pytest.fixture
def node_function(create_function):
    """Create a Node function from index.js with the given exported handler."""

    def create(name: str, handler: str, files: dict[str, str] | None = None, **overrides):
        create_function(
            name,
            Runtime=NODE_RUNTIME,
            Handler=handler,
            Code={"ZipFile": make_zip(files or {"index.js": INDEX_JS})},
            **overrides,
        )
        return name

    return create


def test_it_returns_what_an_async_handler_resolves_to_with_its_context(lambda_client, node_function):
    name = node_function("node-async", "index.asyncHandler", MemorySize=256, Timeout=5)
    response, body = _invoke(lambda_client, name, {"name": "stratus"})
    assert response["StatusCode"] == 200
    assert "FunctionError" not in response
    result = json.loads(body)
    assert result["event"] == {"name": "stratus"}
    assert re.fullmatch(r"[0-9a-f-]{36}", result["awsRequestId"])
    assert result["functionName"] == "node-async"
    assert result["functionVersion"] == "$LATEST"
    assert result["memoryLimitInMB"] == "256"
    assert result["invokedFunctionArn"] == "arn:aws:lambda:us-east-1:000000000000:function:node-async"
    assert 0 < result["remaining"] <= 5000
    assert result["node"].startswith("v" + NODE_RUNTIME.removeprefix("nodejs").removesuffix(".x") + ".")


def test_it_returns_what_a_callback_style_handler_passes_to_its_callback(lambda_client, node_function):
    name = node_function("node-callback", "index.callbackHandler")
    response, body = _invoke(lambda_client, name, {"value": 21})
    assert "FunctionError" not in response
    assert json.loads(body) == {"doubled": 42, "via": "callback"}


def test_it_reports_a_thrown_error_as_an_unhandled_function_error(lambda_client, node_function):
    name = node_function("node-throws", "index.throwingHandler")
    response, body = _invoke(lambda_client, name, {"value": "this"}, LogType="Tail")
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    error = json.loads(body)
    assert error["errorType"] == "TypeError"
    assert error["errorMessage"] == "cannot handle this"
    assert "cannot handle this" in _log(response)
    # The environment survives a handled-by-the-runtime exception.
    response, body = _invoke(lambda_client, name, {"value": "that"})
    assert json.loads(body)["errorMessage"] == "cannot handle that"


def test_it_puts_console_log_lines_in_the_tail_between_start_and_end(lambda_client, node_function):
    name = node_function("node-logs", "index.asyncHandler")
    response, body = _invoke(lambda_client, name, {"n": 1}, LogType="Tail")
    request_id = json.loads(body)["awsRequestId"]
    log = _log(response)
    start = log.index(f"START RequestId: {request_id} Version: $LATEST")
    printed = log.index('hello from node {"n":1}')
    end = log.index(f"END RequestId: {request_id}")
    assert start < printed < end
    assert re.search(rf"REPORT RequestId: {request_id}\tDuration: \d+\.\d\d ms\t", log)


def test_it_keeps_module_state_across_warm_invokes(lambda_client, node_function):
    name = node_function("node-warm", "index.asyncHandler")
    counts = [json.loads(_invoke(lambda_client, name)[1])["invocations"] for _ in range(5)]
    # Two workers may each start one environment; every other call finds the counter its
    # environment's earlier calls left.
    assert counts.count(1) <= 2
    assert max(counts) >= 3


MODULE_MJS = """
import { createHash } from "node:crypto";

const loadedAt = Date.now();

export const handler = async (event) => {
  return { sha1: createHash("sha1").update(event.text).digest("hex"), loadedAt, esm: typeof require === "undefined" };
};
"""


def test_it_runs_an_es_module_handler_from_an_mjs_file(lambda_client, node_function):
    name = node_function("node-esm", "app.handler", files={"app.mjs": MODULE_MJS})
    response, body = _invoke(lambda_client, name, {"text": "stratus"})
    assert "FunctionError" not in response, body
    result = json.loads(body)
    assert result["sha1"] == hashlib.sha1(b"stratus").hexdigest()
    assert result["esm"] is True
