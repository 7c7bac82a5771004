"""Reading metrics back: time series by statistic and period, from the right resolution."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from metrics_app.aggregation import Bucket, account_bucket, sketch_load
from metrics_app.models import MetricPoint

PERCENTILE = re.compile(r"^p(\d{1,2}(?:\.\d+)?)$")
STATISTICS = ("Sum", "SampleCount", "Average", "Minimum", "Maximum")


class BadQuery(ValueError):
    pass


def statistic_check(statistic: str) -> str:
    if statistic in STATISTICS or PERCENTILE.match(statistic):
        return statistic
    raise BadQuery(
        f"Unknown statistic {statistic!r}: use Sum, SampleCount, Average, Minimum, Maximum or pNN."
    )


def _resolutions(period: int, start: datetime, end: datetime) -> list[tuple[int, datetime, datetime]]:
    """Which stored resolution serves which part of [start, end).

    Long ranges read the 5-minute or hourly rollups up to the last period the rollup pass
    has certainly finished, and minute buckets after that; short ranges read minutes.
    """
    now = datetime.now(UTC)
    span = end - start
    for stored, threshold in ((3600, timedelta(days=7)), (300, timedelta(days=1))):
        if period % stored == 0 and span >= threshold:
            epoch = int(now.timestamp())
            boundary = datetime.fromtimestamp(epoch - epoch % stored - stored, UTC)
            if boundary <= start:
                break
            return [(stored, start, min(boundary, end)), (60, max(boundary, start), end)]
    return [(60, start, end)]


def statistic_value(bucket: Bucket, statistic: str) -> float | None:
    if bucket.count == 0:
        return 0.0 if statistic in ("Sum", "SampleCount") else None
    if statistic == "Sum":
        return bucket.sum
    if statistic == "SampleCount":
        return bucket.count
    if statistic == "Average":
        return bucket.sum / bucket.count
    if statistic == "Minimum":
        return bucket.minimum
    if statistic == "Maximum":
        return bucket.maximum
    match = PERCENTILE.match(statistic)
    if match and bucket.sketch is not None:
        return bucket.sketch.get_quantile_value(float(match.group(1)) / 100.0)
    return None


@dataclass(frozen=True)
class SeriesQuery:
    metric: str
    function_name: str = ""
    resource: str = ""
    executed_version: str = ""
    # An account's series: its functions' (their names), combined by ``account_bucket``.
    functions: tuple[str, ...] | None = None


def metric_buckets(
    query: SeriesQuery, *, period: int, start: datetime, end: datetime, with_sketch: bool = True
) -> dict[datetime, Bucket]:
    """Buckets of ``period`` seconds covering [start, end), merged from stored points."""
    if period < 60 or period % 60:
        raise BadQuery("Period must be a multiple of 60 seconds (use the live API for per-second data).")
    if query.functions is None:
        names = {"function_name": query.function_name}
    else:
        names = {"function_name__in": query.functions}
    rows = []
    for stored, part_start, part_end in _resolutions(period, start, end):
        if part_start < part_end:
            rows.append(
                MetricPoint.objects.filter(
                    period=stored,
                    metric=query.metric,
                    resource=query.resource,
                    executed_version=query.executed_version,
                    timestamp__gte=part_start,
                    timestamp__lt=part_end,
                    **names,
                )
            )
    per_function: dict[str, dict[datetime, Bucket]] = {}
    origin = int(start.timestamp())
    for part in rows:
        fields = ["function_name", "timestamp", "sum", "count", "minimum", "maximum"]
        for row in part.values_list(*fields, *(["sketch"] if with_sketch else [])):
            offset = (int(row[1].timestamp()) - origin) // period * period
            key = datetime.fromtimestamp(origin + offset, UTC)
            bucket = per_function.setdefault(row[0], {}).setdefault(key, Bucket())
            bucket.merge(Bucket(row[2], row[3], row[4], row[5], sketch_load(row[6]) if with_sketch else None))
    if len(per_function) <= 1:
        return next(iter(per_function.values()), {})
    keys = sorted({key for buckets in per_function.values() for key in buckets})
    return {
        key: account_bucket(
            query.metric, (buckets[key] for buckets in per_function.values() if key in buckets)
        )
        for key in keys
    }


def metric_series(
    query: SeriesQuery, *, statistic: str, period: int, start: datetime, end: datetime
) -> list[tuple[datetime, float]]:
    statistic_check(statistic)
    buckets = metric_buckets(
        query, period=period, start=start, end=end, with_sketch=bool(PERCENTILE.match(statistic))
    )
    series = []
    for timestamp in sorted(buckets):
        value = statistic_value(buckets[timestamp], statistic)
        if value is not None:
            series.append((timestamp, value))
    return series


def metric_names() -> list[tuple[str, str, str, str]]:
    """Every stored (metric, function, resource, executed version), for ListMetrics."""
    return list(
        MetricPoint.objects.filter(period=60)
        .values_list("metric", "function_name", "resource", "executed_version")
        .distinct()
        .order_by("metric", "function_name", "resource", "executed_version")
    )
