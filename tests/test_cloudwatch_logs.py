"""CloudWatch Logs' API over stored logs, through boto3, the AWS CLI and raw requests.

Data are written straight into the log models, except in the one end-to-end test, where a
real function's output travels through a worker and the metrics consumer first.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
import uuid
from datetime import timedelta

import pytest
from botocore import UNSIGNED
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from django.utils import timezone

from metrics_app.models import LogEvent, LogGroup, LogStream
from metrics_app.rollup import retention_apply
from tests.conftest import aws_client, make_zip

pytestmark = pytest.mark.django_db(transaction=True)

BASE_MS = 1_795_000_000_000  # 2026-11-19, in epoch milliseconds
GROUP = "/aws/lambda/reader"
STREAM_A = "2026/11/24/[$LATEST]" + "a" * 32
STREAM_B = "2026/11/24/[$LATEST]" + "b" * 32
STREAM_C = "2026/11/25/[$LATEST]" + "c" * 32


def _stream(stream: str = STREAM_A, *, group: str = GROUP) -> LogStream:
    log_group, _ = LogGroup.objects.get_or_create(name=group)
    log_stream, _ = LogStream.objects.get_or_create(group=log_group, name=stream)
    return log_stream


def _write(stream: LogStream, *lines: tuple[int, str], ingested_ms: int | None = None) -> list[LogEvent]:
    """Store ``(timestamp_ms, message)`` lines in ``stream``, as the consumer would."""
    events = LogEvent.objects.bulk_create(
        LogEvent(
            stream=stream,
            group=stream.group,
            timestamp_ms=timestamp,
            ingestion_ms=ingested_ms or timestamp + 5,
            message=message,
        )
        for timestamp, message in lines
    )
    times = [timestamp for timestamp, _ in lines]
    LogStream.objects.filter(pk=stream.pk).update(
        first_event_ms=min(times + ([stream.first_event_ms] if stream.first_event_ms else [])),
        last_event_ms=max([*times, stream.last_event_ms]),
    )
    stream.refresh_from_db()
    return events


def _messages(events: list[dict]) -> list[str]:
    return [event["message"] for event in events]


def _error(raised: pytest.ExceptionInfo) -> tuple[str, int, str]:
    response = raised.value.response
    return (
        response["Error"]["Code"],
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Message"],
    )


def _raw_post(url: str, operation: str, body: bytes, headers: dict[str, str] | None = None):
    request = urllib.request.Request(
        url + "/",
        data=body,
        method="POST",
        headers={
            "X-Amz-Target": f"Logs_20140328.{operation}",
            "Content-Type": "application/x-amz-json-1.1",
            **(headers or {}),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture
def logs(live_server_url, access_key):
    return aws_client("logs", live_server_url, access_key)


@pytest.fixture
def logs_unvalidated(live_server_url, access_key):
    """A client that skips botocore's own parameter checks, so the server's are tested."""
    return aws_client("logs", live_server_url, access_key, parameter_validation=False)


# --- Describing groups and streams --------------------------------------------------------------


def test_it_lists_log_groups_by_case_sensitive_prefix_a_page_at_a_time(logs):
    for name in ("gamma", "alpha", "delta", "beta"):
        LogGroup.objects.create(name=f"/aws/lambda/{name}")
    LogGroup.objects.create(name="/AWS/lambda/upper")
    LogGroup.objects.create(name="/custom/app", retention_days=14)

    first = logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/", limit=3)
    assert [group["logGroupName"] for group in first["logGroups"]] == [
        "/aws/lambda/alpha",
        "/aws/lambda/beta",
        "/aws/lambda/delta",
    ]
    second = logs.describe_log_groups(
        logGroupNamePrefix="/aws/lambda/", limit=3, nextToken=first["nextToken"]
    )
    assert [group["logGroupName"] for group in second["logGroups"]] == ["/aws/lambda/gamma"]
    assert "nextToken" not in second

    alpha = first["logGroups"][0]
    assert alpha["arn"] == "arn:aws:logs:us-east-1:000000000000:log-group:/aws/lambda/alpha:*"
    assert alpha["logGroupArn"] == "arn:aws:logs:us-east-1:000000000000:log-group:/aws/lambda/alpha"
    assert abs(alpha["creationTime"] - time.time() * 1000) < 60_000
    assert "retentionInDays" not in alpha

    pages = list(logs.get_paginator("describe_log_groups").paginate(PaginationConfig={"PageSize": 2}))
    assert len(pages) == 3
    listed = [group["logGroupName"] for page in pages for group in page["logGroups"]]
    assert sorted(listed) == sorted(LogGroup.objects.values_list("name", flat=True))
    (custom,) = [
        group for page in pages for group in page["logGroups"] if group["logGroupName"] == "/custom/app"
    ]
    assert custom["retentionInDays"] == 14

    by_pattern = logs.describe_log_groups(logGroupNamePattern="elt")["logGroups"]
    assert [group["logGroupName"] for group in by_pattern] == ["/aws/lambda/delta"]
    assert set(by_pattern[0]) == {"logGroupName", "creationTime", "arn"}


def test_it_lists_streams_by_name_or_last_event_time_in_either_direction(logs):
    newest, oldest, middle = _stream(STREAM_A), _stream(STREAM_B), _stream(STREAM_C)
    _write(newest, (BASE_MS, "a1"), (BASE_MS + 300, "a2"), ingested_ms=BASE_MS + 400)
    _write(oldest, (BASE_MS + 100, "b1"))
    _write(middle, (BASE_MS + 200, "c1"))

    def names(**params) -> list[str]:
        return [
            stream["logStreamName"]
            for stream in logs.describe_log_streams(logGroupName=GROUP, **params)["logStreams"]
        ]

    assert names() == [STREAM_A, STREAM_B, STREAM_C]
    assert names(descending=True) == [STREAM_C, STREAM_B, STREAM_A]
    assert names(orderBy="LastEventTime") == [STREAM_B, STREAM_C, STREAM_A]
    assert names(orderBy="LastEventTime", descending=True) == [STREAM_A, STREAM_C, STREAM_B]
    assert names(logStreamNamePrefix="2026/11/24/") == [STREAM_A, STREAM_B]
    assert names(logStreamNamePrefix="2026/11/24/[$latest]") == []

    pages = list(
        logs.get_paginator("describe_log_streams").paginate(
            logGroupName=GROUP, orderBy="LastEventTime", descending=True, PaginationConfig={"PageSize": 1}
        )
    )
    assert [page["logStreams"][0]["logStreamName"] for page in pages] == [STREAM_A, STREAM_C, STREAM_B]
    assert "nextToken" not in pages[-1]

    described = logs.describe_log_streams(logGroupName=GROUP, limit=1)["logStreams"][0]
    assert described["firstEventTimestamp"] == BASE_MS
    assert described["lastEventTimestamp"] == BASE_MS + 300
    assert described["lastIngestionTime"] == BASE_MS + 400
    assert described["arn"] == f"arn:aws:logs:us-east-1:000000000000:log-group:{GROUP}:log-stream:{STREAM_A}"

    with pytest.raises(logs.exceptions.InvalidParameterException) as raised:
        logs.describe_log_streams(logGroupName=GROUP, orderBy="LastEventTime", logStreamNamePrefix="2026")
    assert _error(raised)[:2] == ("InvalidParameterException", 400)


# --- Reading a stream ----------------------------------------------------------------------------


def test_it_reads_a_stream_from_its_tail_by_default_and_pages_both_ways(logs):
    stream = _stream()
    _write(stream, *((BASE_MS + i * 1000, f"line {i}") for i in range(10)))

    tail = logs.get_log_events(logGroupName=GROUP, logStreamName=STREAM_A, limit=3)
    assert _messages(tail["events"]) == ["line 7", "line 8", "line 9"]
    assert tail["events"][0]["timestamp"] == BASE_MS + 7000
    assert tail["events"][0]["ingestionTime"] == BASE_MS + 7005

    backward, seen = tail["nextBackwardToken"], []
    while True:
        page = logs.get_log_events(logGroupName=GROUP, logStreamName=STREAM_A, limit=3, nextToken=backward)
        if page["nextBackwardToken"] == backward:
            assert page["events"] == []
            break
        seen.append(_messages(page["events"]))
        backward = page["nextBackwardToken"]
    assert seen == [["line 4", "line 5", "line 6"], ["line 1", "line 2", "line 3"], ["line 0"]]

    head = logs.get_log_events(logGroupName=GROUP, logStreamName=STREAM_A, limit=4, startFromHead=True)
    assert _messages(head["events"]) == ["line 0", "line 1", "line 2", "line 3"]
    forward, seen = head["nextForwardToken"], []
    while True:
        page = logs.get_log_events(
            logGroupName=GROUP, logStreamName=STREAM_A, limit=4, nextToken=forward, startFromHead=True
        )
        if page["nextForwardToken"] == forward:
            assert page["events"] == []
            break
        seen.append(_messages(page["events"]))
        forward = page["nextForwardToken"]
    assert seen == [["line 4", "line 5", "line 6", "line 7"], ["line 8", "line 9"]]

    # The last forward token follows the stream as it grows, like `aws logs tail --follow`.
    _write(stream, (BASE_MS + 10_000, "line 10"))
    grown = logs.get_log_events(
        logGroupName=GROUP, logStreamName=STREAM_A, nextToken=forward, startFromHead=True
    )
    assert _messages(grown["events"]) == ["line 10"]
    # And reading back from the end of the stream starts with its last event.
    at_end = logs.get_log_events(
        logGroupName=GROUP, logStreamName=STREAM_A, nextToken=grown["nextForwardToken"]
    )
    assert at_end["events"] == [] and at_end["nextForwardToken"] == grown["nextForwardToken"]
    back = logs.get_log_events(
        logGroupName=GROUP, logStreamName=STREAM_A, nextToken=at_end["nextBackwardToken"], limit=2
    )
    assert _messages(back["events"]) == ["line 9", "line 10"]


def test_it_reads_time_ranges_with_get_excluding_the_end_and_filter_including_it(logs):
    _write(_stream(), *((BASE_MS + i * 1000, f"line {i}") for i in range(5)))
    window = {"startTime": BASE_MS + 1000, "endTime": BASE_MS + 3000}

    read = logs.get_log_events(logGroupName=GROUP, logStreamName=STREAM_A, startFromHead=True, **window)
    assert _messages(read["events"]) == ["line 1", "line 2"]
    filtered = logs.filter_log_events(logGroupName=GROUP, **window)
    assert _messages(filtered["events"]) == ["line 1", "line 2", "line 3"]
    since = logs.filter_log_events(logGroupName=GROUP, startTime=BASE_MS + 3500)
    assert _messages(since["events"]) == ["line 4"]

    empty = logs.get_log_events(logGroupName=GROUP, logStreamName=STREAM_A, startTime=BASE_MS + 60_000)
    assert empty["events"] == [] and empty["nextForwardToken"] and empty["nextBackwardToken"]


# --- Searching a group ---------------------------------------------------------------------------


FILTER_LINES = (
    "ERROR disk full on /dev/sda",
    "error: connection reset",
    "WARN disk almost full",
    "INFO Task timed out after 3.00 seconds",
    "ERROR Task timed out",
    'INFO said "hello"',
)


def test_it_filters_by_terms_quoted_phrases_alternatives_and_exclusions(logs):
    first, second = _stream(STREAM_A), _stream(STREAM_B)
    for index, message in enumerate(FILTER_LINES):
        _write(first if index % 2 == 0 else second, (BASE_MS + index, message))

    def matching(pattern: str) -> list[str]:
        return _messages(logs.filter_log_events(logGroupName=GROUP, filterPattern=pattern)["events"])

    assert matching("ERROR") == [FILTER_LINES[0], FILTER_LINES[4]]
    assert matching("ERROR disk") == [FILTER_LINES[0]]
    assert matching("full disk") == [FILTER_LINES[0], FILTER_LINES[2]]
    assert matching('"Task timed out"') == [FILTER_LINES[3], FILTER_LINES[4]]
    assert matching('"timed out after"') == [FILTER_LINES[3]]
    assert matching("?ERROR ?WARN") == [FILTER_LINES[0], FILTER_LINES[2], FILTER_LINES[4]]
    assert matching("disk -WARN") == [FILTER_LINES[0]]
    assert matching('"said \\"hello\\""') == [FILTER_LINES[5]]
    assert matching("Error") == []
    assert matching("") == list(FILTER_LINES)
    assert matching("   ") == list(FILTER_LINES)

    found = logs.filter_log_events(logGroupName=GROUP, filterPattern="disk")["events"]
    assert [event["logStreamName"] for event in found] == [STREAM_A, STREAM_A]
    everything = logs.filter_log_events(logGroupName=GROUP)["events"]
    assert len({event["eventId"] for event in everything}) == len(FILTER_LINES)
    assert {event["logStreamName"] for event in everything} == {STREAM_A, STREAM_B}
    assert everything[1]["timestamp"] == BASE_MS + 1 and everything[1]["ingestionTime"] == BASE_MS + 6

    for unsupported in ('{ $.level = "ERROR" }', "[ip, user, status]", "%ERR.*%", '"not closed'):
        with pytest.raises(logs.exceptions.InvalidParameterException):
            logs.filter_log_events(logGroupName=GROUP, filterPattern=unsupported)


def test_it_pages_filtered_events_oldest_or_newest_first_across_streams(logs):
    first, second = _stream(STREAM_A), _stream(STREAM_B)
    for index in range(7):
        _write(first if index % 2 == 0 else second, (BASE_MS + index * 10, f"match {index}"))
        _write(second, (BASE_MS + index * 10 + 1, f"noise {index}"))
    expected = [f"match {index}" for index in range(7)]

    page = logs.filter_log_events(logGroupName=GROUP, filterPattern="match", limit=3)
    assert _messages(page["events"]) == expected[:3]
    page = logs.filter_log_events(
        logGroupName=GROUP, filterPattern="match", limit=3, nextToken=page["nextToken"]
    )
    assert _messages(page["events"]) == expected[3:6]

    paginator = logs.get_paginator("filter_log_events")
    pages = list(
        paginator.paginate(logGroupName=GROUP, filterPattern="match", PaginationConfig={"PageSize": 2})
    )
    assert [_messages(page["events"]) for page in pages] == [
        expected[0:2],
        expected[2:4],
        expected[4:6],
        expected[6:],
    ]

    newest_first = list(
        paginator.paginate(
            logGroupName=GROUP, filterPattern="match", startFromHead=False, PaginationConfig={"PageSize": 4}
        )
    )
    assert [message for page in newest_first for message in _messages(page["events"])] == expected[::-1]

    only_a = logs.filter_log_events(logGroupName=GROUP, logStreamNames=[STREAM_A])["events"]
    assert _messages(only_a) == ["match 0", "match 2", "match 4", "match 6"]
    by_prefix = logs.filter_log_events(
        logGroupName=GROUP, logStreamNamePrefix=STREAM_B[:-1], filterPattern="match"
    )
    assert _messages(by_prefix["events"]) == ["match 1", "match 3", "match 5"]
    assert (
        logs.filter_log_events(logGroupName=GROUP, logStreamNamePrefix="2026/11/24/[$latest]")["events"] == []
    )
    with pytest.raises(logs.exceptions.InvalidParameterException):
        logs.filter_log_events(logGroupName=GROUP, logStreamNames=[STREAM_A], logStreamNamePrefix="2026")


def test_it_cuts_a_page_of_events_at_one_megabyte(logs):
    big = "x" * 400_000
    _write(_stream(), *((BASE_MS + index, f"{index} {big}") for index in range(3)))

    first = logs.filter_log_events(logGroupName=GROUP)
    assert [event["message"][:1] for event in first["events"]] == ["0", "1"]
    rest = logs.filter_log_events(logGroupName=GROUP, nextToken=first["nextToken"])
    assert [event["message"][:1] for event in rest["events"]] == ["2"] and "nextToken" not in rest

    tail = logs.get_log_events(logGroupName=GROUP, logStreamName=STREAM_A)
    assert [event["message"][:1] for event in tail["events"]] == ["1", "2"]


# --- Changing groups -----------------------------------------------------------------------------


def test_it_sets_and_removes_a_retention_policy_that_the_retention_pass_then_applies(logs):
    now = timezone.now()
    stream = _stream()
    day_ms = 86_400_000
    now_ms = int(now.timestamp() * 1000)
    _write(stream, (now_ms - 10 * day_ms, "ten days old"), (now_ms - day_ms, "a day old"))

    logs.put_retention_policy(logGroupName=GROUP, retentionInDays=7)
    (described,) = logs.describe_log_groups(logGroupNamePrefix=GROUP)["logGroups"]
    assert described["retentionInDays"] == 7
    retention_apply(now=now + timedelta(seconds=1))
    assert list(LogEvent.objects.values_list("message", flat=True)) == ["a day old"]

    with pytest.raises(logs.exceptions.InvalidParameterException) as raised:
        logs.put_retention_policy(logGroupName=GROUP, retentionInDays=2)
    assert "enum value set: [1, 3, 5, 7, 14, 30," in _error(raised)[2]
    assert LogGroup.objects.get(name=GROUP).retention_days == 7

    logs.delete_retention_policy(logGroupName=GROUP)
    (described,) = logs.describe_log_groups(logGroupNamePrefix=GROUP)["logGroups"]
    assert "retentionInDays" not in described
    assert LogGroup.objects.get(name=GROUP).retention_days is None

    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.put_retention_policy(logGroupName="/aws/lambda/nobody", retentionInDays=7)


def test_it_creates_and_deletes_log_groups_with_their_streams_and_events(logs):
    logs.create_log_group(logGroupName="/custom/made")
    assert LogGroup.objects.filter(name="/custom/made").exists()
    with pytest.raises(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName="/custom/made")

    _write(_stream(), (BASE_MS, "doomed"))
    logs.delete_log_group(logGroupName=GROUP)
    assert not LogGroup.objects.filter(name=GROUP).exists()
    assert not LogStream.objects.exists() and not LogEvent.objects.exists()
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.delete_log_group(logGroupName=GROUP)


def test_it_answers_resource_not_found_for_a_missing_group_or_stream(logs):
    missing = "/aws/lambda/nobody"
    calls = (
        lambda: logs.describe_log_streams(logGroupName=missing),
        lambda: logs.get_log_events(logGroupName=missing, logStreamName=STREAM_A),
        lambda: logs.filter_log_events(logGroupName=missing),
        lambda: logs.delete_retention_policy(logGroupName=missing),
    )
    for call in calls:
        with pytest.raises(logs.exceptions.ResourceNotFoundException) as raised:
            call()
        assert _error(raised) == ("ResourceNotFoundException", 400, "The specified log group does not exist.")

    _stream()
    with pytest.raises(logs.exceptions.ResourceNotFoundException) as raised:
        logs.get_log_events(logGroupName=GROUP, logStreamName=STREAM_B)
    assert _error(raised)[2] == "The specified log stream does not exist."


def test_it_accepts_a_log_group_arn_as_identifier(logs):
    _write(_stream(), (BASE_MS, "by arn"))
    arn = f"arn:aws:logs:us-east-1:000000000000:log-group:{GROUP}"
    for identifier in (arn, GROUP):
        events = logs.filter_log_events(logGroupIdentifier=identifier)["events"]
        assert _messages(events) == ["by arn"]
    foreign = arn.replace("000000000000", "111111111111")
    # Another account's group: no resource policy shares it, so AWS refuses even an administrator.
    with pytest.raises(logs.exceptions.AccessDeniedException):
        logs.describe_log_streams(logGroupIdentifier=foreign)
    LogGroup.objects.create(name="/aws/lambda/bystander")
    described = logs.describe_log_groups(logGroupIdentifiers=[arn, foreign, "/aws/lambda/nobody"])
    assert [group["logGroupName"] for group in described["logGroups"]] == [GROUP]
    with pytest.raises(logs.exceptions.InvalidParameterException):
        logs.describe_log_streams(logGroupName=GROUP, logGroupIdentifier=arn)


# --- The protocol: signatures, validation, errors ------------------------------------------------


def test_it_refuses_unsigned_and_badly_signed_requests_with_403(live_server_url, access_key):
    status, body = _raw_post(live_server_url, "DescribeLogGroups", b"{}")
    assert status == 403
    assert body["__type"] == "MissingAuthenticationTokenException"

    unsigned = aws_client("logs", live_server_url, access_key, signature_version=UNSIGNED)
    with pytest.raises(ClientError) as raised:
        unsigned.describe_log_groups()
    assert _error(raised)[:2] == ("MissingAuthenticationTokenException", 403)

    wrong_secret = aws_client("logs", live_server_url, (access_key[0], "not-the-secret"))
    with pytest.raises(ClientError) as raised:
        wrong_secret.describe_log_groups()
    assert _error(raised)[:2] == ("InvalidSignatureException", 403)

    stranger = aws_client("logs", live_server_url, ("AKIANOBODY0000000000", "whatever"))
    with pytest.raises(ClientError) as raised:
        stranger.describe_log_groups()
    assert _error(raised)[:2] == ("UnrecognizedClientException", 403)

    # Signed correctly, but for another service.
    request = AWSRequest(
        method="POST",
        url=live_server_url + "/",
        data=b"{}",
        headers={
            "X-Amz-Target": "Logs_20140328.DescribeLogGroups",
            "Content-Type": "application/x-amz-json-1.1",
        },
    )
    SigV4Auth(Credentials(*access_key), "lambda", "us-east-1").add_auth(request)
    status, body = _raw_post(live_server_url, "DescribeLogGroups", b"{}", dict(request.headers))
    assert status == 403 and body["__type"] == "InvalidSignatureException"


def _signed_post(url: str, key: tuple[str, str], operation: str, body: bytes):
    request = AWSRequest(
        method="POST",
        url=url + "/",
        data=body,
        headers={"X-Amz-Target": f"Logs_20140328.{operation}", "Content-Type": "application/x-amz-json-1.1"},
    )
    SigV4Auth(Credentials(*key), "logs", "us-east-1").add_auth(request)
    return _raw_post(url, operation, body, dict(request.headers))


def test_it_checks_parameters_against_the_model_as_aws_does(logs_unvalidated, live_server_url, access_key):
    logs = logs_unvalidated
    with pytest.raises(logs.exceptions.InvalidParameterException) as raised:
        logs.describe_log_groups(limit=0)
    assert _error(raised) == (
        "InvalidParameterException",
        400,
        "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1",
    )
    with pytest.raises(logs.exceptions.InvalidParameterException) as raised:
        logs.describe_log_groups(limit=51)
    assert "less than or equal to 50" in _error(raised)[2]
    with pytest.raises(logs.exceptions.InvalidParameterException) as raised:
        logs.create_log_group(logGroupName="bad name!")
    assert (
        "at 'logGroupName' failed to satisfy constraint: Member must satisfy regular expression"
        in _error(raised)[2]
    )
    with pytest.raises(logs.exceptions.InvalidParameterException) as raised:
        logs.put_retention_policy(logGroupName=GROUP)
    assert "Value null at 'retentionInDays'" in _error(raised)[2]

    _stream()
    for call in (
        lambda token: logs.describe_log_groups(nextToken=token),
        lambda token: logs.describe_log_streams(logGroupName=GROUP, nextToken=token),
        lambda token: logs.filter_log_events(logGroupName=GROUP, nextToken=token),
        lambda token: logs.get_log_events(logGroupName=GROUP, logStreamName=STREAM_A, nextToken=token),
    ):
        with pytest.raises(logs.exceptions.InvalidParameterException) as raised:
            call("garbage!")
        assert _error(raised)[2] == "The specified nextToken is invalid."
    # A token from one listing is no good for another.
    LogGroup.objects.create(name="/aws/lambda/other")
    groups_token = logs.describe_log_groups(limit=1)["nextToken"]
    with pytest.raises(logs.exceptions.InvalidParameterException):
        logs.filter_log_events(logGroupName=GROUP, nextToken=groups_token)

    status, body = _signed_post(live_server_url, access_key, "DescribeLogGroups", b"{not json")
    assert (status, body["__type"]) == (400, "SerializationException")
    status, body = _signed_post(live_server_url, access_key, "DescribeLogGroups", b'{"limit": "ten"}')
    assert (status, body["__type"]) == (400, "SerializationException")
    status, body = _signed_post(live_server_url, access_key, "PutLogEvents", b"{}")
    assert (status, body["__type"]) == (400, "UnknownOperationException")
    assert "DescribeLogGroups" in body["message"]


# --- The AWS CLI ---------------------------------------------------------------------------------


def test_the_aws_cli_describes_log_groups_and_filters_events(aws_cli):
    _write(_stream(group="/aws/lambda/cli-one"), (BASE_MS, "hello from one"))
    stream = _stream(group="/aws/lambda/cli-two")
    _write(
        stream,
        (BASE_MS, "needle in a haystack"),
        (BASE_MS + 1, "hay"),
        (BASE_MS + 2, "another needle in a haystack"),
    )
    LogGroup.objects.create(name="/custom/elsewhere")

    described = json.loads(
        aws_cli("logs", "describe-log-groups", "--log-group-name-prefix", "/aws/lambda/cli").stdout
    )
    assert [group["logGroupName"] for group in described["logGroups"]] == [
        "/aws/lambda/cli-one",
        "/aws/lambda/cli-two",
    ]

    # --page-size makes the CLI follow nextToken through three requests.
    filtered = json.loads(
        aws_cli(
            "logs",
            "filter-log-events",
            "--log-group-name",
            "/aws/lambda/cli-two",
            "--filter-pattern",
            '"in a haystack"',
            "--page-size",
            "1",
        ).stdout
    )
    assert _messages(filtered["events"]) == ["needle in a haystack", "another needle in a haystack"]
    assert filtered["events"][0]["logStreamName"] == STREAM_A

    windowed = json.loads(
        aws_cli(
            "logs",
            "filter-log-events",
            "--log-group-name",
            "/aws/lambda/cli-two",
            "--start-time",
            str(BASE_MS + 1),
            "--end-time",
            str(BASE_MS + 1),
        ).stdout
    )
    assert _messages(windowed["events"]) == ["hay"]

    missing = aws_cli("logs", "filter-log-events", "--log-group-name", "/aws/lambda/nobody", check=False)
    assert missing.returncode != 0
    assert "ResourceNotFoundException" in missing.stderr


# --- End to end ----------------------------------------------------------------------------------

LOGGING_PY = """
def handler(event, context):
    print(event["marker"])
    return "logged"
"""


@pytest.mark.usefixtures("stratus_workers", "stratus_consumer")
def test_it_finds_a_real_invocations_output_next_to_its_report_line(logs, lambda_client, create_function):
    create_function("chatty", Code={"ZipFile": make_zip({"lambda_function.py": LOGGING_PY})})
    marker = f"marker-{uuid.uuid4().hex}"
    invoked = lambda_client.invoke(FunctionName="chatty", Payload=json.dumps({"marker": marker}).encode())
    request_id = invoked["ResponseMetadata"]["RequestId"]
    assert json.loads(invoked["Payload"].read()) == "logged"

    deadline = time.monotonic() + 15
    while True:
        try:
            found = logs.filter_log_events(logGroupName="/aws/lambda/chatty", filterPattern=marker)["events"]
        except logs.exceptions.ResourceNotFoundException:
            found = []  # the group appears with the first log line the consumer stores
        if found:
            break
        assert time.monotonic() < deadline, "the marker never reached CloudWatch Logs"
        time.sleep(0.3)
    (event,) = found
    assert marker in event["message"]
    stream = event["logStreamName"]
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}", stream)

    reports = logs.filter_log_events(
        logGroupName="/aws/lambda/chatty",
        logStreamNames=[stream],
        filterPattern=f'"REPORT RequestId: {request_id}"',
    )["events"]
    assert len(reports) == 1 and "Duration:" in reports[0]["message"]

    read = logs.get_log_events(logGroupName="/aws/lambda/chatty", logStreamName=stream, startFromHead=True)
    messages = _messages(read["events"])
    assert messages[0].startswith(f"START RequestId: {request_id}")
    marker_at = next(index for index, message in enumerate(messages) if marker in message)
    report_at = next(index for index, message in enumerate(messages) if message.startswith("REPORT"))
    assert marker_at < report_at

    streams = logs.describe_log_streams(logGroupName="/aws/lambda/chatty")["logStreams"]
    assert [described["logStreamName"] for described in streams] == [stream]
    assert streams[0]["lastEventTimestamp"] >= event["timestamp"]
