"""Pushing what was just ingested to the browsers watching it, over Channels.

One group per function (``fn.<name>``) and one per account (``account.<id>``); each message
carries one event type (``metrics``, ``logs``, ``invocation``) that the websocket consumers
relay. An account's group gets its functions' invocations and their metric points combined per
second (``account_bucket``); the install-wide points (no function) go to no account.
"""

from __future__ import annotations

import hashlib
import logging
import re
from typing import TYPE_CHECKING

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import DatabaseError

from functions_app.models import Function
from metrics_app.aggregation import Bucket, account_bucket

if TYPE_CHECKING:
    from metrics_app.ingest import Ingested

logger = logging.getLogger("stratus.live")


def account_group(account_id: str) -> str:
    return f"account.{account_id}"


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
        if function:
            points.setdefault(function, []).append([second, metric, total, count, maximum])
    accounts = _accounts_of(set(points) | {record.function_name for record in result.invocations})
    for function, rows in points.items():
        messages.append((function_group(function), {"type": "metrics.points", "points": rows}))
    for account, rows in _account_points(points, accounts).items():
        messages.append((account_group(account), {"type": "metrics.points", "points": rows}))
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
    by_account: dict[str, list[dict]] = {}
    for function, summaries in by_function.items():
        if function in accounts:
            by_account.setdefault(accounts[function], []).extend(summaries)
    for account, summaries in by_account.items():
        messages.append((account_group(account), {"type": "invocations.new", "invocations": summaries}))
    if messages:
        try:
            async_to_sync(_send_all)(messages)
        except Exception:
            logger.exception("could not publish live updates")


def _accounts_of(functions: set[str]) -> dict[str, str]:
    """Each function's account (a deleted function has none)."""
    if not functions:
        return {}
    try:
        return dict(Function.objects.filter(name__in=functions).values_list("name", "account_id"))
    except DatabaseError:  # a broken live feed must never break ingestion
        logger.exception("could not find the accounts of %d functions", len(functions))
        return {}


def _account_points(points: dict[str, list], accounts: dict[str, str]) -> dict[str, list]:
    """Per account: its functions' per-second points, one per second and metric."""
    buckets: dict[str, dict[tuple[int, str], list[Bucket]]] = {}
    for function, rows in points.items():
        if function not in accounts:
            continue
        mine = buckets.setdefault(accounts[function], {})
        for second, metric, total, count, maximum in rows:
            mine.setdefault((second, metric), []).append(Bucket(total, count, None, maximum))
    combined: dict[str, list] = {}
    for account, by_second in buckets.items():
        for (second, metric), parts in sorted(by_second.items()):
            bucket = account_bucket(metric, parts)
            combined.setdefault(account, []).append(
                [second, metric, bucket.sum, bucket.count, bucket.maximum]
            )
    return combined
