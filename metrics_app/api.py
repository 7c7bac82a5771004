"""``GET /api/v1/metrics``: a metric as a JSON time series (see /api/v1/openapi.json), of one
function or of the account the request acts in (``iam.tenancy``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.core.exceptions import PermissionDenied
from django.http import JsonResponse

from functions_app.arns import function_arn
from functions_app.errors import InvalidParameterValue, ResourceNotFound
from functions_app.models import Function
from functions_app.redis_client import redis_client
from functions_app.selectors import functions_of_account
from functions_app.web.access import EVERY_FUNCTION, VIEW, permitted
from iam.tenancy import current_account
from metrics_app.catalog import METRICS, POOL_METRICS
from metrics_app.selectors import BadQuery, SeriesQuery, metric_series, statistic_check
from metrics_app.storage import account_seconds_read, seconds_read

MAX_POINTS = 5000


def _moment(raw: str | None, default: datetime) -> datetime:
    if not raw:
        return default
    try:
        return datetime.fromtimestamp(float(raw), UTC)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidParameterValue(f"{raw!r} is neither an ISO-8601 time nor epoch seconds.") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _scope_check(request, function_name: str) -> None:
    """One function's series needs view_function on it; the account's, or a name no function
    has now (a deleted function's history), on every function. Another account's function is
    not found."""
    function = functions_of_account().filter(name=function_name).first() if function_name else None
    if function is None and function_name and Function.objects.filter(name=function_name).exists():
        raise ResourceNotFound(f"Function not found: {function_arn(function_name)}")
    if not permitted(request, VIEW, function or EVERY_FUNCTION):
        scope = f"on {function_name}" if function is not None else "on every function"
        raise PermissionDenied(f"You need the {VIEW} permission {scope}.")


def _account_functions(metric: str) -> tuple[str, ...] | None:
    """The functions whose series make up the account's ``metric`` (metrics are kept per
    function and install-wide, not per account); None for the install-wide series: a gauge of
    the shared concurrency pool, or outside any account."""
    if metric in POOL_METRICS or current_account() is None:
        return None
    return tuple(functions_of_account().values_list("name", flat=True))


def metrics(request):
    metric = request.GET.get("metric", "Invocations")
    if metric not in METRICS:
        raise InvalidParameterValue(f"Unknown metric {metric!r}; known: {', '.join(sorted(METRICS))}.")
    statistic = request.GET.get("statistic") or METRICS[metric][1]
    try:
        statistic_check(statistic)
        period = int(request.GET.get("period", "60"))
    except (BadQuery, ValueError) as exc:
        raise InvalidParameterValue(str(exc)) from None
    now = datetime.now(UTC)
    end = _moment(request.GET.get("end"), now)
    start = _moment(request.GET.get("start"), end - timedelta(hours=1))
    if start >= end:
        raise InvalidParameterValue("start must be before end.")
    function = request.GET.get("function", "")
    _scope_check(request, function)
    qualifier = request.GET.get("qualifier", "")
    functions = None if function else _account_functions(metric)
    body = {
        "metric": metric,
        "statistic": statistic,
        "period": period,
        "function": function or None,
        "qualifier": qualifier or None,
        "unit": METRICS[metric][0],
        "start": start.isoformat(),
        "end": end.isoformat(),
    }
    if period == 1:
        if qualifier:
            raise InvalidParameterValue(
                "Per-second data exist per function and account-wide, not per qualifier."
            )
        if end - start > timedelta(hours=1):
            raise InvalidParameterValue("Per-second data cover the last hour only; use period=60 or more.")
        seconds = {"metric": metric, "start": int(start.timestamp()), "end": int(end.timestamp())}
        if functions is None:
            points = seconds_read(redis_client(), function=function, **seconds)
        else:
            points = account_seconds_read(redis_client(), functions=functions, **seconds)
        body["points"] = [
            {"t": datetime.fromtimestamp(point["t"], UTC).isoformat(), "v": _second_value(point, statistic)}
            for point in points
        ]
        return JsonResponse(body)
    if (end - start).total_seconds() / max(period, 1) > MAX_POINTS:
        raise InvalidParameterValue(f"That would be more than {MAX_POINTS} points; use a longer period.")
    query = SeriesQuery(
        metric=metric,
        function_name=function,
        resource=f"{function}:{qualifier}" if qualifier else "",
        functions=functions,
    )
    try:
        series = metric_series(query, statistic=statistic, period=period, start=start, end=end)
    except BadQuery as exc:
        raise InvalidParameterValue(str(exc)) from None
    body["points"] = [{"t": timestamp.isoformat(), "v": value} for timestamp, value in series]
    return JsonResponse(body)


def _second_value(point: dict, statistic: str) -> float | None:
    if statistic == "Sum":
        return point["sum"]
    if statistic == "SampleCount":
        return point["count"]
    if statistic == "Maximum":
        return point["max"]
    if statistic == "Average":
        return point["sum"] / point["count"] if point["count"] else None
    return point["max"]  # per-second data keep no sketch; the maximum stands in for percentiles
