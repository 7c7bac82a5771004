"""Pushing what was just ingested to the browsers watching it, over Channels.

One group per function (``fn.<name>``) and one for the account; each message carries one
event type (``metrics``, ``logs``, ``invocation``) that the websocket consumers relay.
"""

from __future__ import annotations

import hashlib
import logging
import re
from typing import TYPE_CHECKING

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

if TYPE_CHECKING:
    from metrics_app.ingest import Ingested

logger = logging.getLogger("stratus.live")

ACCOUNT_GROUP = "account"


def function_group(name: str) -> str:
    # Channels group names allow only ASCII letters, digits, hyphens, periods and underscores.
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    if len(safe) > 80:
        safe = safe[:60] + hashlib.sha1(name.encode()).hexdigest()[:12]
    return f"fn.{safe}"


async def _send_all(messages: list[tuple[str, dict]]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    for group, message in messages:
        try:
            await layer.group_send(group, message)
        except Exception:  # a broken live feed must never break ingestion
            logger.exception("could not publish to %s", group)


def publish(result: Ingested) -> None:
    """Send a batch's news in one pass: one message per group and kind, not per invocation."""
    messages: list[tuple[str, dict]] = []
    points: dict[str, list] = {}
    for (second, metric, function), (total, count, maximum) in result.batch.seconds.items():
        points.setdefault(function, []).append([second, metric, total, count, maximum])
    for function, rows in points.items():
        group = function_group(function) if function else ACCOUNT_GROUP
        messages.append((group, {"type": "metrics.points", "points": rows}))
    for entry in result.log_entries:
        lines = [[timestamp, message] for timestamp, message in entry.get("lines") or []]
        messages.append(
            (
                function_group(entry["function"]),
                {
                    "type": "logs.lines",
                    "stream": entry["stream"],
                    "request_id": entry.get("request_id"),
                    "lines": lines,
                },
            )
        )
    by_function: dict[str, list[dict]] = {}
    for record in result.invocations:
        by_function.setdefault(record.function_name, []).append(
            {
                "request_id": record.request_id,
                "function": record.function_name,
                "version": record.version,
                "outcome": record.outcome,
                "error_type": record.error_type,
                "cold": record.cold,
                "duration_ms": record.duration_ms,
                "started_at": record.started_at.timestamp(),
                "trigger": record.trigger,
                "invocation_type": record.invocation_type,
            }
        )
    for function, summaries in by_function.items():
        messages.append((function_group(function), {"type": "invocations.new", "invocations": summaries}))
    if by_function:
        everything = [summary for summaries in by_function.values() for summary in summaries]
        messages.append((ACCOUNT_GROUP, {"type": "invocations.new", "invocations": everything}))
    if messages:
        try:
            async_to_sync(_send_all)(messages)
        except Exception:
            logger.exception("could not publish live updates")
