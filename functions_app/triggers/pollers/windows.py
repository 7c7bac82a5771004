"""Tumbling windows (TumblingWindowInSeconds) over a stream shard, as Lambda runs them for Kinesis.

Records are grouped into fixed, non-overlapping windows by their arrival time. Each invocation
gets the window (``start``, ``end``), the ``state`` the previous invocation in that window
returned (``{"state": {...}}``), ``shardId`` and ``eventSourceARN``; once the window has closed,
a final invocation with ``isFinalInvokeForWindow: true`` and no records gets the aggregated
state. A state larger than 1 MB ends the window early (``isWindowTerminatedEarly``). The open
window and its state are kept in Redis per mapping and shard, so a poller that takes a shard
over carries on with them.
"""

from __future__ import annotations

import json
import logging
import math
import time
from datetime import UTC, datetime
from itertools import groupby

from functions_app.redis_client import redis_client
from functions_app.triggers.pollers.base import BatchOutcome, backoff, batch_invoke, sleep_unless

logger = logging.getLogger("stratus.pollers")

STATE_MAX_BYTES = 1024 * 1024


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Window:
    """The shard's open window and the state its invocations have built."""

    def __init__(self, mapping, source) -> None:
        self.redis = redis_client()
        self.key = f"stratus:esm:{mapping.uuid}:window:{source.label}"
        self.seconds = mapping.config["TumblingWindowInSeconds"]
        self.shard = source.label
        self.arn = getattr(source, "arn", "")
        saved = self.redis.hgetall(self.key)
        self.start: float | None = float(saved[b"start"]) if saved else None
        self.state: dict = json.loads(saved[b"state"]) if saved else {}
        self.terminated_early = False

    def start_for(self, arrival: float) -> float:
        return math.floor(arrival / self.seconds) * self.seconds

    @property
    def end(self) -> float:
        return (self.start or 0) + self.seconds

    def fields(self, *, final: bool) -> dict:
        return {
            "window": {"start": _iso(self.start or 0), "end": _iso(self.end)},
            "state": self.state,
            "shardId": self.shard,
            "eventSourceARN": self.arn,
            "isFinalInvokeForWindow": final,
            "isWindowTerminatedEarly": final and self.terminated_early,
        }

    def absorb(self, outcome: BatchOutcome) -> None:
        """Keep the state a successful invocation returned."""
        try:
            response = json.loads(outcome.payload) if outcome.payload.strip() else None
        except ValueError:
            return
        state = response.get("state") if isinstance(response, dict) else None
        if isinstance(state, dict):
            self.state = state
            self.terminated_early = len(json.dumps(state)) > STATE_MAX_BYTES

    def open(self, start: float) -> None:
        self.start, self.state, self.terminated_early = start, {}, False

    def save(self) -> None:
        self.redis.hset(self.key, mapping={"start": self.start or 0, "state": json.dumps(self.state)})

    def clear(self) -> None:
        self.redis.delete(self.key)
        self.start, self.state, self.terminated_early = None, {}, False


def process(mapping, source, records, stop) -> bool:
    """Run a batch's records window by window; False only when stopped first."""
    from functions_app.triggers.pollers.partitioned import _process

    window = Window(mapping, source)
    for start, segment in groupby(records, key=lambda record: window.start_for(record.arrival)):
        if window.start is not None and start > window.start and not _finish(mapping, window, stop):
            return False
        if window.start is None or start > window.start:
            window.open(start)
        done = _process(
            mapping,
            source,
            list(segment),
            stop,
            extra=lambda: window.fields(final=False),
            succeeded=window.absorb,
        )
        if not done:
            return False
        window.save()
        if window.terminated_early and not _finish(mapping, window, stop):
            return False
    return True


def close_if_due(mapping, source, stop) -> None:
    """With nothing left to read, finish the open window once its end has passed."""
    window = Window(mapping, source)
    if window.start is not None and time.time() >= window.end:
        _finish(mapping, window, stop)


def _finish(mapping, window: Window, stop) -> bool:
    """The window's final invocation; retried like a batch, then the window is closed."""
    max_retries = mapping.config.get("MaximumRetryAttempts", -1)
    attempts = 0
    while True:
        outcome = batch_invoke(mapping, {"Records": [], **window.fields(final=True)})
        if outcome.ok:
            break
        if not outcome.throttled:
            attempts += 1
            if max_retries != -1 and attempts > max_retries:
                logger.warning("mapping %s: gave up the final invocation of a window", mapping.uuid)
                break
        if sleep_unless(stop, backoff(attempts)):
            return False
    window.clear()
    return True
