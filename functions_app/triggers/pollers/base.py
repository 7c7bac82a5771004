"""What every poller shares: invoking the function with a batch, reading a partial batch
response, leases in Redis, and sending a failed batch to its OnFailure destination."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import redis

from functions_app.errors import LambdaError, TooManyRequests
from functions_app.services import role_permissions
from functions_app.triggers.models import EventSourceMapping

logger = logging.getLogger("stratus.pollers")

LEASE_TTL_MS = 10_000

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(frozen=True)
class BatchOutcome:
    """One invocation of the function with a batch."""

    ok: bool  # the function returned without an error
    throttled: bool
    payload: bytes
    function_error: str | None
    executed_version: str
    request_id: str


class Leases:
    """Leases that make one poller, on one host, the owner of a unit of work (a shard, a slot)."""

    def __init__(self, connection: redis.Redis, owner: str) -> None:
        self.redis = connection
        self.owner = owner
        self._renew = connection.register_script(_RENEW)
        self._release = connection.register_script(_RELEASE)

    @staticmethod
    def key(unit: str) -> str:
        return f"stratus:esm-lease:{unit}"

    def acquire(self, unit: str) -> bool:
        return bool(self.redis.set(self.key(unit), self.owner, nx=True, px=LEASE_TTL_MS))

    def renew(self, unit: str) -> bool:
        return bool(self._renew(keys=[self.key(unit)], args=[self.owner, LEASE_TTL_MS]))

    def release(self, unit: str) -> None:
        self._release(keys=[self.key(unit)], args=[self.owner])


class ProcessingResult:
    """A mapping's LastProcessingResult, written only when it changes."""

    def __init__(self, mapping_id) -> None:
        self.mapping_id = mapping_id

    def set(self, text: str) -> None:
        result_note(self.mapping_id, text)


def mapping_load(mapping_id) -> EventSourceMapping | None:
    """The mapping as it is now, or None when it was deleted or disabled."""
    mapping = EventSourceMapping.objects.select_related("function").filter(uuid=mapping_id).first()
    if mapping is None or not mapping.enabled:
        return None
    return mapping


# How often a poller whose role may not read its source asks again.
ROLE_RECHECK_SECONDS = 5


def source_denial(mapping: EventSourceMapping) -> str | None:
    """Why the function's role may not read the mapping's source now (the poller then reads
    nothing and says so in LastProcessingResult), or None."""
    try:
        role = role_permissions.function_role(mapping.function, mapping.qualifier)
    except LambdaError as error:
        return error.message
    return role_permissions.source_denial(
        role_arn=role, function_name=mapping.function.name, kind=mapping.kind, source=mapping.source
    )


_last_results: dict[str, tuple[str, float]] = {}
_last_results_lock = threading.Lock()
# Pollers in other processes write the same field: rewrite an unchanged value this often anyway.
_RESULT_REFRESH_SECONDS = 30


def result_note(mapping_id, text: str) -> None:
    """Keep the mapping's LastProcessingResult current, writing only when it changes (or when
    this process last wrote it a while ago)."""
    key, now = str(mapping_id), time.monotonic()
    with _last_results_lock:
        last = _last_results.get(key)
        if last is not None and last[0] == text and now - last[1] < _RESULT_REFRESH_SECONDS:
            return
        _last_results[key] = (text, now)
    EventSourceMapping.objects.filter(uuid=mapping_id).update(last_processing_result=text[:256])


def batch_invoke(mapping: EventSourceMapping, event: dict) -> BatchOutcome:
    """Invoke the mapping's function synchronously with one batch, as Lambda's pollers do,
    and note the outcome as the mapping's LastProcessingResult."""
    outcome = _batch_invoke(mapping, event)
    if outcome.throttled:
        result_note(mapping.uuid, "PROBLEM: Function call throttled")
    else:
        result_note(mapping.uuid, "OK" if outcome.ok else "PROBLEM: Function call failed")
    return outcome


def _batch_invoke(mapping: EventSourceMapping, event: dict) -> BatchOutcome:
    from functions_app.services.invoke import invocation_target, invoke_sync

    try:
        target = invocation_target(mapping.function, mapping.qualifier or None)
        result = invoke_sync(
            target=target,
            payload=json.dumps(event).encode(),
            log_type="None",
            client_context=None,
            trigger=mapping.kind,
        )
    except TooManyRequests:
        return BatchOutcome(False, True, b"", None, "", "")
    except LambdaError as error:
        logger.warning("mapping %s: invoke failed: %s", mapping.uuid, error)
        return BatchOutcome(False, False, b"", "Platform", "", "")
    return BatchOutcome(
        ok=not result.function_error,
        throttled=False,
        payload=result.payload,
        function_error=result.function_error,
        executed_version=result.executed_version,
        request_id=result.request_id,
    )


def batch_item_failures(
    mapping: EventSourceMapping, outcome: BatchOutcome, ids: list[str]
) -> set[str] | None:
    """The ids a ReportBatchItemFailures response names as failed; ``None`` means all failed.

    Without ReportBatchItemFailures, success is all or nothing.
    """
    if not outcome.ok:
        return None
    if "ReportBatchItemFailures" not in (mapping.config.get("FunctionResponseTypes") or []):
        return set()
    try:
        response = json.loads(outcome.payload) if outcome.payload.strip() else None
    except ValueError:
        return None
    if response is None or response == {}:
        return set()
    if not isinstance(response, dict):
        return None
    failures = response.get("batchItemFailures")
    if failures is None or failures == []:
        return set() if set(response) <= {"batchItemFailures"} else None
    if not isinstance(failures, list):
        return None
    known = set(ids)
    failed = set()
    for failure in failures:
        item = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not isinstance(item, str) or not item or item not in known:
            return None  # an empty, null or unknown identifier fails the whole batch
        failed.add(item)
    return failed


def on_failure_send(mapping: EventSourceMapping, body: dict, *, connection: redis.Redis) -> None:
    """Send a failed batch's record to the mapping's OnFailure destination, with retries."""
    from functions_app.services.destinations import delivery_enqueue

    target = ((mapping.config.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
    if not target:
        logger.warning("mapping %s: dropped a failed batch (no OnFailure destination)", mapping.uuid)
        return
    delivery_enqueue(
        connection,
        kind="destination",
        target=target,
        body=body,
        function_name=mapping.function.name,
        request_id=body.get("requestContext", {}).get("requestId") or str(uuid.uuid4()),
    )


def iso_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{datetime.now(UTC).microsecond // 1000:03d}Z"


def backoff(attempt: int) -> float:
    return min(0.2 * 2 ** min(attempt, 10), 10.0)


def sleep_unless(stop, seconds: float) -> bool:
    """Sleep, waking early when ``stop`` is set; True when it was."""
    if stop is None:
        time.sleep(seconds)
        return False
    return stop.wait(seconds)
