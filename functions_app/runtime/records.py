"""Invocation records and log lines, appended to Redis streams for the metrics app.

Appends are capped (approximate MAXLEN), so a stopped consumer can never make Redis grow
without bound or block a worker.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import redis
from redis.client import Pipeline

logger = logging.getLogger("stratus.records")

RECORDS_STREAM = "stratus:records"
LOGS_STREAM = "stratus:logs"
STREAM_MAXLEN = 200_000


def record_append(pipeline: Pipeline, record: dict[str, Any]) -> None:
    """Queue the record's XADD on ``pipeline`` (the caller executes it)."""
    record.setdefault("kind", "invocation")
    record.setdefault("at", time.time())
    pipeline.xadd(RECORDS_STREAM, {"r": json.dumps(record)}, maxlen=STREAM_MAXLEN, approximate=True)


def record_emit(connection: redis.Redis, record: dict[str, Any]) -> None:
    record.setdefault("kind", "invocation")
    record.setdefault("at", time.time())
    try:
        connection.xadd(RECORDS_STREAM, {"r": json.dumps(record)}, maxlen=STREAM_MAXLEN, approximate=True)
    except redis.RedisError:
        logger.exception("could not append the invocation record of %s", record.get("request_id"))


def logs_append(
    pipeline: Pipeline,
    *,
    function_name: str,
    account_id: str,
    log_group: str,
    log_stream: str,
    request_id: str,
    lines: list[tuple[int, str]],
) -> None:
    """Queue the XADD of a run's log lines on ``pipeline`` for the metrics consumer, which
    files them under ``log_group`` (created in the function's account, ``account_id``, on its
    first lines)."""
    entry = {
        "function": function_name,
        "account": account_id,
        "group": log_group,
        "stream": log_stream,
        "request_id": request_id,
        "lines": lines,
    }
    pipeline.xadd(LOGS_STREAM, {"l": json.dumps(entry)}, maxlen=STREAM_MAXLEN, approximate=True)
