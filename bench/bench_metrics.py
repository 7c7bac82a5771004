"""Metrics benchmarks: each result is a ratio against a baseline measured in the same run.

    .venv/bin/python bench/bench_metrics.py

1. Ingestion: records per second the consumer (``consume_once`` in a loop) folds in from
   20,000 synthetic invocation records already in ``stratus:records``, vs a bare
   XREADGROUP COUNT 500 + XACK loop over the same entries in a consumer group of its own.
2. A 24-hour chart (Invocations Sum and Duration p99, period 60 and period 300) for a
   function with 10 million invocations behind it vs the same chart over 10 thousand, and
   the 10-million chart's time against a 200 ms budget. Storage holds one row per minute
   and series, so the minute buckets are built directly (a weighted DDSketch per minute)
   instead of ingesting 10 million records; rollup() then writes the 5-minute and hourly rows.

Django runs in this process against a throwaway data dir (SQLite) and Redis.
"""

from __future__ import annotations

import json
import math
import os
import random
import secrets
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dashboard.managed_redis import free_port, redis_start  # noqa: E402

RECORDS = 20_000
FUNCTIONS = ("orders", "thumbnails", "webhook", "report")
BARE_GROUP = "bench-bare"
BARE_BATCH = 500

BIG_INVOCATIONS = 10_000_000
SMALL_INVOCATIONS = 10_000
MINUTES = 24 * 60
SKETCH_POINTS = 300  # representative durations per minute of the big function
QUERY_RUNS = 15
BUDGET_MS = 200.0


@contextmanager
def django_data_stack():
    """Its own Redis and SQLite data dir, Django set up against them, removed at the end."""
    data_dir = Path(tempfile.mkdtemp(prefix="stratus-bench-metrics-"))
    port, password = free_port(), secrets.token_urlsafe(16)
    redis_process = redis_start(directory=data_dir / "redis", port=port, password=password, quiet=True)
    for name in ("DATABASE_URL", "SECRET_KEY"):
        os.environ.pop(name, None)
    os.environ.update(
        STRATUS_DATA_DIR=str(data_dir),
        REDIS_URL=f"redis://:{password}@127.0.0.1:{port}/0",
        DJANGO_SETTINGS_MODULE="dashboard.settings",
        STRATUS_LOG_LEVEL="WARNING",
    )
    try:
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0)
        yield os.environ["REDIS_URL"]
    finally:
        from django.db import connections

        connections.close_all()
        redis_process.terminate()
        redis_process.wait()
        shutil.rmtree(data_dir, ignore_errors=True)


# --- 1. Ingestion -------------------------------------------------------------------------


def _invocation_record(rng: random.Random, *, at: float) -> dict:
    """Shaped like the record functions_app/runtime/jobs.py emits for a synchronous invoke."""
    function = rng.choice(FUNCTIONS)
    duration = round(rng.lognormvariate(math.log(40), 0.8), 3)
    cold = rng.random() < 0.01
    init = round(rng.uniform(150, 400), 3) if cold else None
    qualifier = rng.choice((None, None, "live"))
    return {
        "kind": "invocation",
        "request_id": str(uuid.uuid4()),
        "function": function,
        "version": "3" if qualifier else "$LATEST",
        "qualifier": qualifier,
        "alias": qualifier,
        "trigger": "api",
        "invocation_type": "RequestResponse",
        "attempt": 1,
        "enqueued_at": at - 0.002,
        "started_at": at,
        "ended_at": at + duration / 1000,
        "queue_wait_ms": 2.0,
        "init_duration_ms": init,
        "duration_ms": duration,
        "billed_duration_ms": math.ceil(duration + (init or 0)),
        "memory_size": 512,
        "max_memory_mb": rng.randint(40, 90),
        "outcome": "success" if rng.random() > 0.005 else "error",
        "error_type": "",
        "cold": cold,
        "provisioned": False,
        "log_stream": f"2026/01/01/[$LATEST]{uuid.UUID(int=rng.getrandbits(128)).hex}",
        "worker": "bench-1",
        "request_payload": json.dumps({"order": rng.randint(1, 10**6)}),
        "response_payload": json.dumps({"ok": True}),
        "payloads_truncated": False,
        "at": at,
    }


def _records_load(connection) -> None:
    from functions_app.runtime.records import RECORDS_STREAM

    rng = random.Random(1)
    started = time.time() - 600  # the last ten minutes, about 33 records a second
    pipe = connection.pipeline(transaction=False)
    for index in range(RECORDS):
        record = _invocation_record(rng, at=started + index * 600 / RECORDS)
        pipe.xadd(RECORDS_STREAM, {"r": json.dumps(record)})
        if index % 1000 == 999:
            pipe.execute()
    pipe.execute()


def _bare_rate(connection, group: str) -> float:
    from functions_app.runtime.records import RECORDS_STREAM

    connection.xgroup_create(RECORDS_STREAM, group, id="0")
    done = 0
    started = time.perf_counter()
    while done < RECORDS:
        ((_, entries),) = connection.xreadgroup(group, "bare", {RECORDS_STREAM: ">"}, count=BARE_BATCH)
        connection.xack(RECORDS_STREAM, group, *[entry_id for entry_id, _ in entries])
        done += len(entries)
    return done / (time.perf_counter() - started)


def ingestion(redis_url: str) -> dict:
    import redis

    from metrics_app.management.commands.stratus_consumer import consume_once, groups_ensure
    from metrics_app.models import InvocationRecord

    connection = redis.Redis.from_url(redis_url)
    _records_load(connection)
    groups_ensure(connection)
    bare = statistics.median(_bare_rate(connection, f"{BARE_GROUP}-{run}") for run in range(3))
    done = 0
    started = time.perf_counter()
    while done < RECORDS:
        done += consume_once(connection, "bench")
    consumer = done / (time.perf_counter() - started)
    assert InvocationRecord.objects.count() == RECORDS
    connection.close()
    return {"consumer_per_s": consumer, "bare_per_s": bare}


# --- 2. Chart queries ---------------------------------------------------------------------


def _duration_at(quantile: float) -> float:
    """Durations (ms) are lognormal around 40 ms, as the ingestion records' are."""
    return math.exp(math.log(40) + 0.8 * statistics.NormalDist().inv_cdf(quantile))


# A busy minute as a weighted sample: SKETCH_POINTS evenly spaced quantiles, plus single
# samples as far out as the minute's own extremes would be, so that its sketch spans as
# many bins as thousands of real durations would.
_DURATION_BODY = [_duration_at((index + 0.5) / SKETCH_POINTS) for index in range(SKETCH_POINTS)]
_TAIL_RANKS = (0.5, 2, 5)


def _minute_buckets(rng: random.Random, invocations: int) -> dict:
    """The minute's buckets (metric -> Bucket) of a function invoked ``invocations`` times."""
    from ddsketch import DDSketch

    from metrics_app.aggregation import SKETCH_ACCURACY, Bucket

    scale = rng.uniform(0.85, 1.15)  # minutes differ a little, as real ones do
    if invocations > SKETCH_POINTS:
        tails = [rank / invocations for rank in _TAIL_RANKS]
        tails += [1 - quantile for quantile in tails]
        weight = (invocations - len(tails)) / SKETCH_POINTS
        durations = [(value * scale, weight) for value in _DURATION_BODY]
        durations += [(_duration_at(quantile) * scale, 1.0) for quantile in tails]
    else:
        durations = [(rng.lognormvariate(math.log(40), 0.8) * scale, 1.0) for _ in range(invocations)]
    sketch = DDSketch(SKETCH_ACCURACY)
    for value, weight in durations:
        sketch.add(value, weight)
    total = sum(value * weight for value, weight in durations)
    billed = sum(math.ceil(value) * weight for value, weight in durations)
    values = [value for value, _ in durations]
    errors = round(invocations * 0.005)
    colds = round(invocations * 0.001)
    low, high = (min(values), max(values)) if values else (None, None)
    return {
        "Invocations": Bucket(invocations, invocations, 1.0, 1.0),
        "Errors": Bucket(errors, invocations, 0.0, 1.0 if errors else 0.0),
        "Duration": Bucket(total, invocations, low, high, sketch),
        "BilledDuration": Bucket(billed, invocations, math.ceil(low or 0), math.ceil(high or 0)),
        "GBSeconds": Bucket(billed / 1000 * 512 / 1024, invocations, 0.0, 0.0),
        "ColdStarts": Bucket(colds, invocations, 0.0, 1.0 if colds else 0.0),
    }


def _spread(total: int) -> list[int]:
    """``total`` invocations over the day's minutes, as evenly as whole numbers allow."""
    return [total * (minute + 1) // MINUTES - total * minute // MINUTES for minute in range(MINUTES)]


def chart_data(now: datetime) -> None:
    """A day of minute buckets for a 10M and a 10k function (and the account), then rollups."""
    from metrics_app.aggregation import Bucket, minute_start, sketch_dump
    from metrics_app.models import MetricPoint
    from metrics_app.rollup import rollup

    rng = random.Random(2)
    first = int(now.timestamp()) // 60 * 60 - (MINUTES - 1) * 60
    rows = []
    spreads = {"busy": _spread(BIG_INVOCATIONS), "quiet": _spread(SMALL_INVOCATIONS)}
    for minute in range(MINUTES):
        timestamp = minute_start(first + minute * 60)
        account: dict[str, Bucket] = {}
        for function, spread in spreads.items():
            for metric, bucket in _minute_buckets(rng, spread[minute]).items():
                account.setdefault(metric, Bucket()).merge(bucket)
                rows.append((function, metric, timestamp, bucket))
        rows += [("", metric, timestamp, bucket) for metric, bucket in account.items()]
    MetricPoint.objects.bulk_create(
        (
            MetricPoint(
                period=60,
                timestamp=timestamp,
                metric=metric,
                function_name=function,
                sum=bucket.sum,
                count=bucket.count,
                minimum=bucket.minimum,
                maximum=bucket.maximum,
                sketch=sketch_dump(bucket.sketch),
            )
            for function, metric, timestamp, bucket in rows
        ),
        batch_size=1000,
    )
    rollup(now=now, lookback_hours=25)


def _chart(function: str, *, period: int, start: datetime, end: datetime) -> list:
    from metrics_app.selectors import SeriesQuery, metric_series

    return [
        metric_series(SeriesQuery(metric, function), statistic=statistic, period=period, start=start, end=end)
        for metric, statistic in (("Invocations", "Sum"), ("Duration", "p99"))
    ]


def chart_queries(now: datetime) -> dict:
    start, end = now - timedelta(hours=24), now
    invocations, _ = _chart("busy", period=60, start=start, end=end)
    assert sum(value for _, value in invocations) > 0.99 * BIG_INVOCATIONS
    results = {}
    for period in (60, 300):
        samples: dict[str, list[float]] = {"busy": [], "quiet": []}
        for function in samples:
            _chart(function, period=period, start=start, end=end)  # warm up
        for _ in range(QUERY_RUNS):  # interleaved, so both see the same machine
            for function, times in samples.items():
                started = time.perf_counter()
                _chart(function, period=period, start=start, end=end)
                times.append((time.perf_counter() - started) * 1000)
        results[period] = {function: statistics.median(times) for function, times in samples.items()}
    return results


def main() -> None:
    with django_data_stack() as redis_url:
        now = datetime.now(UTC)
        chart_data(now)
        rates = ingestion(redis_url)
        charts = chart_queries(now)
    rows = [
        (
            f"Ingestion, {RECORDS:,} records: consume_once loop / bare XREADGROUP+XACK",
            rates["consumer_per_s"] / rates["bare_per_s"],
            "≥ 0.3",
            f"{rates['consumer_per_s']:,.0f}/s vs {rates['bare_per_s']:,.0f}/s",
        ),
    ]
    for period, times in charts.items():
        label = f"24 h chart, period {period} (Invocations Sum + Duration p99)"
        rows += [
            (
                f"{label}: 10M invocations / {BUDGET_MS:.0f} ms budget",
                times["busy"] / BUDGET_MS,
                "≤ 1",
                f"{times['busy']:.1f} ms (median of {QUERY_RUNS})",
            ),
            (
                f"{label}: 10M / 10k invocations",
                times["busy"] / times["quiet"],
                "≤ 2",
                f"{times['busy']:.1f} ms vs {times['quiet']:.1f} ms",
            ),
        ]
    print("| Benchmark | Ratio | Target | Measured in this run |")
    print("| --- | --- | --- | --- |")
    for name, value, target, detail in rows:
        shown = f"{value:.2f}" if value >= 0.1 else f"{value:.2g}"
        print(f"| {name} | {shown} | {target} | {detail} |")


if __name__ == "__main__":
    main()
