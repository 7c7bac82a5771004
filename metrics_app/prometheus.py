"""``GET /metrics``: the platform and per-function numbers in Prometheus's exposition format."""

from __future__ import annotations

import redis
from django.db.models import Sum
from django.http import HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from functions_app.redis_client import redis_client
from functions_app.runtime import direct
from functions_app.runtime.events import ASYNC_QUEUE
from functions_app.runtime.records import LOGS_STREAM, RECORDS_STREAM
from metrics_app.models import MetricPoint

_COUNTERS = (
    ("Invocations", "stratus_function_invocations", "Invocations, errors included (throttles excluded)"),
    ("Errors", "stratus_function_errors", "Function and runtime errors, timeouts included"),
    ("Throttles", "stratus_function_throttles", "Invocations refused for lack of concurrency"),
    ("ColdStarts", "stratus_function_cold_starts", "Invocations that started an execution environment"),
    ("AsyncEventsReceived", "stratus_function_async_events_received", "Events accepted for async invocation"),
    ("AsyncEventsDropped", "stratus_function_async_events_dropped", "Events that ended in failure handling"),
    ("PlatformErrors", "stratus_function_platform_errors", "Runs a host could not make (code it could not fetch)"),
)


class _StratusCollector:
    def __init__(self, connection: redis.Redis) -> None:
        self.connection = connection

    def collect(self):
        connection = self.connection
        depth = GaugeMetricFamily(
            "stratus_queue_depth", "Invocations waiting for a host, by queue", labels=["queue"]
        )
        depth.add_metric(["direct"], connection.llen(direct.SHARED_LIST))
        depth.add_metric([ASYNC_QUEUE], connection.llen(f"rq:queue:{ASYNC_QUEUE}"))
        yield depth
        alive = direct.workers_alive(connection)
        yield GaugeMetricFamily("stratus_workers", "Live Stratus workers", value=len(alive))
        environments = GaugeMetricFamily(
            "stratus_environments", "Execution environments by state", labels=["state"]
        )
        for state in ("idle", "busy", "provisioned"):
            environments.add_metric([state], sum(status.get(state, 0) for status in alive.values()))
        yield environments
        lag = GaugeMetricFamily(
            "stratus_ingestion_pending", "Stream entries not yet ingested", labels=["stream"]
        )
        for stream in (RECORDS_STREAM, LOGS_STREAM):
            pending = 0
            try:
                for group in connection.xinfo_groups(stream):
                    pending += (group.get("lag") or 0) + (group.get("pending") or 0)
            except redis.ResponseError:
                pending = connection.xlen(stream)
            lag.add_metric([stream], pending)
        yield lag
        totals = (
            MetricPoint.objects.filter(period=60, resource="", metric__in=[name for name, _, _ in _COUNTERS])
            .exclude(function_name="")
            .values("metric", "function_name")
            .annotate(total=Sum("sum"))
        )
        by_metric: dict[str, list[tuple[str, float]]] = {}
        for row in totals:
            by_metric.setdefault(row["metric"], []).append((row["function_name"], row["total"]))
        for metric, name, help_text in _COUNTERS:
            family = CounterMetricFamily(
                name, f"{help_text} (within the 1-minute retention)", labels=["function"]
            )
            for function, total in by_metric.get(metric, []):
                family.add_metric([function], total)
            yield family


def prometheus_metrics(request):
    registry = CollectorRegistry()
    registry.register(_StratusCollector(redis_client()))
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
