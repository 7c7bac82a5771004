"""Folding invocation records into metric samples, per second (Redis) and per minute (database).

A record produces samples for every dimension set AWS publishes: account-wide,
FunctionName, Resource (``name:qualifier``) and, for an alias, ExecutedVersion.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ddsketch import DDSketch
from ddsketch.pb import ddsketch_pb2
from ddsketch.pb.proto import DDSketchProto

from metrics_app.catalog import DISTRIBUTIONS, GAUGES

SKETCH_ACCURACY = 0.01

Dimensions = tuple[str, str, str]  # (function_name, resource, executed_version)
ACCOUNT: Dimensions = ("", "", "")


def dimension_sets(record: dict) -> list[Dimensions]:
    function = record.get("function") or ""
    if not function:
        return [ACCOUNT]
    sets = [ACCOUNT, (function, "", "")]
    qualifier = record.get("qualifier")
    if qualifier:
        sets.append((function, f"{function}:{qualifier}", ""))
        if record.get("alias"):
            sets.append((function, f"{function}:{qualifier}", record.get("version") or ""))
    return sets


def samples(record: dict) -> list[tuple[str, float, float]]:
    """(metric, value, at) for one record; ``at`` is when it happened (epoch seconds)."""
    kind = record.get("kind", "invocation")
    at = record.get("started_at") or record.get("at") or 0.0
    if kind == "throttle":
        return [("Throttles", 1.0, at)]
    if kind == "async_received":
        return [("AsyncEventsReceived", 1.0, at)]
    if kind == "async_dropped":
        return [("AsyncEventsDropped", 1.0, at)]
    if kind == "destination_delivery_failure":
        return [("DestinationDeliveryFailures", 1.0, at)]
    if kind == "dead_letter_error":
        return [("DeadLetterErrors", 1.0, at)]
    if kind == "iterator_age":  # a stream poller's batch: how old its newest record was
        return [("IteratorAge", float(record["age_ms"]), at)]
    if kind != "invocation":
        return []
    if record.get("outcome") == "platform_error":  # the platform's fault, not the function's
        return [("PlatformErrors", 1.0, at)]
    duration = float(record.get("duration_ms") or 0.0)
    billed = float(record.get("billed_duration_ms") or 0.0)
    memory = float(record.get("memory_size") or 128)
    out = [
        ("Invocations", 1.0, at),
        ("Errors", 0.0 if record.get("outcome") == "success" else 1.0, at),
        ("Duration", duration, at),
        ("BilledDuration", billed, at),
        ("GBSeconds", billed / 1000.0 * memory / 1024.0, at),
        ("ColdStarts", 1.0 if record.get("cold") else 0.0, at),
    ]
    if record.get("cold") and record.get("init_duration_ms") is not None:
        out.append(("InitDuration", float(record["init_duration_ms"]), at))
    if record.get("provisioned"):
        out.append(("ProvisionedConcurrencyInvocations", 1.0, at))
    if record.get("async_event_age_ms") is not None:
        out.append(("AsyncEventAge", float(record["async_event_age_ms"]), at))
    return out


@dataclass
class Bucket:
    sum: float = 0.0
    count: float = 0.0
    minimum: float | None = None
    maximum: float | None = None
    sketch: DDSketch | None = field(default=None)

    def add(self, value: float, *, distribution: bool) -> None:
        self.sum += value
        self.count += 1
        self.minimum = value if self.minimum is None else min(self.minimum, value)
        self.maximum = value if self.maximum is None else max(self.maximum, value)
        if distribution:
            if self.sketch is None:
                self.sketch = DDSketch(SKETCH_ACCURACY)
            self.sketch.add(max(value, 0.0))

    def merge(self, other: Bucket) -> None:
        self.sum += other.sum
        self.count += other.count
        for name, pick in (("minimum", min), ("maximum", max)):
            mine, theirs = getattr(self, name), getattr(other, name)
            setattr(self, name, theirs if mine is None else mine if theirs is None else pick(mine, theirs))
        if other.sketch is not None:
            if self.sketch is None:
                self.sketch = DDSketch(SKETCH_ACCURACY)
            self.sketch.merge(other.sketch)

    def stack(self, other: Bucket) -> None:
        """Add ``other``, a gauge's bucket of another function over the same period: the levels
        of functions running side by side add up, sampled in the same seconds (so the count is
        the larger one, not the sum)."""
        self.sum += other.sum
        self.count = max(self.count, other.count)
        self.minimum = _plus(self.minimum, other.minimum)
        self.maximum = _plus(self.maximum, other.maximum)


def _plus(mine: float | None, theirs: float | None) -> float | None:
    return theirs if mine is None else mine if theirs is None else mine + theirs


def account_bucket(metric: str, buckets: Iterable[Bucket]) -> Bucket:
    """An account's bucket of ``metric`` for one period, from its functions' buckets of that
    period: a gauge's stacked (``Bucket.stack``), any other metric's samples pooled. Metrics are
    kept per function and install-wide, not per account, so an account's are built this way."""
    combined = Bucket()
    for bucket in buckets:
        if metric in GAUGES:
            combined.stack(bucket)
        else:
            combined.merge(bucket)
    return combined


def sketch_dump(sketch: DDSketch | None) -> bytes | None:
    return None if sketch is None else DDSketchProto.to_proto(sketch).SerializeToString()


def sketch_load(data: bytes | memoryview | None) -> DDSketch | None:
    if not data:
        return None
    return DDSketchProto.from_proto(ddsketch_pb2.DDSketch.FromString(bytes(data)))


@dataclass
class Batch:
    """Metric buckets for a batch of records, keyed by (period start, metric, dimensions)."""

    minutes: dict[tuple[int, str, Dimensions], Bucket] = field(default_factory=lambda: defaultdict(Bucket))
    seconds: dict[tuple[int, str, str], list[float]] = field(default_factory=dict)

    def add(self, record: dict) -> None:
        dims = dimension_sets(record)
        for metric, value, at in samples(record):
            minute = int(at // 60 * 60)
            second = int(at)
            for dimensions in dims:
                self.minutes[(minute, metric, dimensions)].add(value, distribution=metric in DISTRIBUTIONS)
            for function in {dims_[0] for dims_ in dims}:
                cell = self.seconds.setdefault((second, metric, function), [0.0, 0.0, value])
                cell[0] += value
                cell[1] += 1
                cell[2] = max(cell[2], value)

    def add_gauge(self, metric: str, value: float, at: float, dimensions: Dimensions) -> None:
        """One per-second reading of a gauge (ConcurrentExecutions and the like)."""
        self.minutes[(int(at // 60 * 60), metric, dimensions)].add(value, distribution=False)
        if dimensions[1] == "":
            self.seconds[(int(at), metric, dimensions[0])] = [value, 1.0, value]


def minute_start(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)
