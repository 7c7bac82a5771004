from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.db.models import Sum
from django.http import JsonResponse
from django.shortcuts import render

from dashboard.health import health_report
from functions_app.web.access import viewer_required
from metrics_app.models import InvocationRecord, MetricPoint


def healthz(request):
    report = health_report()
    return JsonResponse(report, status=200 if report["status"] == "ok" else 503)


def _top(metric: str, since: datetime) -> list[dict]:
    return list(
        MetricPoint.objects.filter(period=60, metric=metric, resource="", timestamp__gte=since)
        .exclude(function_name="")
        .values("function_name")
        .annotate(total=Sum("sum"))
        .filter(total__gt=0)
        .order_by("-total")[:5]
    )


@viewer_required
def home(request):
    since = datetime.now(UTC) - timedelta(hours=1)
    return render(
        request,
        "home.html",
        {
            "busiest": _top("Invocations", since),
            "failing": _top("Errors", since),
            "recent_errors": InvocationRecord.objects.exclude(outcome="success").order_by("-started_at")[:10],
        },
    )
