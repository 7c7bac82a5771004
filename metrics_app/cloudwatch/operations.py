"""GetMetricStatistics, GetMetricData and ListMetrics over Stratus's stored Lambda metrics.

Each operation takes the decoded request (model member names -> Python values) and returns
the result in the same form; the protocols do the wire. Metrics are read only through
``metrics_app.selectors``.

Dimensions are those AWS Lambda publishes, as exact sets: none (account-wide),
``FunctionName``, ``FunctionName`` + ``Resource``, and ``FunctionName`` + ``Resource`` +
``ExecutedVersion``. Like CloudWatch, a set that was never published, another namespace or a
unit other than the metric's own is not an error: it simply has no data.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from metrics_app.aggregation import Bucket
from metrics_app.catalog import METRICS, NAMESPACE
from metrics_app.cloudwatch.errors import (
    CloudWatchError,
    InvalidNextToken,
    InvalidParameterCombination,
    InvalidParameterValue,
    MissingParameter,
    ValidationError,
)
from metrics_app.selectors import (
    PERCENTILE,
    STATISTICS,
    SeriesQuery,
    metric_buckets,
    metric_names,
    statistic_value,
)

MAX_STATISTICS_DATAPOINTS = 1440
MAX_DATA_DATAPOINTS = 100_800
MAX_QUERIES = 500
LIST_PAGE_SIZE = 500
SCAN_ORDERS = ("TimestampDescending", "TimestampAscending")
_METRIC_ID = re.compile(r"^[a-z][a-zA-Z0-9_]*$")
_DIMENSION_ORDER = ("FunctionName", "Resource", "ExecutedVersion")
_PUBLISHED_DIMENSIONS = {
    (),
    ("FunctionName",),
    ("FunctionName", "Resource"),
    ("FunctionName", "Resource", "ExecutedVersion"),
}

ErrorClass = type[CloudWatchError]


def _required(params: dict, name: str, *, path: str | None = None):
    value = params.get(name)
    if value is None or value == "" or value == []:
        raise MissingParameter(f"The parameter {path or name} is required.")
    return value


def _unit(metric: str) -> str:
    return METRICS[metric][0] if metric in METRICS else "None"


def _period(value: int, *, path: str, error: ErrorClass) -> int:
    # Stratus keeps Lambda metrics at one-minute resolution, like AWS's standard metrics.
    if value < 60 or value % 60:
        raise error(f"The parameter {path} must be a positive multiple of 60, not {value}.")
    return value


def _window(params: dict, *, error: ErrorClass) -> tuple[datetime, datetime]:
    """[StartTime, EndTime), StartTime rounded down as CloudWatch rounds it for its age."""
    start, end = _required(params, "StartTime"), _required(params, "EndTime")
    if start >= end:
        raise error("The parameter StartTime must be less than the parameter EndTime.")
    age = datetime.now(UTC) - start
    step = 60 if age <= timedelta(days=15) else 300 if age <= timedelta(days=63) else 3600
    epoch = int(start.timestamp())
    return datetime.fromtimestamp(epoch - epoch % step, UTC), end


def _series_query(
    namespace: str, metric: str, dimensions: list[dict], *, path: str, error: ErrorClass
) -> SeriesQuery | None:
    """The stored series a CloudWatch metric names, or None if Stratus never publishes it."""
    values: dict[str, str] = {}
    for index, dimension in enumerate(dimensions, 1):
        name = _required(dimension, "Name", path=f"{path}.member.{index}.Name")
        value = _required(dimension, "Value", path=f"{path}.member.{index}.Value")
        if name in values:
            raise error(f"The parameter {path} must not name the dimension {name} twice.")
        values[name] = value
    names = tuple(name for name in _DIMENSION_ORDER if name in values)
    if namespace != NAMESPACE or len(names) != len(values) or names not in _PUBLISHED_DIMENSIONS:
        return None
    return SeriesQuery(
        metric=metric,
        function_name=values.get("FunctionName", ""),
        resource=values.get("Resource", ""),
        executed_version=values.get("ExecutedVersion", ""),
    )


def _statistic(bucket: Bucket, statistic: str) -> float | None:
    value = statistic_value(bucket, statistic)
    if value is None and PERCENTILE.match(statistic) and bucket.count and bucket.minimum == bucket.maximum:
        # Without a sketch a percentile is still known when every value was the same: CloudWatch
        # answers percentiles of statistic sets under the same condition.
        value = bucket.minimum
    return None if value is None else float(value)


def _token(position: tuple[int, ...]) -> str:
    return base64.urlsafe_b64encode(":".join(map(str, position)).encode()).decode()


def _position(token: str | None, size: int) -> tuple[int, ...]:
    if not token:
        return (0,) * size
    try:
        position = tuple(int(part) for part in base64.urlsafe_b64decode(token.encode()).decode().split(":"))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        position = ()
    if len(position) != size or min(position) < 0:
        raise InvalidNextToken(f"The NextToken {token!r} is not one this server issued.")
    return position


# --- GetMetricStatistics --------------------------------------------------------------------


def metric_statistics_get(params: dict) -> dict:
    """CloudWatch GetMetricStatistics: one metric, one datapoint per period that has data."""
    namespace = _required(params, "Namespace")
    metric = _required(params, "MetricName")
    statistics = params.get("Statistics") or []
    extended = params.get("ExtendedStatistics") or []
    if statistics and extended:
        raise InvalidParameterCombination(
            "The parameters Statistics and ExtendedStatistics are mutually exclusive; specify one of them."
        )
    if not statistics and not extended:
        raise MissingParameter("The parameter Statistics or ExtendedStatistics is required.")
    for index, statistic in enumerate(statistics, 1):
        if statistic not in STATISTICS:
            raise InvalidParameterValue(
                f"The parameter Statistics.member.{index} must be a value in the set "
                f"[ {', '.join(STATISTICS)} ], not {statistic!r}."
            )
    for index, statistic in enumerate(extended, 1):
        if not PERCENTILE.match(statistic):
            raise InvalidParameterValue(
                f"The parameter ExtendedStatistics.member.{index} must be a percentile from p0 to p99.99 "
                f"(the extended statistics Stratus computes), not {statistic!r}."
            )
    period = _period(_required(params, "Period"), path="Period", error=InvalidParameterValue)
    start, end = _window(params, error=InvalidParameterValue)
    requested = math.ceil((end - start).total_seconds() / period)
    if requested > MAX_STATISTICS_DATAPOINTS:
        raise InvalidParameterCombination(
            f"You have requested up to {requested:,} datapoints, which exceeds the limit of "
            f"{MAX_STATISTICS_DATAPOINTS:,}. You may reduce the datapoints requested by increasing Period, "
            "or decreasing the time range."
        )
    query = _series_query(
        namespace, metric, params.get("Dimensions") or [], path="Dimensions", error=InvalidParameterValue
    )
    unit = _unit(metric)
    if query is None or params.get("Unit", unit) != unit:
        return {"Label": metric, "Datapoints": []}

    buckets = metric_buckets(query, period=period, start=start, end=end, with_sketch=bool(extended))
    datapoints = []
    for timestamp in sorted(buckets):
        bucket = buckets[timestamp]
        if not bucket.count:
            continue
        point: dict = {"Timestamp": timestamp, "Unit": unit}
        for statistic in statistics:
            point[statistic] = _statistic(bucket, statistic)
        if extended:
            point["ExtendedStatistics"] = {
                statistic: value
                for statistic in extended
                if (value := _statistic(bucket, statistic)) is not None
            }
        datapoints.append(point)
    return {"Label": metric, "Datapoints": datapoints}


# --- GetMetricData --------------------------------------------------------------------------


def _data_query_check(spec: dict, index: int, seen: set[str]) -> None:
    path = f"MetricDataQueries.member.{index}"
    metric_id = _required(spec, "Id", path=f"{path}.Id")
    if not _METRIC_ID.match(metric_id):
        raise ValidationError(
            f"The value {metric_id} for parameter {path}.Id is not matching the expected pattern "
            "^[a-z][a-zA-Z0-9_]*$."
        )
    if metric_id in seen:
        raise ValidationError(f"The value {metric_id} for parameter {path}.Id is used by another query.")
    seen.add(metric_id)
    if spec.get("Expression") is not None:
        raise ValidationError(
            f"Metric math and Metrics Insights expressions are not supported by Stratus ({path}.Expression); "
            "use MetricStat."
        )
    stat = _required(spec, "MetricStat", path=f"{path}.MetricStat")
    metric = _required(stat, "Metric", path=f"{path}.MetricStat.Metric")
    _required(metric, "MetricName", path=f"{path}.MetricStat.Metric.MetricName")
    _required(metric, "Namespace", path=f"{path}.MetricStat.Metric.Namespace")
    _period(
        _required(stat, "Period", path=f"{path}.MetricStat.Period"),
        path=f"{path}.MetricStat.Period",
        error=ValidationError,
    )
    statistic = _required(stat, "Stat", path=f"{path}.MetricStat.Stat")
    if statistic not in STATISTICS and not PERCENTILE.match(statistic):
        raise ValidationError(
            f"The value {statistic} for parameter {path}.MetricStat.Stat is not a statistic Stratus computes: "
            f"use one of {', '.join(STATISTICS)} or a percentile pNN."
        )


def _data_series(spec: dict, index: int, *, start: datetime, end: datetime) -> list[tuple[datetime, float]]:
    stat = spec["MetricStat"]
    metric = stat["Metric"]
    query = _series_query(
        metric["Namespace"],
        metric["MetricName"],
        metric.get("Dimensions") or [],
        path=f"MetricDataQueries.member.{index}.MetricStat.Metric.Dimensions",
        error=ValidationError,
    )
    if query is None or stat.get("Unit", _unit(metric["MetricName"])) != _unit(metric["MetricName"]):
        return []
    statistic = stat["Stat"]
    buckets = metric_buckets(
        query, period=stat["Period"], start=start, end=end, with_sketch=bool(PERCENTILE.match(statistic))
    )
    series = []
    for timestamp in sorted(buckets):
        if buckets[timestamp].count and (value := _statistic(buckets[timestamp], statistic)) is not None:
            series.append((timestamp, value))
    return series


def metric_data_get(params: dict) -> dict:
    """CloudWatch GetMetricData for MetricStat queries, paged by MaxDatapoints and NextToken."""
    specs = _required(params, "MetricDataQueries")
    if len(specs) > MAX_QUERIES:
        raise ValidationError(
            f"The collection MetricDataQueries must not have more than {MAX_QUERIES} members."
        )
    seen: set[str] = set()
    for index, spec in enumerate(specs, 1):
        _data_query_check(spec, index, seen)
    start, end = _window(params, error=ValidationError)
    scan_by = params.get("ScanBy") or "TimestampDescending"
    if scan_by not in SCAN_ORDERS:
        raise ValidationError(f"The parameter ScanBy must be one of {', '.join(SCAN_ORDERS)}.")
    budget = params.get("MaxDatapoints") or MAX_DATA_DATAPOINTS
    if budget < 1:
        raise ValidationError("The parameter MaxDatapoints must be greater than 0.")
    first, first_offset = _position(params.get("NextToken"), 2)

    results: list[dict] = []
    next_token = None
    for index, spec in enumerate(specs, 1):
        if index - 1 < first or spec.get("ReturnData") is False:
            continue
        series = _data_series(spec, index, start=start, end=end)
        if scan_by == "TimestampDescending":
            series.reverse()
        offset = first_offset if index - 1 == first else 0
        page = series[offset : offset + budget]
        budget -= len(page)
        complete = offset + len(page) >= len(series)
        results.append(
            {
                "Id": spec["Id"],
                "Label": spec.get("Label") or spec["MetricStat"]["Metric"]["MetricName"],
                "Timestamps": [timestamp for timestamp, _ in page],
                "Values": [value for _, value in page],
                "StatusCode": "Complete" if complete else "PartialData",
            }
        )
        if not complete:
            next_token = _token((index - 1, offset + len(page)))
            break
    return {"MetricDataResults": results, "NextToken": next_token, "Messages": []}


# --- ListMetrics ----------------------------------------------------------------------------


def metrics_list(params: dict) -> dict:
    """CloudWatch ListMetrics: every stored metric and dimension set, filtered, 500 a page."""
    namespace = params.get("Namespace")
    if namespace is not None and namespace != NAMESPACE:
        return {"Metrics": []}
    name = params.get("MetricName")
    filters = params.get("Dimensions") or []
    for index, wanted in enumerate(filters, 1):
        _required(wanted, "Name", path=f"Dimensions.member.{index}.Name")
    recently = params.get("RecentlyActive")
    if recently is not None and recently != "PT3H":
        raise InvalidParameterValue("The parameter RecentlyActive must be PT3H.")

    metrics = []
    for metric, function, resource, version in metric_names():
        if name and metric != name:
            continue
        dimensions = [
            {"Name": dimension, "Value": value}
            for dimension, value in zip(_DIMENSION_ORDER, (function, resource, version), strict=True)
            if value
        ]
        if all(
            any(
                have["Name"] == wanted["Name"] and wanted.get("Value") in (None, have["Value"])
                for have in dimensions
            )
            for wanted in filters
        ):
            metrics.append({"Namespace": NAMESPACE, "MetricName": metric, "Dimensions": dimensions})
    (offset,) = _position(params.get("NextToken"), 1)
    page = metrics[offset : offset + LIST_PAGE_SIZE]
    more = offset + LIST_PAGE_SIZE < len(metrics)
    return {"Metrics": page, "NextToken": _token((offset + LIST_PAGE_SIZE,)) if more else None}


OPERATIONS: dict[str, Callable[[dict], dict]] = {
    "GetMetricStatistics": metric_statistics_get,
    "GetMetricData": metric_data_get,
    "ListMetrics": metrics_list,
}
