"""Writing metric buckets: per minute in the database, per second in Redis (the last hour)."""

from __future__ import annotations

from collections.abc import Iterable

import redis
from django.db import transaction

from metrics_app.aggregation import Batch, Bucket, account_bucket, minute_start, sketch_dump, sketch_load
from metrics_app.models import MetricPoint

SECOND_KEY = "stratus:1s:{metric}:{function}:{minute}"
SECONDS_TTL = 3600 + 120

_SECONDS_MERGE = """
for i = 1, #KEYS do
  local base = (i - 1) * 4
  local second = ARGV[base + 1]
  redis.call('HINCRBYFLOAT', KEYS[i], second .. ':s', ARGV[base + 2])
  redis.call('HINCRBYFLOAT', KEYS[i], second .. ':c', ARGV[base + 3])
  local old = tonumber(redis.call('HGET', KEYS[i], second .. ':m') or '-1e308')
  if tonumber(ARGV[base + 4]) > old then redis.call('HSET', KEYS[i], second .. ':m', ARGV[base + 4]) end
  redis.call('EXPIRE', KEYS[i], ARGV[#ARGV])
end
return #KEYS
"""


def second_key(metric: str, function: str, second: int) -> str:
    return SECOND_KEY.format(metric=metric, function=function or "*", minute=second // 60 * 60)


def bucket_merge_into(point: MetricPoint, bucket: Bucket) -> None:
    mine = Bucket(point.sum, point.count, point.minimum, point.maximum, sketch_load(point.sketch))
    mine.merge(bucket)
    point.sum, point.count, point.minimum, point.maximum = mine.sum, mine.count, mine.minimum, mine.maximum
    point.sketch = sketch_dump(mine.sketch)


def minutes_write(batch: Batch, *, period: int = 60) -> None:
    """Merge the batch's buckets into the stored ones (rows locked while they are merged)."""
    with transaction.atomic():
        _minutes_merge(batch, period=period)


def _minutes_merge(batch: Batch, *, period: int) -> None:
    for (start, metric, (function, resource, version)), bucket in sorted(batch.minutes.items()):
        timestamp = minute_start(start)
        point = (
            MetricPoint.objects.select_for_update()
            .filter(
                period=period,
                metric=metric,
                function_name=function,
                resource=resource,
                executed_version=version,
                timestamp=timestamp,
            )
            .first()
        )
        if point is None:
            point = MetricPoint(
                period=period,
                metric=metric,
                function_name=function,
                resource=resource,
                executed_version=version,
                timestamp=timestamp,
            )
        bucket_merge_into(point, bucket)
        point.save()


def seconds_write(connection: redis.Redis, batch: Batch) -> None:
    if not batch.seconds:
        return
    keys, args = [], []
    for (second, metric, function), (total, count, maximum) in batch.seconds.items():
        keys.append(second_key(metric, function, second))
        args += [second, total, count, maximum]
    args.append(SECONDS_TTL)
    connection.eval(_SECONDS_MERGE, len(keys), *keys, *args)


def seconds_read(connection: redis.Redis, *, metric: str, function: str, start: int, end: int) -> list[dict]:
    """Per-second points in [start, end] (the current, partial second included)."""
    minutes = list(range(start // 60 * 60, end + 1, 60))
    pipe = connection.pipeline(transaction=False)
    for minute in minutes:
        pipe.hgetall(SECOND_KEY.format(metric=metric, function=function or "*", minute=minute))
    points: dict[int, dict] = {}
    for fields in pipe.execute():
        for field, value in fields.items():
            second, _, part = field.decode().partition(":")
            second = int(second)
            if start <= second <= end:
                point = points.setdefault(second, {"t": second, "sum": 0.0, "count": 0.0, "max": None})
                number = float(value)
                if part == "s":
                    point["sum"] = number
                elif part == "c":
                    point["count"] = number
                else:
                    point["max"] = number
    return [points[second] for second in sorted(points)]


def account_seconds_read(
    connection: redis.Redis, *, metric: str, functions: Iterable[str], start: int, end: int
) -> list[dict]:
    """An account's per-second points in [start, end]: its functions', combined per second
    (``account_bucket``)."""
    per_second: dict[int, list[Bucket]] = {}
    for function in functions:
        for point in seconds_read(connection, metric=metric, function=function, start=start, end=end):
            bucket = Bucket(point["sum"], point["count"], None, point["max"])
            per_second.setdefault(point["t"], []).append(bucket)
    points = []
    for second in sorted(per_second):
        bucket = account_bucket(metric, per_second[second])
        points.append({"t": second, "sum": bucket.sum, "count": bucket.count, "max": bucket.maximum})
    return points


def write_batch(connection: redis.Redis, batch: Batch) -> None:
    with transaction.atomic():
        minutes_write(batch)
    seconds_write(connection, batch)
