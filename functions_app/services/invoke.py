"""Invoke: resolve the qualifier, admit against concurrency, enqueue, wait for the result."""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import random
import time
import uuid
from dataclasses import dataclass

import redis
from django.conf import settings
from rq.exceptions import NoSuchJobError

from functions_app.errors import InvalidParameterValue, ServiceFault, TooManyRequests
from functions_app.models import Function, FunctionVersion
from functions_app.runtime import concurrency, routing
from functions_app.runtime.environment import INIT_TIMEOUT_SECONDS
from functions_app.runtime.records import record_emit
from functions_app.runtime.redis_client import invocation_queue, redis_client
from functions_app.runtime.worker import INVOCATIONS_QUEUE
from functions_app.selectors import qualifier_resolve, reserved_concurrency_total

CLIENT_CONTEXT_MAX = 3583
# How long a synchronous caller waits for a worker to pick its event up, beyond the
# function's own timeout and INIT.
QUEUE_WAIT_SECONDS = 60
# How often a synchronous caller waiting for its result checks that the worker still lives.
RESULT_POLL_SECONDS = 1


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


def _admit(function: Function, *, lease: str, ttl: float) -> None:
    connection = redis_client()
    # A function with its own reservation never draws on the unreserved pool.
    unreserved = (
        settings.STRATUS_ACCOUNT_CONCURRENCY - reserved_concurrency_total()
        if function.reserved_concurrency is None
        else 0
    )
    reason = concurrency.admit(
        connection,
        function_name=function.name,
        lease=lease,
        ttl_seconds=ttl,
        reserved=function.reserved_concurrency,
        unreserved_capacity=unreserved,
    )
    if reason is not None:
        record_emit(
            connection,
            {
                "request_id": lease,
                "function": function.name,
                "kind": "throttle",
                "outcome": "throttle",
                "throttle_reason": reason,
                "started_at": time.time(),
                "trigger": "api",
            },
        )
        raise TooManyRequests("Rate Exceeded.", reason=reason)


def _result_wait(job, connection: redis.Redis, *, budget: float):
    """The job's result; or, as text, why there will be none: no worker took it up in time,
    or the worker running it stopped (its alive key lapses seconds after it dies, so the
    caller hears within seconds rather than after the function's whole timeout)."""
    picked_up_by = time.monotonic() + QUEUE_WAIT_SECONDS
    finished_by = picked_up_by + budget
    while True:
        result = job.latest_result(timeout=RESULT_POLL_SECONDS)
        if result is not None:
            return result
        try:
            job.refresh()
        except NoSuchJobError:  # its time to be picked up passed, and RQ dropped it
            return "No worker picked the invocation up in time; check that Stratus workers are running."
        worker = job.worker_name
        if worker and not connection.exists(routing.ALIVE_PREFIX + worker):
            return f"The worker running the invocation stopped ({worker}); the invocation did not complete."
        now = time.monotonic()
        if not worker and now > picked_up_by:
            return "No worker picked the invocation up in time; check that Stratus workers are running."
        if now > finished_by:
            return "The invocation did not complete in time."


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
    _admit(function, lease=request_id, ttl=budget + QUEUE_WAIT_SECONDS)
    connection = redis_client()
    worker = routing.claim(connection, function=function.name, version=version.version)
    queue = invocation_queue(routing.private_queue(worker) if worker else INVOCATIONS_QUEUE)
    message = {
        "request_id": request_id,
        "function_name": function.name,
        "version": version.version,
        "revision_id": version.revision_id,
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
        "attempt": 1,
        "capture_payloads": function.capture_payloads,
    }
    try:
        job = queue.enqueue(
            "functions_app.runtime.jobs.invoke",
            message,
            job_id=request_id,
            job_timeout=int(budget),
            result_ttl=60,
            failure_ttl=3600,
            ttl=QUEUE_WAIT_SECONDS,
        )
    except Exception:
        concurrency.release(queue.connection, function_name=function.name, lease=request_id)
        raise
    result = _result_wait(job, connection, budget=budget)
    if isinstance(result, str):  # why there is none
        with contextlib.suppress(Exception):  # RQ refuses to cancel a job it counts as started
            job.cancel()
        concurrency.release(queue.connection, function_name=function.name, lease=request_id)
        raise ServiceFault(result)
    if result.type != result.Type.SUCCESSFUL:
        raise ServiceFault(f"The worker failed to run the invocation (request {request_id}).")
    value = result.return_value
    return InvokeResult(
        payload=value["payload"],
        function_error=value["function_error"],
        executed_version=value["executed_version"],
        log_result=value["log_result"],
        request_id=request_id,
        record=value["record"],
    )
