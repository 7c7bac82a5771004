"""CloudWatch's metrics API over AWS/Lambda metrics, through boto3, raw query requests and the AWS CLI.

Current boto3 speaks smithy-rpc-v2-cbor, the AWS CLI v1 JSON 1.0, older SDKs and Grafana the
query protocol; boto3 is also made to speak the other two by giving it a copy of its own
CloudWatch model that lists only that protocol.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode
from xml.etree import ElementTree

import boto3
import botocore.session
import cbor2
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from botocore.loaders import Loader
from django.db import transaction

from metrics_app.aggregation import Batch
from metrics_app.storage import minutes_write
from tests.conftest import aws_client

pytestmark = pytest.mark.django_db(transaction=True)

NS = "{http://monitoring.amazonaws.com/doc/2010-08-01/}"
PROTOCOLS = ("smithy-rpc-v2-cbor", "json", "query")
REPORTER = [{"Name": "FunctionName", "Value": "reporter"}]


def _record(function: str, duration: float, *, at: datetime, outcome: str = "success") -> dict:
    return {
        "kind": "invocation",
        "function": function,
        "qualifier": "live",
        "alias": "live",
        "version": "3",
        "started_at": at.timestamp(),
        "duration_ms": duration,
        "billed_duration_ms": int(duration) + 1,
        "memory_size": 128,
        "outcome": outcome,
        "cold": False,
    }


@pytest.fixture
def base() -> datetime:
    """Two stored minutes: at ``base`` and one minute later."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    moment = now - timedelta(minutes=30)
    batch = Batch()
    for duration in range(1, 101):
        batch.add(
            _record("reporter", float(duration), at=moment, outcome="error" if duration == 1 else "success")
        )
    for duration in (100.0, 200.0):
        batch.add(_record("reporter", duration, at=moment + timedelta(minutes=1, seconds=5)))
    for _ in range(3):
        batch.add(_record("bystander", 5.0, at=moment + timedelta(seconds=30)))
    with transaction.atomic():
        minutes_write(batch)
    return moment


def _speaking(protocol: str, url: str, key: tuple[str, str], tmp_path):
    """A boto3 CloudWatch client that speaks ``protocol`` (its own model, with only that one listed)."""
    if protocol == "smithy-rpc-v2-cbor":
        return aws_client("cloudwatch", url, key)
    model = Loader().load_service_model("cloudwatch", "service-2")
    model["metadata"].update(protocol=protocol, protocols=[protocol])
    folder = tmp_path / "models" / "cloudwatch" / "2010-08-01"
    folder.mkdir(parents=True)
    (folder / "service-2.json").write_text(json.dumps(model))
    session = botocore.session.get_session()
    session.get_component("data_loader").search_paths.insert(0, str(tmp_path / "models"))
    return boto3.Session(botocore_session=session).client(
        "cloudwatch",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=key[0],
        aws_secret_access_key=key[1],
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )


@pytest.fixture(params=PROTOCOLS)
def cloudwatch(request, live_server_url, access_key, tmp_path):
    return _speaking(request.param, live_server_url, access_key, tmp_path)


def _statistics(client, base: datetime, **overrides) -> dict:
    params = {
        "Namespace": "AWS/Lambda",
        "MetricName": "Invocations",
        "Dimensions": REPORTER,
        "StartTime": base,
        "EndTime": base + timedelta(minutes=5),
        "Period": 60,
        "Statistics": ["Sum"],
    }
    params.update(overrides)
    return client.get_metric_statistics(
        **{name: value for name, value in params.items() if value is not None}
    )


def _error(excinfo) -> tuple[str, int]:
    response = excinfo.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def test_it_answers_get_metric_statistics_per_function(cloudwatch, base):
    invocations = _statistics(cloudwatch, base, Statistics=["Sum", "SampleCount"])
    assert invocations["Label"] == "Invocations"
    assert [(p["Timestamp"], p["Sum"], p["SampleCount"], p["Unit"]) for p in invocations["Datapoints"]] == [
        (base, 100.0, 100.0, "Count"),
        (base + timedelta(minutes=1), 2.0, 2.0, "Count"),
    ]
    errors = _statistics(cloudwatch, base, MetricName="Errors")
    assert [p["Sum"] for p in errors["Datapoints"]] == [1.0, 0.0]

    duration = _statistics(
        cloudwatch, base, MetricName="Duration", Statistics=["Average", "Maximum", "Minimum"]
    )
    assert [(p["Average"], p["Maximum"], p["Minimum"], p["Unit"]) for p in duration["Datapoints"]] == [
        (50.5, 100.0, 1.0, "Milliseconds"),
        (150.0, 200.0, 100.0, "Milliseconds"),
    ]
    # Five-minute periods fold both minutes into one datapoint.
    folded = _statistics(cloudwatch, base, Period=300, Statistics=["Sum"])
    assert [(p["Timestamp"], p["Sum"]) for p in folded["Datapoints"]] == [(base, 102.0)]


def test_it_answers_percentiles_as_extended_statistics(cloudwatch, base):
    duration = _statistics(
        cloudwatch, base, MetricName="Duration", Statistics=None, ExtendedStatistics=["p99", "p50"]
    )
    first, second = duration["Datapoints"]
    assert first["ExtendedStatistics"]["p99"] == pytest.approx(99.0, rel=0.02)
    assert first["ExtendedStatistics"]["p50"] == pytest.approx(50.0, rel=0.02)
    # Percentiles are the sketch's lower-rank values: p99 of [100, 200] is 100.
    assert second["ExtendedStatistics"]["p99"] == pytest.approx(100.0, rel=0.02)
    assert "Sum" not in first
    # Counters keep no sketch, but every sample is 1, so every percentile is 1.
    counts = _statistics(cloudwatch, base, Statistics=None, ExtendedStatistics=["p99"])
    assert [p["ExtendedStatistics"] for p in counts["Datapoints"]] == [{"p99": 1.0}, {"p99": 1.0}]


def test_it_reads_account_wide_resource_and_executed_version_dimensions(cloudwatch, base):
    account = _statistics(cloudwatch, base, Dimensions=[])
    assert [p["Sum"] for p in account["Datapoints"]] == [103.0, 2.0]
    resource = [{"Name": "Resource", "Value": "reporter:live"}, *REPORTER]
    assert [p["Sum"] for p in _statistics(cloudwatch, base, Dimensions=resource)["Datapoints"]] == [
        100.0,
        2.0,
    ]
    version = [*resource, {"Name": "ExecutedVersion", "Value": "3"}]
    assert [p["Sum"] for p in _statistics(cloudwatch, base, Dimensions=version)["Datapoints"]] == [100.0, 2.0]
    # Sets Lambda never publishes, other namespaces and other units have no data, as in CloudWatch.
    assert (
        _statistics(cloudwatch, base, Dimensions=[{"Name": "Resource", "Value": "reporter:live"}])[
            "Datapoints"
        ]
        == []
    )
    assert _statistics(cloudwatch, base, Namespace="AWS/EC2")["Datapoints"] == []
    assert _statistics(cloudwatch, base, Unit="Seconds")["Datapoints"] == []
    assert _statistics(cloudwatch, base, Unit="Count")["Datapoints"] != []


def test_it_answers_get_metric_data_with_two_queries(cloudwatch, base):
    def metric(name: str, stat: str) -> dict:
        return {
            "Metric": {"Namespace": "AWS/Lambda", "MetricName": name, "Dimensions": REPORTER},
            "Period": 60,
            "Stat": stat,
        }

    queries = [
        {"Id": "calls", "MetricStat": metric("Invocations", "Sum")},
        {"Id": "slowest", "MetricStat": metric("Duration", "p99"), "Label": "p99 duration"},
        {"Id": "hidden", "MetricStat": metric("Errors", "Sum"), "ReturnData": False},
    ]
    window = {"StartTime": base, "EndTime": base + timedelta(minutes=5)}
    calls, slowest = cloudwatch.get_metric_data(MetricDataQueries=queries, **window)["MetricDataResults"]
    # Newest first unless asked otherwise, as CloudWatch does.
    assert calls == {
        "Id": "calls",
        "Label": "Invocations",
        "Timestamps": [base + timedelta(minutes=1), base],
        "Values": [2.0, 100.0],
        "StatusCode": "Complete",
    }
    assert slowest["Label"] == "p99 duration"
    assert slowest["Values"] == [pytest.approx(100.0, rel=0.02), pytest.approx(99.0, rel=0.02)]

    ascending = cloudwatch.get_metric_data(
        MetricDataQueries=queries[:1], ScanBy="TimestampAscending", **window
    )
    assert ascending["MetricDataResults"][0]["Timestamps"] == [base, base + timedelta(minutes=1)]

    # MaxDatapoints pages the results; NextToken picks up where the page stopped.
    first = cloudwatch.get_metric_data(MetricDataQueries=queries[:2], MaxDatapoints=3, **window)
    assert [(r["Id"], len(r["Values"]), r["StatusCode"]) for r in first["MetricDataResults"]] == [
        ("calls", 2, "Complete"),
        ("slowest", 1, "PartialData"),
    ]
    rest = cloudwatch.get_metric_data(
        MetricDataQueries=queries[:2], MaxDatapoints=3, NextToken=first["NextToken"], **window
    )
    assert [(r["Id"], r["Timestamps"], r["StatusCode"]) for r in rest["MetricDataResults"]] == [
        ("slowest", [base], "Complete")
    ]
    assert "NextToken" not in rest


def test_it_lists_metrics_by_name_namespace_and_dimensions(cloudwatch, base):
    listed = cloudwatch.list_metrics(Namespace="AWS/Lambda", MetricName="Invocations", Dimensions=REPORTER)
    assert sorted(tuple(d["Name"] for d in m["Dimensions"]) for m in listed["Metrics"]) == [
        ("FunctionName",),
        ("FunctionName", "Resource"),
        ("FunctionName", "Resource", "ExecutedVersion"),
    ]
    assert {m["MetricName"] for m in listed["Metrics"]} == {"Invocations"}
    assert {m["Namespace"] for m in listed["Metrics"]} == {"AWS/Lambda"}

    everything = cloudwatch.list_metrics()["Metrics"]
    assert {"Invocations", "Errors", "Duration"} <= {m["MetricName"] for m in everything}
    assert {"Namespace": "AWS/Lambda", "MetricName": "Invocations", "Dimensions": []} in everything
    by_name_only = cloudwatch.list_metrics(Dimensions=[{"Name": "ExecutedVersion"}])["Metrics"]
    assert by_name_only and all(len(m["Dimensions"]) == 3 for m in by_name_only)
    assert cloudwatch.list_metrics(Namespace="AWS/EC2")["Metrics"] == []


def test_it_rejects_bad_parameters_with_cloudwatch_error_codes(cloudwatch, base):
    for overrides, code in (
        ({"Period": 90}, "InvalidParameterValue"),
        ({"Statistics": ["Median"]}, "InvalidParameterValue"),
        ({"Statistics": None, "ExtendedStatistics": ["tm99"]}, "InvalidParameterValue"),
        ({"ExtendedStatistics": ["p99"]}, "InvalidParameterCombination"),
        ({"Statistics": None}, "MissingParameter"),
        ({"StartTime": base + timedelta(minutes=5), "EndTime": base}, "InvalidParameterValue"),
        ({"StartTime": base - timedelta(days=2)}, "InvalidParameterCombination"),  # over 1,440 datapoints
    ):
        with pytest.raises(ClientError) as excinfo:
            _statistics(cloudwatch, base, **overrides)
        assert _error(excinfo) == (code, 400), overrides

    with pytest.raises(cloudwatch.exceptions.InvalidParameterValueException):
        _statistics(cloudwatch, base, Period=30)
    with pytest.raises(ClientError) as excinfo:
        cloudwatch.get_metric_data(
            MetricDataQueries=[{"Id": "Bad", "Expression": "SUM(METRICS())"}],
            StartTime=base,
            EndTime=base + timedelta(minutes=5),
        )
    assert _error(excinfo) == ("ValidationError", 400)
    assert "^[a-z][a-zA-Z0-9_]*$" in excinfo.value.response["Error"]["Message"]


def test_it_refuses_a_bad_signature_with_403(live_server_url, access_key, tmp_path, base):
    for protocol in PROTOCOLS:
        forged = _speaking(protocol, live_server_url, (access_key[0], "not-the-secret"), tmp_path / protocol)
        with pytest.raises(ClientError) as excinfo:
            _statistics(forged, base)
        assert _error(excinfo) == ("SignatureDoesNotMatch", 403), protocol
        stranger = _speaking(protocol, live_server_url, ("AKIDUNKNOWN", "secret"), tmp_path / f"{protocol}-x")
        with pytest.raises(ClientError) as excinfo:
            stranger.list_metrics()
        assert _error(excinfo) == ("InvalidClientTokenId", 403), protocol


def test_it_refuses_unsigned_requests_in_each_protocols_shape(live_server_url):
    cbor = urllib.request.Request(
        f"{live_server_url}/service/GraniteServiceVersion20100801/operation/ListMetrics",
        data=cbor2.dumps({}),
        method="POST",
        headers={"Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor"},
    )
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        urllib.request.urlopen(cbor, timeout=10)
    assert excinfo.value.code == 403
    assert excinfo.value.headers["x-amzn-query-error"] == "MissingAuthenticationToken;Sender"
    assert cbor2.loads(excinfo.value.read())["__type"].endswith("#MissingAuthenticationTokenException")

    status, root = _query_post(live_server_url, None, {"Action": "ListMetrics", "Version": "2010-08-01"})
    assert status == 403
    assert root.tag == f"{NS}ErrorResponse"
    assert root.findtext(f"{NS}Error/{NS}Code") == "MissingAuthenticationToken"
    assert root.findtext(f"{NS}Error/{NS}Type") == "Sender"


def _query_post(
    url: str, key: tuple[str, str] | None, params: dict, *, service: str = "monitoring"
) -> tuple[int, ElementTree.Element]:
    """A query-protocol POST as Grafana and older SDKs send it, signed unless ``key`` is None."""
    body = urlencode(params)
    request = AWSRequest(
        method="POST",
        url=f"{url}/",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    if key is not None:
        SigV4Auth(Credentials(*key), service, "us-east-1").add_auth(request)
    prepared = request.prepare()
    http = urllib.request.Request(
        prepared.url, data=body.encode(), method="POST", headers=dict(prepared.headers)
    )
    try:
        with urllib.request.urlopen(http, timeout=10) as response:
            assert response.headers["Content-Type"].startswith("text/xml")
            return response.status, ElementTree.fromstring(response.read())
    except urllib.error.HTTPError as error:
        return error.code, ElementTree.fromstring(error.read())


def test_it_speaks_the_query_protocol_to_a_raw_signed_form_post(live_server_url, access_key, base):
    start = base.strftime("%Y-%m-%dT%H:%M:%SZ")
    end = (base + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    status, root = _query_post(
        live_server_url,
        access_key,
        {
            "Action": "GetMetricStatistics",
            "Version": "2010-08-01",
            "Namespace": "AWS/Lambda",
            "MetricName": "Duration",
            "Dimensions.member.1.Name": "FunctionName",
            "Dimensions.member.1.Value": "reporter",
            "StartTime": start,
            "EndTime": end,
            "Period": "60",
            "Statistics.member.1": "Maximum",
            "Statistics.member.2": "SampleCount",
        },
    )
    assert status == 200
    assert root.tag == f"{NS}GetMetricStatisticsResponse"
    result = root.find(f"{NS}GetMetricStatisticsResult")
    assert result.findtext(f"{NS}Label") == "Duration"
    points = result.findall(f"{NS}Datapoints/{NS}member")
    assert [
        (
            p.findtext(f"{NS}Timestamp"),
            p.findtext(f"{NS}Maximum"),
            p.findtext(f"{NS}SampleCount"),
            p.findtext(f"{NS}Unit"),
        )
        for p in points
    ] == [
        (start, "100.0", "100.0", "Milliseconds"),
        ((base + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ"), "200.0", "2.0", "Milliseconds"),
    ]
    assert root.findtext(f"{NS}ResponseMetadata/{NS}RequestId")

    status, root = _query_post(
        live_server_url,
        access_key,
        {
            "Action": "GetMetricStatistics",
            "Version": "2010-08-01",
            "Namespace": "AWS/Lambda",
            "MetricName": "Duration",
            "StartTime": start,
            "EndTime": end,
            "Period": "60",
            "ExtendedStatistics.member.1": "p99",
        },
    )
    assert status == 200
    entry = root.find(
        f"{NS}GetMetricStatisticsResult/{NS}Datapoints/{NS}member/{NS}ExtendedStatistics/{NS}entry"
    )
    assert entry.findtext(f"{NS}key") == "p99"
    assert float(entry.findtext(f"{NS}value")) == pytest.approx(99.0, rel=0.02)

    status, root = _query_post(
        live_server_url,
        access_key,
        {
            "Action": "ListMetrics",
            "Version": "2010-08-01",
            "MetricName": "Throttles",
        },
    )
    assert (status, root.findall(f"{NS}ListMetricsResult/{NS}Metrics/{NS}member")) == (200, [])

    status, root = _query_post(
        live_server_url,
        access_key,
        {
            "Action": "GetMetricStatistics",
            "Version": "2010-08-01",
            "Namespace": "AWS/Lambda",
            "MetricName": "Duration",
            "StartTime": start,
            "EndTime": end,
            "Period": "7",
            "Statistics.member.1": "Sum",
        },
    )
    assert status == 400
    assert root.findtext(f"{NS}Error/{NS}Code") == "InvalidParameterValue"
    assert root.findtext(f"{NS}Error/{NS}Type") == "Sender"
    assert "Period" in root.findtext(f"{NS}Error/{NS}Message")

    status, root = _query_post(
        live_server_url, access_key, {"Action": "PutMetricData", "Version": "2010-08-01", "Namespace": "X"}
    )
    assert (status, root.findtext(f"{NS}Error/{NS}Code")) == (400, "InvalidAction")


def test_it_answers_the_aws_cli(aws_cli, base):
    window = [
        "--start-time",
        base.isoformat(),
        "--end-time",
        (base + timedelta(minutes=5)).isoformat(),
    ]
    result = aws_cli(
        "cloudwatch",
        "get-metric-statistics",
        "--namespace",
        "AWS/Lambda",
        "--metric-name",
        "Invocations",
        "--dimensions",
        "Name=FunctionName,Value=reporter",
        "--period",
        "60",
        "--statistics",
        "Sum",
        "Average",
        *window,
    )
    output = json.loads(result.stdout)
    assert output["Label"] == "Invocations"
    assert sorted((p["Sum"], p["Average"]) for p in output["Datapoints"]) == [(2.0, 1.0), (100.0, 1.0)]

    listed = json.loads(
        aws_cli("cloudwatch", "list-metrics", "--namespace", "AWS/Lambda", "--metric-name", "Duration").stdout
    )
    assert {"Name": "FunctionName", "Value": "reporter"} in [
        d for m in listed["Metrics"] for d in m["Dimensions"]
    ]

    failed = aws_cli(
        "cloudwatch",
        "get-metric-statistics",
        "--namespace",
        "AWS/Lambda",
        "--metric-name",
        "Invocations",
        "--period",
        "61",
        "--statistics",
        "Sum",
        *window,
        check=False,
    )
    assert failed.returncode != 0
    assert "InvalidParameterValue" in failed.stderr


def test_it_leaves_the_home_page_and_rejects_unknown_root_posts(live_server_url):
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        urllib.request.urlopen(
            urllib.request.Request(f"{live_server_url}/", data=b"x=1", method="POST"), timeout=10
        )
    assert excinfo.value.code == 400
    assert json.loads(excinfo.value.read())["__type"] == "UnknownOperationException"
    request = urllib.request.Request(f"{live_server_url}/", method="GET")
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        status = opener.open(request, timeout=10).status
    except urllib.error.HTTPError as error:
        status = error.code
    assert status in (200, 302)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def test_it_refuses_a_request_signed_for_another_service(live_server_url, access_key):
    params = {"Action": "ListMetrics", "Version": "2010-08-01", "Namespace": "AWS/Lambda"}
    status, root = _query_post(live_server_url, access_key, params, service="lambda")
    assert status == 403
    assert root.findtext(f"{NS}Error/{NS}Code") == "SignatureDoesNotMatch"
    assert _query_post(live_server_url, access_key, params)[0] == 200
