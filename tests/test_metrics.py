"""Metrics: what the consumer makes of real invocations, percentiles, idempotence, rollups, retention."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
import redis
from django.conf import settings

from metrics_app.aggregation import Batch
from metrics_app.ingest import ingest
from metrics_app.models import InvocationRecord, MetricPoint
from metrics_app.rollup import retention_apply, rollup
from metrics_app.selectors import SeriesQuery, metric_series
from metrics_app.storage import minutes_write
from tests.conftest import make_zip, signed_get

FLAKY_PY = """
def handler(event, context):
    if event.get("fail"):
        raise ValueError("asked to fail")
    return "ok"
"""


def _series(live_server_url, access_key, **params) -> list[dict]:
    query = "&".join(f"{name}={value}" for name, value in params.items())
    return signed_get(live_server_url, access_key, f"/api/v1/metrics?{query}")["points"]


def _total(points) -> float:
    return sum(point["v"] or 0 for point in points)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("stratus_workers", "stratus_consumer")
def test_it_counts_invocations_errors_throttles_and_durations_made_through_the_api(
    lambda_client, create_function, live_server_url, access_key
):
    create_function("metered", Code={"ZipFile": make_zip({"lambda_function.py": FLAKY_PY})})
    for fail in (False, False, False, True, True):
        lambda_client.invoke(FunctionName="metered", Payload=json.dumps({"fail": fail}).encode())
    create_function("metered-throttled")
    lambda_client.put_function_concurrency(FunctionName="metered-throttled", ReservedConcurrentExecutions=0)
    for _ in range(3):
        with pytest.raises(lambda_client.exceptions.TooManyRequestsException):
            lambda_client.invoke(FunctionName="metered-throttled", Payload=b"{}")

    deadline = time.monotonic() + 20
    while True:
        invocations = _series(live_server_url, access_key, metric="Invocations", function="metered")
        throttles = _series(live_server_url, access_key, metric="Throttles", function="metered-throttled")
        if _total(invocations) == 5 and _total(throttles) == 3:
            break
        assert time.monotonic() < deadline, (invocations, throttles)
        time.sleep(0.3)
    assert _total(_series(live_server_url, access_key, metric="Errors", function="metered")) == 2
    durations = _series(
        live_server_url, access_key, metric="Duration", function="metered", statistic="SampleCount"
    )
    assert _total(durations) == 5
    maximum = _series(live_server_url, access_key, metric="Duration", function="metered", statistic="Maximum")
    stored = InvocationRecord.objects.filter(function_name="metered")
    assert stored.count() == 5
    assert max(point["v"] for point in maximum) == pytest.approx(max(r.duration_ms for r in stored))
    # Per second too, for the live charts.
    live = _series(
        live_server_url,
        access_key,
        metric="Invocations",
        function="metered",
        period=1,
        start=int(time.time()) - 300,
    )
    assert _total(live) == 5
    # Account-wide counts include both functions' invocations (and throttles are not invocations).
    assert _total(_series(live_server_url, access_key, metric="Invocations")) >= 5


def _record(request_id: str, duration: float, *, at: float, outcome: str = "success") -> dict:
    return {
        "kind": "invocation",
        "request_id": request_id,
        "function": "synthetic",
        "version": "$LATEST",
        "started_at": at,
        "ended_at": at + duration / 1000,
        "duration_ms": duration,
        "billed_duration_ms": int(duration) + 1,
        "memory_size": 1024,
        "outcome": outcome,
        "cold": False,
        "attempt": 1,
    }


@pytest.mark.django_db(transaction=True)
def test_it_answers_percentiles_within_one_percent_of_a_known_distribution():
    at = datetime(2026, 1, 1, 12, 0, tzinfo=UTC).timestamp()
    batch = Batch()
    for index in range(1, 1001):
        batch.add(_record(f"r{index}", float(index), at=at + index % 50))
    minutes_write(batch)
    query = SeriesQuery(metric="Duration", function_name="synthetic")
    start, end = datetime.fromtimestamp(at, UTC), datetime.fromtimestamp(at + 60, UTC)
    for statistic, expected in (
        ("p50", 500),
        ("p90", 900),
        ("p99", 990),
        ("Maximum", 1000),
        ("Average", 500.5),
    ):
        ((_, value),) = metric_series(query, statistic=statistic, period=60, start=start, end=end)
        assert value == pytest.approx(expected, rel=0.011), statistic
    ((_, gb_seconds),) = metric_series(
        SeriesQuery(metric="GBSeconds", function_name="synthetic"),
        statistic="Sum",
        period=60,
        start=start,
        end=end,
    )
    assert gb_seconds == pytest.approx(sum(index + 1 for index in range(1, 1001)) / 1000)


@pytest.mark.django_db(transaction=True)
def test_it_ingests_each_stream_entry_once_even_when_it_is_delivered_again():
    connection = redis.Redis.from_url(settings.REDIS_URL)
    at = time.time()
    entries = [(f"{int(at * 1000)}-{index}", _record(f"dup{index}", 10.0, at=at)) for index in range(3)]
    ingest(connection, records=entries, logs=[])
    ingest(connection, records=entries, logs=[])  # a consumer died before XACK: the entries come back
    assert InvocationRecord.objects.filter(function_name="synthetic").count() == 3
    point = MetricPoint.objects.get(period=60, metric="Invocations", function_name="synthetic", resource="")
    assert point.sum == 3


@pytest.mark.django_db(transaction=True)
def test_it_rolls_minutes_up_and_applies_retention():
    base = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    batch = Batch()
    for minute in range(10):
        for index in range(minute + 1):
            batch.add(
                _record(
                    f"m{minute}-{index}", 5.0 * (index + 1), at=(base + timedelta(minutes=minute)).timestamp()
                )
            )
    minutes_write(batch)
    rollup(now=base + timedelta(hours=2))
    fives = MetricPoint.objects.filter(
        period=300, metric="Invocations", function_name="synthetic", resource=""
    )
    assert sorted((point.timestamp, point.sum) for point in fives) == [
        (base, 15.0),
        (base + timedelta(minutes=5), 40.0),
    ]
    hour = MetricPoint.objects.get(period=3600, metric="Invocations", function_name="synthetic", resource="")
    assert hour.sum == 55
    rollup(now=base + timedelta(hours=2))  # idempotent: rebuilding gives the same numbers
    assert (
        MetricPoint.objects.get(period=3600, metric="Invocations", function_name="synthetic", resource="").sum
        == 55
    )
    p99 = MetricPoint.objects.get(period=3600, metric="Duration", function_name="synthetic", resource="")
    assert p99.count == 55 and p99.maximum == 50.0

    deleted = retention_apply(now=base + timedelta(days=16))
    assert deleted["metrics_60s"] > 0
    assert not MetricPoint.objects.filter(period=60, function_name="synthetic").exists()
    assert MetricPoint.objects.filter(period=300, function_name="synthetic").exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("stratus_workers", "stratus_consumer")
def test_it_keeps_every_invocation_findable_with_phases_payloads_and_logs(
    lambda_client, create_function, live_server_url, access_key
):
    from functions_app.models import Function

    create_function(
        "historic",
        Code={
            "ZipFile": make_zip(
                {
                    "lambda_function.py": FLAKY_PY.replace(
                        'return "ok"', "print('marker-42')\n    return {'secret': event.get('secret')}"
                    )
                }
            )
        },
    )
    ok = lambda_client.invoke(FunctionName="historic", Payload=b'{"secret": "s3"}')
    ok_id = ok["ResponseMetadata"]["RequestId"]
    lambda_client.invoke(FunctionName="historic", Payload=b'{"fail": true}')
    deadline = time.monotonic() + 15
    while True:
        listed = signed_get(live_server_url, access_key, "/api/v1/functions/historic/invocations")[
            "invocations"
        ]
        if len(listed) == 2:
            break
        assert time.monotonic() < deadline, listed
        time.sleep(0.3)
    assert [item["outcome"] for item in listed] == ["error", "success"]
    failed = signed_get(live_server_url, access_key, "/api/v1/functions/historic/invocations?outcome=error")
    assert [item["errorType"] for item in failed["invocations"]] == ["ValueError"]
    cold = signed_get(live_server_url, access_key, "/api/v1/functions/historic/invocations?cold=true")
    assert [item["requestId"] for item in cold["invocations"]] == [ok_id]

    deadline = time.monotonic() + 15
    while True:
        detail = signed_get(live_server_url, access_key, f"/api/v1/invocations/{ok_id}")
        if any("REPORT" in line["message"] for line in detail["logs"]):
            break
        assert time.monotonic() < deadline, detail["logs"]
        time.sleep(0.3)
    (run,) = detail["runs"]
    assert [phase["phase"] for phase in run["phases"]] == ["queued", "init", "invoke"]
    assert run["requestPayload"] == '{"secret": "s3"}'
    assert json.loads(run["responsePayload"]) == {"secret": "s3"}
    messages = [line["message"] for line in detail["logs"]]
    assert messages[0].startswith(f"START RequestId: {ok_id}")
    assert "marker-42" in messages

    historic = Function.objects.get(name="historic")
    historic.capture_payloads = False
    historic.save(update_fields=["capture_payloads"])  # a save every process's caches hear of
    hidden = lambda_client.invoke(FunctionName="historic", Payload=b'{"secret": "hidden"}')
    hidden_id = hidden["ResponseMetadata"]["RequestId"]
    deadline = time.monotonic() + 15
    while True:
        try:
            detail = signed_get(live_server_url, access_key, f"/api/v1/invocations/{hidden_id}")
            break
        except urllib.error.HTTPError:
            assert time.monotonic() < deadline
            time.sleep(0.3)
    assert detail["runs"][0]["requestPayload"] is None and detail["runs"][0]["responsePayload"] is None


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("stratus_workers", "stratus_consumer")
def test_it_exposes_platform_and_function_numbers_to_prometheus(
    lambda_client, create_function, live_server_url
):
    create_function("scraped")
    lambda_client.invoke(FunctionName="scraped", Payload=b"{}")
    deadline = time.monotonic() + 15
    while True:
        with urllib.request.urlopen(f"{live_server_url}/metrics", timeout=5) as response:
            text = response.read().decode()
        if 'stratus_function_invocations_total{function="scraped"} 1.0' in text:
            break
        assert time.monotonic() < deadline, text
        time.sleep(0.3)
    import re

    assert float(re.search(r"^stratus_workers (\S+)$", text, re.M).group(1)) >= 2
    assert 'stratus_queue_depth{queue="direct"}' in text
    assert 'stratus_environments{state="idle"}' in text
    assert 'stratus_ingestion_pending{stream="stratus:records"}' in text
