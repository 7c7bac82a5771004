"""Invoke: resolve the qualifier, then admit, place and wait for the reply on the direct path."""

from __future__ import annotations

import base64
import binascii
import json
import random
import time
import uuid
from dataclasses import dataclass

from django.conf import settings

from functions_app.errors import InvalidParameterValue, ServiceFault, TooManyRequests
from functions_app.models import Function, FunctionVersion
from functions_app.redis_client import redis_client
from functions_app.runtime import concurrency, direct
from functions_app.runtime.environment import INIT_TIMEOUT_SECONDS
from functions_app.runtime.records import record_emit
from functions_app.selectors import qualifier_resolve, reserved_concurrency_total

CLIENT_CONTEXT_MAX = 3583
# How long a synchronous caller waits for a host to pick its event up, beyond the
# function's own timeout and INIT.
QUEUE_WAIT_SECONDS = 60


@dataclass(frozen=True)
class InvocationTarget:
    version: FunctionVersion
    qualifier: str | None  # what the caller named
    alias: str | None

    @property
    def invoked_arn(self) -> str:
        return self.version.function.arn(self.qualifier)


@dataclass
class InvokeResult:
    payload: bytes
    function_error: str | None
    executed_version: str
    log_result: str | None
    request_id: str
    record: dict


def invocation_target(function: Function, qualifier: str | None) -> InvocationTarget:
    """The version that runs: the qualifier's, or for a weighted alias, a weighted pick."""
    resolved = qualifier_resolve(function, qualifier)
    version = resolved.version
    alias = resolved.alias
    if alias is not None and alias.additional_version_weights:
        ((extra, weight),) = alias.additional_version_weights.items()
        if random.random() < weight:
            version = FunctionVersion.objects.select_related("function", "code").get(
                function=function, version=extra
            )
    return InvocationTarget(version=version, qualifier=qualifier, alias=alias.name if alias else None)


def client_context_decode(value: str | None) -> str | None:
    if not value:
        return None
    if len(value) > CLIENT_CONTEXT_MAX:
        raise InvalidParameterValue(f"Client context must be {CLIENT_CONTEXT_MAX} bytes or fewer of base64.")
    try:
        text = base64.b64decode(value, validate=True).decode()
        json.loads(text)
    except (binascii.Error, ValueError) as exc:
        raise InvalidParameterValue("Client context must be base64-encoded JSON.") from exc
    return text


def _throttled(function: Function, *, request_id: str, reason: str) -> TooManyRequests:
    record_emit(
        redis_client(),
        {
            "request_id": request_id,
            "function": function.name,
            "kind": "throttle",
            "outcome": "throttle",
            "throttle_reason": reason,
            "started_at": time.time(),
            "trigger": "api",
        },
    )
    return TooManyRequests("Rate Exceeded.", reason=reason)


def invoke_sync(
    *,
    target: InvocationTarget,
    payload: bytes,
    log_type: str,
    client_context: str | None,
    trigger: str = "api",
) -> InvokeResult:
    version = target.version
    function = version.function
    request_id = str(uuid.uuid4())
    budget = version.timeout + INIT_TIMEOUT_SECONDS + 30
    message = {
        "request_id": request_id,
        "function_name": function.name,
        "version": version.version,
        "revision_id": version.revision_id,
        "memory_size": version.memory_size,
        "qualifier": target.qualifier,
        "alias": target.alias,
        "invoked_arn": target.invoked_arn,
        "payload": payload,
        "client_context": client_context,
        "log_type": log_type,
        "enqueued_at": time.time(),
        "trigger": trigger,
        "invocation_type": "RequestResponse",
        "lease": request_id,
        "direct": True,
        "attempt": 1,
        "capture_payloads": function.capture_payloads,
    }
    connection = redis_client()
    # A function with its own reservation never draws on the unreserved pool.
    unreserved = (
        settings.STRATUS_ACCOUNT_CONCURRENCY - reserved_concurrency_total()
        if function.reserved_concurrency is None
        else 0
    )
    submitted = direct.submit(
        connection,
        message,
        lease_ttl=budget + QUEUE_WAIT_SECONDS,
        reserved=function.reserved_concurrency,
        unreserved_capacity=unreserved,
    )
    if isinstance(submitted, str):
        raise _throttled(function, request_id=request_id, reason=submitted)
    reply = direct.reply_wait(
        connection,
        request_id=request_id,
        submitted=submitted,
        pickup_seconds=QUEUE_WAIT_SECONDS,
        run_seconds=budget,
    )
    if isinstance(reply, str):  # why there is none: the host never will, so free its concurrency
        concurrency.release(connection, function_name=function.name, lease=request_id)
        raise ServiceFault(reply)
    if "fault" in reply:
        raise ServiceFault(f"The worker failed to run the invocation (request {request_id}): {reply['fault']}")
    return InvokeResult(
        payload=reply["payload"],
        function_error=reply["function_error"],
        executed_version=reply["executed_version"],
        log_result=reply["log_result"],
        request_id=request_id,
        record=reply["record"],
    )
