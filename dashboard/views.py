from __future__ import annotations

from datetime import UTC, datetime, timedelta

import redis
from django.db.models import Sum
from django.http import JsonResponse
from django.shortcuts import render

from dashboard.health import health_report, hosts_capacity
from functions_app.selectors import functions_of_account
from functions_app.web.access import EVERY_FUNCTION, VIEW, functions_visible, permitted, viewer_required
from metrics_app.models import InvocationRecord, MetricPoint


def healthz(request):
    report = health_report()
    return JsonResponse(report, status=503 if report["status"] == "error" else 200)


def _top(metric: str, since: datetime, functions: list[str]) -> list[dict]:
    points = MetricPoint.objects.filter(
        period=60, metric=metric, resource="", timestamp__gte=since, function_name__in=functions
    )
    return list(
        points.values("function_name").annotate(total=Sum("sum")).filter(total__gt=0).order_by("-total")[:5]
    )


@viewer_required
def home(request):
    """The overview of the account the request acts in. Someone who may see every function
    gets the account's charts; anyone else only the functions they may see, without the
    account-wide totals. Metrics and history are kept by function name (unique in the install),
    so the account's are those of its functions' names."""
    since = datetime.now(UTC) - timedelta(hours=1)
    account_wide = permitted(request, VIEW, EVERY_FUNCTION)
    if account_wide:
        functions = list(functions_of_account().values_list("name", flat=True))
    else:
        visible = functions_visible(request, functions_of_account().prefetch_related("policy_statements"))
        functions = [function.name for function in visible]
    errors = InvocationRecord.objects.exclude(outcome="success").filter(function_name__in=functions)
    return render(
        request,
        "home.html",
        {
            "account_wide": account_wide,
            "busiest": _top("Invocations", since, functions),
            "failing": _top("Errors", since, functions),
            "recent_errors": errors.order_by("-started_at")[:10],
            "hosts": _hosts() if request.user.is_superuser else [],
        },
    )


def _hosts() -> list[dict]:
    """The live hosts' capacity, for operators; empty when Redis cannot say."""
    from functions_app.redis_client import redis_client
    from functions_app.runtime.direct import workers_alive

    try:
        return hosts_capacity(workers_alive(redis_client()))
    except redis.RedisError:
        return []
