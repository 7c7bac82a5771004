"""Ingestion: stream entries (invocation records, log lines) into history, logs and metrics.

At least once from the consumer group, exactly once in effect: the entry ids are written
in the same transaction as what they produced, and an entry already there is skipped.

A function's log group is created in the function's account on its first lines. Group names
are unique across the install for now (iam/tenancy.py), so lines whose group belongs to
another account (a ``LoggingConfig.LogGroup`` naming it) are dropped with a warning rather
than written into that account's group.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import redis
from django.db import transaction

from iam.models import default_account_id
from metrics_app import live
from metrics_app.aggregation import Batch
from metrics_app.models import IngestedEntry, InvocationRecord, LogEvent, LogGroup, LogStream
from metrics_app.storage import minutes_write, seconds_write

logger = logging.getLogger("stratus.ingest")


def _moment(epoch: float | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, UTC) if epoch else None


@dataclass
class Ingested:
    records: list[dict] = field(default_factory=list)
    invocations: list[InvocationRecord] = field(default_factory=list)
    log_entries: list[dict] = field(default_factory=list)
    batch: Batch = field(default_factory=Batch)


def _invocation(record: dict) -> InvocationRecord:
    return InvocationRecord(
        request_id=record["request_id"],
        attempt=record.get("attempt") or 1,
        redelivery=record.get("redeliveries") or 0,
        function_name=record["function"],
        version=record.get("version") or "",
        qualifier=record.get("qualifier") or "",
        alias=record.get("alias") or "",
        trigger=record.get("trigger") or "",
        invocation_type=record.get("invocation_type") or "RequestResponse",
        outcome=record.get("outcome") or "",
        error_type=record.get("error_type") or "",
        cold=bool(record.get("cold")),
        provisioned=bool(record.get("provisioned")),
        enqueued_at=_moment(record.get("enqueued_at")),
        started_at=_moment(record["started_at"]),
        ended_at=_moment(record.get("ended_at") or record["started_at"]),
        queue_wait_ms=record.get("queue_wait_ms") or 0.0,
        init_duration_ms=record.get("init_duration_ms"),
        duration_ms=record.get("duration_ms") or 0.0,
        billed_duration_ms=record.get("billed_duration_ms") or 0,
        memory_size=record.get("memory_size") or 128,
        max_memory_mb=record.get("max_memory_mb") or 0,
        async_event_age_ms=record.get("async_event_age_ms"),
        log_stream=record.get("log_stream") or "",
        worker=record.get("worker") or "",
        request_payload=record.get("request_payload") or "",
        response_payload=record.get("response_payload") or "",
        payloads_truncated=bool(record.get("payloads_truncated")),
    )


def _log_group(entry: dict) -> LogGroup | None:
    """The group ``entry``'s lines go to, created in the function's account; None when the
    group is another account's. (An entry without an account predates accounts: the default.)"""
    account = entry.get("account") or default_account_id()
    group, _ = LogGroup.objects.get_or_create(name=entry["group"], defaults={"account_id": account})
    if group.account_id != account:
        logger.warning(
            "dropped %s's log lines: log group %s belongs to another account",
            entry.get("function"),
            group.name,
        )
        return None
    return group


def _logs_store(entries: list[dict]) -> None:
    """Store the lines of ``entries``: one lookup per log group and per log stream in the
    batch, however many invocations wrote to them."""
    now_ms = int(time.time() * 1000)
    by_stream: dict[tuple[str, str, str], list[dict]] = {}
    for entry in entries:
        if entry.get("lines"):
            key = (entry["group"], entry.get("account") or "", entry["stream"])
            by_stream.setdefault(key, []).append(entry)
    groups: dict[tuple[str, str], LogGroup | None] = {}  # (name, writer's account) -> the group
    for (group_name, account, stream_name), stream_entries in by_stream.items():
        if (group_name, account) not in groups:
            groups[(group_name, account)] = _log_group(stream_entries[0])
        group = groups[(group_name, account)]
        if group is None:
            continue
        first = min(entry["lines"][0][0] for entry in stream_entries)
        last = max(entry["lines"][-1][0] for entry in stream_entries)
        stream, created = LogStream.objects.get_or_create(
            group=group, name=stream_name, defaults={"first_event_ms": first, "last_event_ms": last}
        )
        if not created:
            LogStream.objects.filter(pk=stream.pk).update(
                first_event_ms=min(stream.first_event_ms or first, first),
                last_event_ms=max(stream.last_event_ms, last),
            )
        LogEvent.objects.bulk_create(
            LogEvent(
                stream=stream,
                group=group,
                timestamp_ms=timestamp,
                ingestion_ms=now_ms,
                request_id=entry.get("request_id") or "",
                message=message,
            )
            for entry in stream_entries
            for timestamp, message in entry["lines"]
        )


def ingest(
    connection: redis.Redis, *, records: list[tuple[str, dict]], logs: list[tuple[str, dict]]
) -> Ingested:
    """Fold stream entries in; ``records`` and ``logs`` are (entry id, decoded entry) pairs."""
    result = Ingested()
    with transaction.atomic():
        seen = set(
            IngestedEntry.objects.filter(
                entry_id__in=[entry_id for entry_id, _ in records + logs]
            ).values_list("stream", "entry_id")
        )
        fresh_records = [(entry_id, r) for entry_id, r in records if ("records", entry_id) not in seen]
        fresh_logs = [(entry_id, entry) for entry_id, entry in logs if ("logs", entry_id) not in seen]
        for _, record in fresh_records:
            result.batch.add(record)
            result.records.append(record)
        result.invocations = [
            _invocation(record)
            for _, record in fresh_records
            if record.get("kind", "invocation") == "invocation"
        ]
        InvocationRecord.objects.bulk_create(result.invocations, ignore_conflicts=True)
        result.log_entries = [entry for _, entry in fresh_logs]
        _logs_store(result.log_entries)
        minutes_write(result.batch)
        IngestedEntry.objects.bulk_create(
            [IngestedEntry(stream="records", entry_id=entry_id) for entry_id, _ in fresh_records]
            + [IngestedEntry(stream="logs", entry_id=entry_id) for entry_id, _ in fresh_logs],
            ignore_conflicts=True,
        )
        # Per-second data go out before the commit, so they are never behind the minute
        # buckets; only a crash between the two could count a second twice, in live data.
        try:
            seconds_write(connection, result.batch)
        except redis.RedisError:
            logger.exception("could not write per-second metrics")
        transaction.on_commit(lambda: live.publish(result))
    return result


def decode_records(entries) -> list[tuple[str, dict]]:
    return [(entry_id.decode(), json.loads(fields[b"r"])) for entry_id, fields in entries]


def decode_logs(entries) -> list[tuple[str, dict]]:
    return [(entry_id.decode(), json.loads(fields[b"l"])) for entry_id, fields in entries]
