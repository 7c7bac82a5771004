"""Rolling minute buckets up to 5 minutes and 1 hour, and applying retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from metrics_app.aggregation import Bucket, sketch_load
from metrics_app.models import IngestedEntry, InvocationRecord, LogEvent, LogGroup, MetricPoint
from metrics_app.storage import bucket_merge_into

ROLLUPS = ((60, 300), (300, 3600))


def _floor(moment: datetime, period: int) -> datetime:
    epoch = int(moment.timestamp())
    return datetime.fromtimestamp(epoch - epoch % period, UTC)


def rollup(*, now: datetime | None = None, lookback_hours: int = 3) -> int:
    """Recompute the coarser buckets of recently finished periods from the finer ones.

    Rebuilding a coarse bucket from scratch (not adding to it) keeps this idempotent: it
    may run as often as needed, from any number of consumers.
    """
    now = now or timezone.now()
    written = 0
    for source, target in ROLLUPS:
        end = _floor(now, target)
        start = end - timedelta(hours=lookback_hours)
        groups: dict[tuple, Bucket] = {}
        rows = MetricPoint.objects.filter(period=source, timestamp__gte=start, timestamp__lt=end)
        for row in rows.iterator():
            key = (
                _floor(row.timestamp, target),
                row.metric,
                row.function_name,
                row.resource,
                row.executed_version,
            )
            bucket = groups.setdefault(key, Bucket())
            bucket.merge(Bucket(row.sum, row.count, row.minimum, row.maximum, sketch_load(row.sketch)))
        with transaction.atomic():
            for (timestamp, metric, function, resource, version), bucket in groups.items():
                point = MetricPoint(
                    period=target,
                    timestamp=timestamp,
                    metric=metric,
                    function_name=function,
                    resource=resource,
                    executed_version=version,
                )
                bucket_merge_into(point, bucket)
                MetricPoint.objects.update_or_create(
                    period=target,
                    timestamp=timestamp,
                    metric=metric,
                    function_name=function,
                    resource=resource,
                    executed_version=version,
                    defaults={
                        "sum": point.sum,
                        "count": point.count,
                        "minimum": point.minimum,
                        "maximum": point.maximum,
                        "sketch": point.sketch,
                    },
                )
                written += 1
    return written


def retention_apply(*, now: datetime | None = None) -> dict[str, int]:
    now = now or timezone.now()
    deleted = {}
    for period, days in settings.STRATUS_METRICS_RETENTION_DAYS.items():
        deleted[f"metrics_{period}s"] = MetricPoint.objects.filter(
            period=period, timestamp__lt=now - timedelta(days=days)
        ).delete()[0]
    deleted["invocations"] = InvocationRecord.objects.filter(
        started_at__lt=now - timedelta(days=settings.STRATUS_INVOCATION_RETENTION_DAYS)
    ).delete()[0]
    deleted["ingested_entries"] = IngestedEntry.objects.filter(
        ingested_at__lt=now - timedelta(days=1)
    ).delete()[0]
    logs = 0
    for group in LogGroup.objects.all():
        days = group.retention_days or settings.STRATUS_LOG_RETENTION_DAYS
        cutoff_ms = int((now - timedelta(days=days)).timestamp() * 1000)
        logs += LogEvent.objects.filter(group=group, timestamp_ms__lt=cutoff_ms).delete()[0]
    deleted["log_events"] = logs
    return deleted
