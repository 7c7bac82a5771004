"""Running one invocation on the host's pool, for the direct path and for RQ's async jobs.

``execute`` receives plain data (ids, payload, qualifier), loads the function version
through the ``spec_load`` it is given (the runtime reads no database), runs the
event in an execution environment, and in one Redis round trip releases the concurrency
lease and appends the invocation record and log lines (and, for the direct path, the reply
the caller waits for).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
from redis.client import Pipeline

from functions_app.runtime import concurrency
from functions_app.runtime.code_cache import CodeUnavailable
from functions_app.runtime.env_outcomes import InitFailed
from functions_app.runtime.environment import ExecutionEnvironment
from functions_app.runtime.logs import billed_duration_ms, invocation_log, log_tail, report_line
from functions_app.runtime.records import logs_append, record_append
from functions_app.runtime.spec import InvokeOutcome, InvokeRequest, SpecLoad
from functions_app.runtime.worker_state import current_pool

logger = logging.getLogger("stratus.jobs")


@dataclass
class Execution:
    """One run of an event in an environment, with everything recorded about it."""

    outcome: InvokeOutcome
    record: dict[str, Any]
    lines: list[tuple[int, str]]


def execute(
    message: dict[str, Any],
    *,
    spec_load: SpecLoad,
    payload_capture_bytes: int,
    connection: redis.Redis,
    worker: str,
    extra: dict[str, Any] | None = None,
    finish: Callable[[Pipeline, Execution], None] | None = None,
) -> Execution:
    """Run ``message``'s event once on this host's pool; append its record and log lines.

    The caller has admitted the invocation (the lease in ``message``); it is released here.
    ``finish`` queues more commands on the round trip that does so (the direct path's reply).
    ``spec_load`` finds the function version to run; the record keeps up to
    ``payload_capture_bytes`` of the request and the response (STRATUS_PAYLOAD_CAPTURE_BYTES).
    """
    started_at = time.time()
    spec = spec_load(message["function_name"], message["version"], message.get("revision_id"))
    lease = message.get("lease")
    if lease and not message.get("direct"):  # a direct request's lease was taken to cover its run
        concurrency.extend(
            connection, function_name=spec.function_name, lease=lease, ttl_seconds=spec.timeout + 30
        )
    request = InvokeRequest(
        request_id=message["request_id"],
        payload=message["payload"],
        invoked_function_arn=message["invoked_arn"],
        client_context=message.get("client_context"),
    )
    pool = current_pool()
    environment: ExecutionEnvironment | None = None
    init_ms: float | None
    # One round trip at the end: the environment's warm token, the lease's release, the
    # record and log lines, and (``finish``) the direct path's reply. A transaction, so a
    # consumer blocked on the streams wakes to the record and its log lines together.
    pipe = connection.pipeline(transaction=True)
    try:
        try:
            acquired = pool.acquire(spec, token_taken=message.get("token_taken", False))
        except InitFailed as failed:
            outcome, cold, init_ms = failed.outcome, True, failed.init_duration_ms
            log_stream = ""
        else:
            environment = acquired.environment
            cold, init_ms = acquired.cold, acquired.init_duration_ms
            log_stream = environment.log_stream
            outcome = environment.invoke(request, rest=False)  # frozen once the answer is out
            pool.release(environment, pipeline=pipe)
    except BaseException as exc:
        if lease:
            concurrency.release_queue(pipe, function_name=spec.function_name, lease=lease)
        if isinstance(exc, CodeUnavailable):  # the platform's fault: the history shows it
            record_append(pipe, _fault_record(message, spec.memory_size, started_at, worker, str(exc)))
        pipe.execute()
        raise
    ended_at = time.time()
    init_reported = init_ms if cold else None
    report = report_line(
        request_id=request.request_id,
        duration_ms=outcome.duration_ms,
        init_duration_ms=init_reported,
        memory_size=spec.memory_size,
        max_memory_mb=outcome.max_memory_mb,
        status=_REPORT_STATUS.get(outcome.status),
    )
    lines = invocation_log(
        request_id=request.request_id,
        version=spec.version,
        started_ms=int(started_at * 1000),
        ended_ms=int(ended_at * 1000),
        function_lines=outcome.log_lines,
        report=report,
    )
    enqueued_at = message.get("enqueued_at", started_at)
    record = {
        "kind": "invocation",
        "request_id": request.request_id,
        "function": spec.function_name,
        "version": spec.version,
        "qualifier": message.get("qualifier"),
        "alias": message.get("alias"),
        "trigger": message.get("trigger", "api"),
        "invocation_type": message.get("invocation_type", "RequestResponse"),
        "attempt": message.get("attempt", 1),
        "enqueued_at": enqueued_at,
        "started_at": started_at,
        "ended_at": ended_at,
        "queue_wait_ms": max(0.0, (started_at - enqueued_at) * 1000),
        "init_duration_ms": init_reported,
        "duration_ms": round(outcome.duration_ms, 3),
        "billed_duration_ms": billed_duration_ms(outcome.duration_ms, init_reported),
        "memory_size": spec.memory_size,
        "max_memory_mb": outcome.max_memory_mb,
        "outcome": outcome.status,
        "error_type": outcome.error_type,
        "cold": cold,
        "provisioned": environment is not None
        and environment.initialization_type == "provisioned-concurrency",
        "log_stream": log_stream,
        "worker": worker,
        **_payloads(message, outcome.payload, limit=payload_capture_bytes),
        **(extra or {}),
    }
    execution = Execution(outcome=outcome, record=record, lines=lines)
    if lease:
        concurrency.release_queue(pipe, function_name=spec.function_name, lease=lease)
    record_append(pipe, record)
    logs_append(
        pipe,
        function_name=spec.function_name,
        account_id=spec.account_id,
        log_group=spec.log_group,
        log_stream=log_stream or f"{time.strftime('%Y/%m/%d', time.gmtime())}/[{spec.version}]init-failed",
        request_id=request.request_id,
        lines=lines,
    )
    if finish is not None:
        finish(pipe, execution)
    pipe.execute()
    if environment is not None:
        environment.rest()
    return execution


def _fault_record(
    message: dict[str, Any], memory_size: int, started_at: float, worker: str, error: str
) -> dict[str, Any]:
    """The record of a run the platform could not make (counted as PlatformErrors, not as an
    invocation of the function)."""
    return {
        "kind": "invocation",
        "outcome": "platform_error",
        "error_type": "Stratus.CodeUnavailable",
        "error_message": error,
        "request_id": message["request_id"],
        "function": message["function_name"],
        "version": message["version"],
        "qualifier": message.get("qualifier"),
        "alias": message.get("alias"),
        "trigger": message.get("trigger", "api"),
        "invocation_type": message.get("invocation_type", "RequestResponse"),
        "attempt": message.get("attempt", 1),
        "redeliveries": message.get("redeliveries", 0),
        "enqueued_at": message.get("enqueued_at", started_at),
        "started_at": started_at,
        "ended_at": time.time(),
        "memory_size": memory_size,
        "worker": worker,
    }


def _payloads(message: dict[str, Any], response: bytes, *, limit: int) -> dict[str, Any]:
    """The payloads the invocation history keeps: up to ``limit`` bytes each.

    The caller's side decides (``capture_payloads`` in the message), from the function's
    setting at the time of the call.
    """
    request = message["payload"]
    if not message.get("capture_payloads", True) or limit <= 0:
        return {}
    return {
        "request_payload": request[:limit].decode("utf-8", "replace"),
        "response_payload": (response or b"")[:limit].decode("utf-8", "replace"),
        "payloads_truncated": len(request) > limit or len(response or b"") > limit,
    }


_REPORT_STATUS = {"timeout": "timeout", "oom": "error", "crash": "error", "init_error": "error"}


def invoke_reply(message: dict[str, Any], execution: Execution) -> dict[str, Any]:
    """What a synchronous caller's Invoke response is built from."""
    outcome = execution.outcome
    return {
        "payload": outcome.payload,
        "function_error": outcome.function_error,
        "error_type": outcome.error_type,
        "executed_version": message["version"],
        "log_result": log_tail(execution.lines) if message.get("log_type") == "Tail" else None,
        "record": execution.record,
    }
