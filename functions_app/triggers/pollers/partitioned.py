"""Processing a partitioned log (a Stratus stream's shard, a Kafka partition) as Lambda
processes Kinesis shards:

- records are read in order from the checkpoint, in batches of BatchSize within the
  batching window; the checkpoint advances only when the whole batch is done;
- with ParallelizationFactor N, a batch is split by partition-key hash into N groups invoked
  concurrently, each in order, so records with one key never overtake each other;
- a failing group is retried (MaximumRetryAttempts, -1 = until the records expire), split in
  halves with BisectBatchOnFunctionError, retried from the lowest failed sequence number with
  ReportBatchItemFailures, and records older than MaximumRecordAgeInSeconds are not retried;
  what is given up goes to the OnFailure destination with the batch's description;
- throttles are retried without counting;
- with TumblingWindowInSeconds, records are run window by window with the window's state
  (``windows``).

A source (``PartitionSource``) only reads, checkpoints and shapes events; the same logic
serves Redis Streams and Kafka, so the Kafka path is tested on Redis Streams.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from functions_app.redis_client import redis_client
from functions_app.runtime.records import record_emit
from functions_app.triggers.filter_patterns import patterns_match
from functions_app.triggers.pollers import windows
from functions_app.triggers.pollers.base import (
    ROLE_RECHECK_SECONDS,
    BatchOutcome,
    backoff,
    batch_invoke,
    batch_item_failures,
    iso_now,
    mapping_load,
    on_failure_send,
    result_note,
    sleep_unless,
    source_denial,
)


@dataclass(frozen=True)
class LogRecord:
    position: str  # the sequence number (or offset) the function sees
    key: str  # the partition key
    data: bytes
    arrival: float  # epoch seconds


class PartitionSource(Protocol):
    label: str  # shardId-000000000000, or topic-partition

    def read(self, count: int, block_seconds: float) -> list[LogRecord]: ...

    def rewind(self) -> None:
        """Forget what was read since the last checkpoint (it will be read again)."""

    def checkpoint(self, record: LogRecord) -> None: ...

    def event(self, records: list[LogRecord]) -> dict: ...

    def filter_view(self, record: LogRecord) -> dict: ...

    def batch_info(self, records: list[LogRecord]) -> dict: ...


def _group(key: str, factor: int) -> int:
    return int.from_bytes(hashlib.md5(key.encode(), usedforsecurity=False).digest()[:4], "big") % factor


def _read_batch(source: PartitionSource, config: dict, stop) -> list[LogRecord]:
    size = config.get("BatchSize", 100)
    window = config.get("MaximumBatchingWindowInSeconds", 0)
    batch = source.read(size, 1.0)
    deadline = time.monotonic() + window
    while batch and len(batch) < size and not stop.is_set():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        batch += source.read(size - len(batch), min(remaining, 1.0))
    return batch


def run(mapping_id, source: PartitionSource, stop) -> None:
    """Process one partition until ``stop`` is set or the mapping is disabled or deleted."""
    while not stop.is_set():
        mapping = mapping_load(mapping_id)
        if mapping is None:
            return
        denial = source_denial(mapping)
        if denial is not None:
            result_note(mapping_id, f"PROBLEM: {denial}")
            if sleep_unless(stop, ROLE_RECHECK_SECONDS):
                return
            continue
        batch = _read_batch(source, mapping.config, stop)
        windowed = bool(mapping.config.get("TumblingWindowInSeconds"))
        if not batch:
            if windowed:
                windows.close_if_due(mapping, source, stop)
            continue
        filters = (mapping.config.get("FilterCriteria") or {}).get("Filters") or []
        patterns = [json.loads(entry["Pattern"]) for entry in filters]
        kept = [
            record for record in batch if not patterns or patterns_match(patterns, source.filter_view(record))
        ]
        record_emit(
            redis_client(),
            {
                "kind": "iterator_age",
                "function": mapping.function.name,
                "qualifier": mapping.qualifier or None,
                "age_ms": max(0.0, (time.time() - batch[-1].arrival) * 1000),
            },
        )
        factor = mapping.config.get("ParallelizationFactor", 1)
        groups: dict[int, list[LogRecord]] = {}
        for record in kept:
            groups.setdefault(_group(record.key, factor), []).append(record)
        if windowed:
            done = windows.process(mapping, source, kept, stop)
        elif len(groups) <= 1:
            done = all(_process(mapping, source, group, stop) for group in groups.values())
        else:
            with ThreadPoolExecutor(max_workers=len(groups)) as pool:
                futures = [
                    pool.submit(_process_in_thread, mapping, source, group, stop) for group in groups.values()
                ]
                done = all([future.result() for future in futures])
        if not done:  # stopped part-way: the next owner starts again from the checkpoint
            source.rewind()
            return
        source.checkpoint(batch[-1])


def _process_in_thread(mapping, source, records, stop) -> bool:
    from django.db import connection

    try:
        return _process(mapping, source, records, stop)
    finally:
        connection.close()


def _process(
    mapping,
    source: PartitionSource,
    records: list[LogRecord],
    stop,
    *,
    extra: Callable[[], dict] | None = None,
    succeeded: Callable[[BatchOutcome], None] | None = None,
) -> bool:
    """Run ``records`` to success or to failure handling; False only when stopped first.

    ``extra`` adds members to each invocation's event (a tumbling window's); ``succeeded`` sees
    each invocation that returned without an error."""
    config = mapping.config
    max_retries = config.get("MaximumRetryAttempts", -1)
    max_age = config.get("MaximumRecordAgeInSeconds", -1)
    bisect = config.get("BisectBatchOnFunctionError", False)
    pending: list[tuple[list[LogRecord], int]] = [(records, 0)]
    while pending:
        batch, attempts = pending.pop(0)
        if stop.is_set():
            return False
        if max_age != -1:
            expired = [record for record in batch if time.time() - record.arrival > max_age]
            if expired:
                _give_up(mapping, source, expired, "RecordAgeExceeded", attempts, None)
                batch = [record for record in batch if record not in expired]
            if not batch:
                continue
        outcome = batch_invoke(mapping, {**source.event(batch), **(extra() if extra else {})})
        if outcome.throttled:
            if sleep_unless(stop, backoff(attempts)):
                return False
            pending.insert(0, (batch, attempts))
            continue
        if outcome.ok and succeeded is not None:
            succeeded(outcome)
        failed = batch_item_failures(mapping, outcome, [record.position for record in batch])
        if failed == set():
            continue
        attempts += 1
        if failed:  # retry from the lowest failed sequence number
            first = min(index for index, record in enumerate(batch) if record.position in failed)
            retry = batch[first:]
        else:
            retry = batch
        if max_retries != -1 and attempts > max_retries:
            _give_up(mapping, source, retry, "RetryAttemptsExhausted", attempts, outcome)
            continue
        if bisect and not failed and len(retry) > 1:
            middle = len(retry) // 2
            pending[:0] = [(retry[:middle], attempts), (retry[middle:], attempts)]
            continue
        if sleep_unless(stop, backoff(attempts - 1)):
            return False
        pending.insert(0, (retry, attempts))
    return True


def _give_up(mapping, source, records, condition: str, attempts: int, outcome: BatchOutcome | None) -> None:
    body = {
        "requestContext": {
            "requestId": (outcome.request_id if outcome and outcome.request_id else str(uuid.uuid4())),
            "functionArn": mapping.function.arn(mapping.qualifier or None),
            "condition": condition,
            "approximateInvokeCount": attempts,
        },
        "responseContext": {
            "statusCode": 200,
            "executedVersion": outcome.executed_version if outcome else "",
            "functionError": (outcome.function_error if outcome else None) or "",
        },
        "version": "1.0",
        "timestamp": iso_now(),
        **source.batch_info(records),
    }
    on_failure_send(mapping, body, connection=redis_client())
