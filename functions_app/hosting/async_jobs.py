"""The asynchronous-invocation job: Lambda's retries, event age, destinations and DLQ.

``invoke_event`` is the RQ job (``runtime/events.EVENT_JOB``) that a host's RQ workers run,
on the host's own pool of environments (``runtime/worker_state``).

- A function error (exception, timeout, out of memory, runtime exit) uses an attempt; the
  event runs again after 1x, then 2x ``STRATUS_ASYNC_RETRY_BASE_SECONDS``, up to the
  config's MaximumRetryAttempts (default 2).
- A throttle or a platform fault uses no attempt; the event is retried with exponential
  backoff from 1 s to 5 minutes.
- An event older than MaximumEventAgeInSeconds (default 6 h) is not run again; reserved
  concurrency 0 sends events straight to failure handling.
- Success goes to the OnSuccess destination; final failure to OnFailure and to the
  version's dead-letter target, and the event is kept for redrive.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime

import redis
from django.conf import settings
from django.db import DatabaseError, close_old_connections
from rq import get_current_job

from functions_app.hosting.specs import spec_load
from functions_app.models import LATEST, EventInvokeConfig, FailedEvent, Function, FunctionVersion
from functions_app.runtime import concurrency, events
from functions_app.runtime.jobs import execute
from functions_app.runtime.records import record_emit
from functions_app.selectors import reserved_concurrency_total
from functions_app.services.destinations import delivery_enqueue

logger = logging.getLogger("stratus.async")

DEFAULT_RETRIES = 2
DEFAULT_MAX_AGE_SECONDS = 21600
THROTTLE_BACKOFF_MAX_SECONDS = 300
ERROR_MESSAGE_MAX = 1024


def _timestamp(moment: float) -> str:
    stamp = datetime.fromtimestamp(moment, UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def _json_or_text(payload: bytes):
    try:
        return json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return payload.decode("utf-8", "replace")


def _config(function: Function, message: dict) -> EventInvokeConfig | None:
    qualifier = message.get("qualifier") or LATEST
    return function.event_invoke_configs.filter(qualifier=qualifier).first()


def destination_record(message: dict, *, condition: str, invoke_count: int, outcome=None) -> dict:
    """The record a destination receives, in Lambda's exact shape."""
    record = {
        "version": "1.0",
        "timestamp": _timestamp(time.time()),
        "requestContext": {
            "requestId": message["request_id"],
            "functionArn": _qualified_arn(message),
            "condition": condition,
            "approximateInvokeCount": invoke_count,
        },
        "requestPayload": _json_or_text(message["payload"]),
    }
    if outcome is not None:
        response_context = {"statusCode": 200, "executedVersion": message["version"]}
        if outcome.function_error:
            response_context["functionError"] = outcome.function_error
        record["responseContext"] = response_context
        record["responsePayload"] = _json_or_text(outcome.payload)
    return record


def _qualified_arn(message: dict) -> str:
    arn = message["invoked_arn"]
    return arn if message.get("qualifier") else f"{arn}:{LATEST}"


def _backoff(message: dict) -> float:
    return float(min(THROTTLE_BACKOFF_MAX_SECONDS, 2 ** message.get("throttles", 0)))


def invoke_event(message: dict) -> None:
    job = get_current_job()
    connection = job.connection
    close_old_connections()
    try:
        function = Function.objects.filter(name=message["function_name"]).first()
        exists = (
            function is not None
            and FunctionVersion.objects.filter(function=function, version=message["version"]).exists()
        )
        config = _config(function, message) if exists else None
    except DatabaseError as exc:  # this host lost the database: a platform fault, tried again later
        logger.warning("event %s waits: the database is unreachable (%s)", message["request_id"], exc)
        close_old_connections()
        message["throttles"] = message.get("throttles", 0) + 1
        events.event_enqueue(
            connection, message, delay_seconds=_backoff(message), last_error=f"Platform fault: {exc}"
        )
        return
    if not exists:
        logger.warning("dropping event %s: its function version no longer exists", message["request_id"])
        events.event_done(connection, message)
        return
    max_retries = (
        DEFAULT_RETRIES
        if config is None or config.maximum_retry_attempts is None
        else config.maximum_retry_attempts
    )
    max_age = (
        DEFAULT_MAX_AGE_SECONDS
        if config is None or config.maximum_event_age_seconds is None
        else config.maximum_event_age_seconds
    )
    now = time.time()
    age_seconds = now - message["accepted_at"]
    invoked = message.get("attempt", 1) - 1
    if age_seconds > max_age:
        _fail(
            connection,
            function,
            config,
            message,
            condition="EventAgeExceeded",
            invoke_count=invoked,
            error_type="EventAgeExceeded",
            error_message=f"The event was {int(age_seconds)} s old, over {max_age} s.",
        )
        return
    if function.reserved_concurrency == 0:
        _fail(
            connection,
            function,
            config,
            message,
            condition="RetriesExhausted",
            invoke_count=invoked,
            error_type="TooManyRequestsException",
            error_message="ReservedFunctionConcurrentInvocationLimitExceeded: reserved concurrency is 0",
        )
        return

    lease = f"{message['request_id']}_{message.get('enqueues', 1)}"
    reason = concurrency.admit(
        connection,
        function_name=function.name,
        lease=lease,
        ttl_seconds=900 + 60,
        reserved=function.reserved_concurrency,
        unreserved_capacity=_unreserved_capacity() if function.reserved_concurrency is None else 0,
    )
    if reason is not None:
        record_emit(
            connection,
            {
                "kind": "throttle",
                "request_id": message["request_id"],
                "function": function.name,
                "throttle_reason": reason,
                "trigger": message.get("trigger"),
                "invocation_type": "Event",
            },
        )
        delay = _backoff(message)
        message["throttles"] = message.get("throttles", 0) + 1
        events.event_enqueue(connection, message, delay_seconds=delay, last_error=f"Throttled: {reason}")
        return

    message["lease"] = lease
    events.event_running(connection, message)
    try:
        execution = execute(
            message,
            spec_load=spec_load,
            payload_capture_bytes=settings.STRATUS_PAYLOAD_CAPTURE_BYTES,
            connection=connection,
            worker=job.worker_name,
            extra={
                "async_event_age_ms": round(age_seconds * 1000, 3),
                "redeliveries": message.get("redeliveries", 0),
            },
        )
    except Exception as exc:  # a platform fault: retried without using an attempt
        logger.exception("platform fault running event %s", message["request_id"])
        concurrency.release(connection, function_name=function.name, lease=lease)
        message["throttles"] = message.get("throttles", 0) + 1
        # Delivered again on the same attempt: a run of its own in the invocation history.
        message["redeliveries"] = message.get("redeliveries", 0) + 1
        # Next time load the version as it is then, not the revision cached for this message:
        # the fault may be mended by a change (new code after the old artifact went missing).
        message.pop("revision_id", None)
        events.event_enqueue(
            connection, message, delay_seconds=_backoff(message), last_error=f"Platform fault: {exc}"
        )
        return
    outcome = execution.outcome
    attempt = message.get("attempt", 1)
    if outcome.function_error is None:
        events.event_done(connection, message)
        if config is not None and config.on_success:
            _deliver(
                connection,
                "destination",
                config.on_success,
                message,
                destination_record(message, condition="Success", invoke_count=attempt, outcome=outcome),
            )
        return
    error_type = outcome.error_type or "Unhandled"
    if attempt <= max_retries:
        message["attempt"] = attempt + 1
        events.event_enqueue(
            connection,
            message,
            delay_seconds=settings.STRATUS_ASYNC_RETRY_BASE_SECONDS * attempt,
            last_error=f"{error_type}: {_error_message(outcome.payload)}",
        )
        return
    _fail(
        connection,
        function,
        config,
        message,
        condition="RetriesExhausted",
        invoke_count=attempt,
        error_type=error_type,
        error_message=_error_message(outcome.payload),
        outcome=outcome,
    )


def _error_message(payload: bytes) -> str:
    try:
        return str(json.loads(payload).get("errorMessage", ""))[:ERROR_MESSAGE_MAX]
    except (ValueError, AttributeError, UnicodeDecodeError):
        return payload[:ERROR_MESSAGE_MAX].decode("utf-8", "replace")


def _unreserved_capacity() -> int:
    return settings.STRATUS_ACCOUNT_CONCURRENCY - reserved_concurrency_total()


def _deliver(connection: redis.Redis, kind: str, target: str, message: dict, body: dict) -> None:
    delivery_enqueue(
        connection,
        kind=kind,
        target=target,
        body=body,
        function_name=message["function_name"],
        request_id=message["request_id"],
    )


def _fail(
    connection: redis.Redis,
    function: Function,
    config: EventInvokeConfig | None,
    message: dict,
    *,
    condition: str,
    invoke_count: int,
    error_type: str,
    error_message: str,
    outcome=None,
) -> None:
    """Failure handling: OnFailure destination, dead-letter target, and keep the event for redrive."""
    FailedEvent.objects.update_or_create(
        request_id=message["request_id"],
        defaults={
            "function": function,
            "qualifier": message.get("qualifier") or "",
            "payload": message["payload"],
            "accepted_at": datetime.fromtimestamp(message["accepted_at"], UTC),
            "attempts": invoke_count,
            "condition": condition,
            "error_type": error_type,
            "error_message": error_message,
            "failed_at": datetime.now(UTC),
            "redriven_at": None,
        },
    )
    events.event_done(connection, message)
    record_emit(
        connection,
        {
            "kind": "async_dropped",
            "request_id": message["request_id"],
            "function": function.name,
            "condition": condition,
            "error_type": error_type,
        },
    )
    if config is not None and config.on_failure:
        _deliver(
            connection,
            "destination",
            config.on_failure,
            message,
            destination_record(message, condition=condition, invoke_count=invoke_count, outcome=outcome),
        )
    dead_letter = (
        FunctionVersion.objects.filter(function=function, version=message["version"])
        .values_list("dead_letter_target_arn", flat=True)
        .first()
    )
    if dead_letter:
        _deliver(
            connection,
            "dead_letter",
            dead_letter,
            message,
            {
                "Message": _json_or_text(message["payload"]),
                "MessageAttributes": {
                    "RequestID": {"Type": "String", "Value": message["request_id"]},
                    "ErrorCode": {"Type": "Number", "Value": "200"},
                    "ErrorMessage": {"Type": "String", "Value": error_message[:ERROR_MESSAGE_MAX]},
                },
            },
        )
