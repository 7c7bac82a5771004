"""Event source mappings over Stratus queues and streams: boto3 configures them, real pollers
feed real sandboxed functions, and a webhook sees what each invocation got."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import datetime

import pytest

from tests.conftest import aws_client, make_zip

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("stratus_workers", "stratus_pollers"),
]

# Posts what each invocation got to the webhook named in the environment, then fails or
# reports failures as the records ask.
REPORTER_PY = """
import base64, json, os, urllib.request

def _items(event):
    for record in event["Records"]:
        if "kinesis" in record:
            yield record["kinesis"]["sequenceNumber"], record["kinesis"]["partitionKey"], \\
                base64.b64decode(record["kinesis"]["data"]).decode()
        else:
            yield record["messageId"], "", record["body"]

def handler(event, context):
    items = list(_items(event))
    body = json.dumps({"items": items, "request_id": context.aws_request_id}).encode()
    request = urllib.request.Request(os.environ["HOOK"], data=body, headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=10).read()
    if any(data.startswith("poison") for _, _, data in items):
        if os.environ.get("MODE") == "report":
            return {"batchItemFailures": [{"itemIdentifier": ident} for ident, _, data in items
                                          if data.startswith("poison")]}
        raise RuntimeError("poison in the batch")
    return {}
"""


@pytest.fixture
def reporter(create_function, webhook):
    def make(name: str, **env):
        create_function(
            name,
            Code={"ZipFile": make_zip({"lambda_function.py": REPORTER_PY})},
            Environment={"Variables": {"HOOK": webhook.url, **env}},
            Timeout=30,
        )
        return name

    return make


@pytest.fixture
def sqs(live_server_url, access_key):
    return aws_client("sqs", live_server_url, access_key)


def _stream(name: str, shards: int = 1):
    from functions_app.triggers.streams import stream_arn, stream_create

    stream_create(name=name, shard_count=shards)
    return stream_arn(name)


def _put(name: str, records: list[tuple[str, str]]) -> list[str]:
    from functions_app.triggers.streams import records_put, stream_get

    stream = stream_get(name)
    return [seq for _, seq in records_put(stream=stream, records=[(d.encode(), k) for d, k in records])]


def _collect(webhook, *, until, timeout: float = 90) -> list[dict]:
    """Webhook bodies until ``until(bodies)`` holds."""
    bodies: list[dict] = []
    deadline = time.monotonic() + timeout
    while not until(bodies):
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting; got {len(bodies)} invocations: {bodies[-3:]}")
        try:
            bodies.append(webhook.received.get(timeout=1)[1])
        except Exception:  # queue.Empty
            continue
    return bodies


def _settled(lambda_client, mapping_id: str, state: str, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        got = lambda_client.get_event_source_mapping(UUID=mapping_id)
        if got["State"] == state or time.monotonic() > deadline:
            return got
        time.sleep(0.2)


def test_it_manages_mappings_through_the_lambda_api(lambda_client, create_function, sqs):
    create_function("consumer")
    queue_url = sqs.create_queue(QueueName="feed")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    created = lambda_client.create_event_source_mapping(
        EventSourceArn=arn, FunctionName="consumer", BatchSize=5
    )
    assert created["State"] == "Creating" and created["BatchSize"] == 5
    assert _settled(lambda_client, created["UUID"], "Enabled")["State"] == "Enabled"
    listed = lambda_client.list_event_source_mappings(FunctionName="consumer")["EventSourceMappings"]
    assert [mapping["UUID"] for mapping in listed] == [created["UUID"]]
    with pytest.raises(lambda_client.exceptions.ResourceConflictException):
        lambda_client.create_event_source_mapping(EventSourceArn=arn, FunctionName="consumer")
    updated = lambda_client.update_event_source_mapping(UUID=created["UUID"], Enabled=False)
    assert updated["State"] == "Disabling"
    assert _settled(lambda_client, created["UUID"], "Disabled")["State"] == "Disabled"
    deleted = lambda_client.delete_event_source_mapping(UUID=created["UUID"])
    assert deleted["State"] == "Deleting"
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.get_event_source_mapping(UUID=created["UUID"])


def test_it_refuses_settings_that_do_not_fit_the_source(lambda_client, create_function, sqs):
    create_function("consumer")
    queue_url = sqs.create_queue(QueueName="feed")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    invalid = lambda_client.exceptions.InvalidParameterValueException
    with pytest.raises(invalid, match="batch window"):
        lambda_client.create_event_source_mapping(EventSourceArn=arn, FunctionName="consumer", BatchSize=50)
    with pytest.raises(invalid, match="streams only"):
        lambda_client.create_event_source_mapping(
            EventSourceArn=arn, FunctionName="consumer", BisectBatchOnFunctionError=True
        )
    with pytest.raises(invalid, match="StartingPosition is required"):
        lambda_client.create_event_source_mapping(EventSourceArn=_stream("s"), FunctionName="consumer")
    with pytest.raises(invalid, match="filter pattern"):
        lambda_client.create_event_source_mapping(
            EventSourceArn=arn, FunctionName="consumer", FilterCriteria={"Filters": [{"Pattern": "{nope"}]}
        )
    with pytest.raises(invalid, match="Unsupported event source"):
        lambda_client.create_event_source_mapping(
            EventSourceArn="arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/x", FunctionName="consumer"
        )


@pytest.mark.slow
def test_it_feeds_a_thousand_queue_messages_each_exactly_once(reporter, webhook, lambda_client, sqs):
    reporter("sqs-consumer")
    queue_url = sqs.create_queue(QueueName="bulk", Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    for start in range(0, 1000, 10):
        sqs.send_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(start, start + 10)],
        )
    lambda_client.create_event_source_mapping(
        EventSourceArn=arn, FunctionName="sqs-consumer", BatchSize=100, MaximumBatchingWindowInSeconds=1
    )
    bodies = _collect(webhook, until=lambda got: sum(len(body["items"]) for body in got) >= 1000)
    seen = Counter(data for body in bodies for _, _, data in body["items"])
    assert len(seen) == 1000 and set(seen.values()) == {1}
    assert max(len(body["items"]) for body in bodies) > 10  # batched beyond one receive
    mapping = lambda_client.list_event_source_mappings(FunctionName="sqs-consumer")["EventSourceMappings"][0]
    assert mapping["LastProcessingResult"] == "OK"
    time.sleep(1.5)
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "0"
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "0"  # all deleted


def test_it_keeps_only_the_failed_messages_with_report_batch_item_failures(
    reporter, webhook, lambda_client, sqs
):
    reporter("partial", MODE="report")
    queue_url = sqs.create_queue(QueueName="partial", Attributes={"VisibilityTimeout": "1"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.send_message_batch(
        QueueUrl=queue_url,
        Entries=[{"Id": "a", "MessageBody": "fine-1"}, {"Id": "b", "MessageBody": "poison-1"}],
    )
    lambda_client.create_event_source_mapping(
        EventSourceArn=arn,
        FunctionName="partial",
        BatchSize=10,
        FunctionResponseTypes=["ReportBatchItemFailures"],
        FilterCriteria={"Filters": [{"Pattern": json.dumps({"body": [{"anything-but": "skip-me"}]})}]},
    )
    sqs.send_message(QueueUrl=queue_url, MessageBody="skip-me")
    bodies = _collect(
        webhook, until=lambda got: sum(d == "poison-1" for b in got for _, _, d in b["items"]) >= 2
    )
    everything = [data for body in bodies for _, _, data in body["items"]]
    assert everything.count("fine-1") == 1  # deleted after the first, partial success
    assert "skip-me" not in everything  # filtered out, and deleted
    time.sleep(1.5)
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    assert (
        int(attributes["ApproximateNumberOfMessages"])
        + int(attributes["ApproximateNumberOfMessagesNotVisible"])
        == 1
    )


@pytest.mark.slow
def test_it_feeds_a_thousand_stream_records_in_order_each_exactly_once(reporter, webhook, lambda_client):
    reporter("stream-consumer")
    arn = _stream("clicks", shards=2)
    keys = [f"user-{n}" for n in range(7)]
    sent = _put("clicks", [(f"{keys[i % 7]}:{i}", keys[i % 7]) for i in range(1000)])
    assert len(sent) == 1000
    lambda_client.create_event_source_mapping(
        EventSourceArn=arn,
        FunctionName="stream-consumer",
        StartingPosition="TRIM_HORIZON",
        BatchSize=100,
        ParallelizationFactor=3,
    )
    bodies = _collect(webhook, until=lambda got: sum(len(body["items"]) for body in got) >= 1000)
    seen = Counter(data for body in bodies for _, _, data in body["items"])
    assert len(seen) == 1000 and set(seen.values()) == {1}
    per_key: dict[str, list[int]] = {}
    for body in sorted(bodies, key=lambda b: min(int(seq) for seq, _, _ in b["items"])):
        for _, key, data in body["items"]:
            per_key.setdefault(key, []).append(int(data.split(":")[1]))
    for key, numbers in per_key.items():
        assert numbers == sorted(numbers), f"{key} out of order"


def test_it_bisects_a_failing_batch_and_sends_the_poison_record_to_on_failure(
    reporter, webhook, lambda_client, sqs
):
    reporter("bisector")
    dlq_url = sqs.create_queue(QueueName="stream-failures")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    arn = _stream("orders")
    _put("orders", [("ok-1", "k"), ("ok-2", "k"), ("poison-x", "k"), ("ok-3", "k")])
    lambda_client.create_event_source_mapping(
        EventSourceArn=arn,
        FunctionName="bisector",
        StartingPosition="TRIM_HORIZON",
        BatchSize=10,
        BisectBatchOnFunctionError=True,
        MaximumRetryAttempts=2,
        DestinationConfig={"OnFailure": {"Destination": dlq_arn}},
    )
    bodies = _collect(webhook, until=lambda got: any([d for _, _, d in b["items"]] == ["ok-3"] for b in got))
    batches = [[data for _, _, data in body["items"]] for body in bodies]
    assert batches[:4] == [
        ["ok-1", "ok-2", "poison-x", "ok-3"],
        ["ok-1", "ok-2"],
        ["poison-x", "ok-3"],
        ["poison-x"],
    ]
    deadline = time.monotonic() + 30
    failures = []
    while not failures and time.monotonic() < deadline:
        failures = sqs.receive_message(QueueUrl=dlq_url, WaitTimeSeconds=2).get("Messages", [])
    record = json.loads(failures[0]["Body"])
    assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert record["KinesisBatchInfo"]["batchSize"] == 1
    assert record["KinesisBatchInfo"]["streamArn"] == arn


def test_it_retries_a_stream_batch_from_the_first_reported_failure(reporter, webhook, lambda_client):
    reporter("reporter", MODE="report")
    arn = _stream("events")
    sequences = _put("events", [("a", "k"), ("b", "k"), ("poison-c", "k"), ("d", "k")])
    lambda_client.create_event_source_mapping(
        EventSourceArn=arn,
        FunctionName="reporter",
        StartingPosition="TRIM_HORIZON",
        FunctionResponseTypes=["ReportBatchItemFailures"],
        MaximumRetryAttempts=1,
    )
    bodies = _collect(webhook, until=lambda got: len(got) >= 2)
    assert [seq for seq, _, _ in bodies[0]["items"]] == sequences
    assert [seq for seq, _, _ in bodies[1]["items"]] == sequences[2:]  # from the lowest failed one
    _put("events", [("e", "k")])
    later = _collect(webhook, until=lambda got: any(d == "e" for b in got for _, _, d in b["items"]))
    assert [data for _, _, data in later[-1]["items"]] == ["e"]  # the checkpoint moved past the batch


ECHO_EVENT_PY = """
import json, os, urllib.request

def handler(event, context):
    request = urllib.request.Request(os.environ["HOOK"], data=json.dumps(event).encode(),
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=10).read()
"""


def test_it_sends_aws_event_shapes_for_queues_and_streams(create_function, webhook, lambda_client, sqs):
    import base64
    import hashlib

    create_function(
        "shapes",
        Code={"ZipFile": make_zip({"lambda_function.py": ECHO_EVENT_PY})},
        Environment={"Variables": {"HOOK": webhook.url}},
    )
    queue_url = sqs.create_queue(QueueName="shaped")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sqs.send_message(
        QueueUrl=queue_url,
        MessageBody='{"n": 1}',
        MessageAttributes={"kind": {"DataType": "String", "StringValue": "test"}},
    )
    lambda_client.create_event_source_mapping(EventSourceArn=queue_arn, FunctionName="shapes")
    record = webhook.wait(1, timeout=60)[0][1]["Records"][0]
    assert record["eventSource"] == "aws:sqs" and record["eventSourceARN"] == queue_arn
    assert record["awsRegion"] == "us-east-1" and record["body"] == '{"n": 1}'
    assert record["md5OfBody"] == hashlib.md5(b'{"n": 1}').hexdigest()
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["messageAttributes"] == {
        "kind": {"stringValue": "test", "stringListValues": [], "binaryListValues": [], "dataType": "String"}
    }
    assert record["receiptHandle"] and record["messageId"]

    stream_arn = _stream("shaped-stream")
    (sequence,) = _put("shaped-stream", [('{"page": "/"}', "user-9")])
    lambda_client.create_event_source_mapping(
        EventSourceArn=stream_arn, FunctionName="shapes", StartingPosition="TRIM_HORIZON"
    )
    record = webhook.wait(1, timeout=60)[0][1]["Records"][0]
    assert record["eventSource"] == "aws:kinesis" and record["eventName"] == "aws:kinesis:record"
    assert record["eventSourceARN"] == stream_arn
    assert record["eventID"] == f"shardId-000000000000:{sequence}"
    kinesis = record["kinesis"]
    assert kinesis["partitionKey"] == "user-9" and kinesis["sequenceNumber"] == sequence
    assert base64.b64decode(kinesis["data"]) == b'{"page": "/"}'
    assert kinesis["kinesisSchemaVersion"] == "1.0" and kinesis["approximateArrivalTimestamp"] > 1.7e9


def test_a_partial_batch_response_with_a_malformed_identifier_fails_the_whole_batch():
    from functions_app.triggers.models import EventSourceMapping
    from functions_app.triggers.pollers.base import BatchOutcome, batch_item_failures

    mapping = EventSourceMapping(kind="stream", config={"FunctionResponseTypes": ["ReportBatchItemFailures"]})

    def failures(payload: bytes):
        outcome = BatchOutcome(True, False, payload, None, "$LATEST", "r")
        return batch_item_failures(mapping, outcome, ["1", "2"])

    assert failures(b'{"batchItemFailures": []}') == set()
    assert failures(b"null") == set()
    assert failures(b'{"batchItemFailures": [{"itemIdentifier": "2"}]}') == {"2"}
    for whole_batch in (
        b'{"batchItemFailures": [{"itemIdentifier": {"partition": "t-0", "offset": 2}}]}',
        b'{"batchItemFailures": [{"itemIdentifier": "9"}]}',
        b'{"batchItemFailures": [{"itemIdentifier": ""}]}',
        b'{"batchItemFailures": [{"wrongKey": "1"}]}',
        b"not json",
    ):
        assert failures(whole_batch) is None, whole_batch


WINDOW_PY = """
import json, os, urllib.request

def handler(event, context):
    state = event.get("state") or {}
    count = state.get("count", 0) + len(event["Records"])
    report = {"final": event["isFinalInvokeForWindow"], "records": len(event["Records"]),
              "state": state, "window": event["window"], "shardId": event["shardId"],
              "arn": event["eventSourceARN"]}
    request = urllib.request.Request(os.environ["HOOK"], data=json.dumps(report).encode(),
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=10).read()
    return {"state": {"count": count}}
"""


def test_it_aggregates_a_tumbling_window_and_closes_it_with_a_final_invocation(
    create_function, webhook, lambda_client
):
    create_function(
        "windowed",
        Code={"ZipFile": make_zip({"lambda_function.py": WINDOW_PY})},
        Environment={"Variables": {"HOOK": webhook.url}},
    )
    arn = _stream("metrics")
    invalid = lambda_client.exceptions.InvalidParameterValueException
    with pytest.raises(invalid, match="ParallelizationFactor 1"):
        lambda_client.create_event_source_mapping(
            EventSourceArn=arn,
            FunctionName="windowed",
            StartingPosition="TRIM_HORIZON",
            TumblingWindowInSeconds=2,
            ParallelizationFactor=2,
        )
    _put("metrics", [("a", "k"), ("b", "k"), ("c", "k")])
    lambda_client.create_event_source_mapping(
        EventSourceArn=arn,
        FunctionName="windowed",
        StartingPosition="TRIM_HORIZON",
        TumblingWindowInSeconds=2,
    )
    reports = _collect(webhook, until=lambda got: any(report["final"] for report in got), timeout=30)
    working, final = reports[:-1], reports[-1]
    assert sum(report["records"] for report in working) == 3
    assert working[0]["state"] == {}
    assert final == {
        **final,
        "records": 0,
        "state": {"count": 3},
        "shardId": "shardId-000000000000",
        "arn": arn,
    }
    start = datetime.fromisoformat(final["window"]["start"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(final["window"]["end"].replace("Z", "+00:00"))
    assert (end - start).total_seconds() == 2
    _put("metrics", [("d", "k")])  # a later window starts from an empty state
    later = _collect(webhook, until=lambda got: any(report["records"] for report in got), timeout=30)
    assert [report["state"] for report in later if report["records"]][0] == {}


SLOW_REPORTER_PY = REPORTER_PY.replace(
    "    return {}\n", "    import time\n    time.sleep(0.05)\n    return {}\n"
)


@pytest.mark.slow
def test_a_shard_whose_poller_dies_is_taken_over_and_loses_nothing(create_function, webhook, lambda_client):
    import os
    import signal
    import subprocess
    import sys

    import redis
    from django.conf import settings

    from tests.conftest import ROOT, stratus_env

    create_function(
        "survivor",
        Code={"ZipFile": make_zip({"lambda_function.py": SLOW_REPORTER_PY})},
        Environment={"Variables": {"HOOK": webhook.url}},
        Timeout=30,
    )
    arn = _stream("durable")
    _put("durable", [(f"r{i}", f"k{i % 5}") for i in range(300)])
    # One more poller of the test's own, so a poller is left whichever one owns the shard.
    spare = subprocess.Popen(
        [sys.executable, "manage.py", "stratus_poller"],
        cwd=ROOT,
        env=stratus_env(),
        stdout=subprocess.DEVNULL,
    )
    try:
        mapping = lambda_client.create_event_source_mapping(
            EventSourceArn=arn, FunctionName="survivor", StartingPosition="TRIM_HORIZON", BatchSize=10
        )
        first = _collect(webhook, until=lambda got: len(got) >= 2, timeout=30)
        lease = redis.Redis.from_url(settings.REDIS_URL).get(f"stratus:esm-lease:{mapping['UUID']}:shard:0")
        owner_pid = int(lease.decode().split(":")[1])
        os.kill(owner_pid, signal.SIGKILL)  # no goodbye: its lease must lapse
        rest = _collect(
            webhook,
            until=lambda got: len({d for b in first + got for _, _, d in b["items"]}) >= 300,
            timeout=60,
        )
    finally:
        spare.terminate()
        spare.wait(timeout=20)
    seen = Counter(data for body in first + rest for _, _, data in body["items"])
    assert len(seen) == 300  # none lost
    # At least once: only what was in flight when the poller died may run twice.
    assert sum(count - 1 for count in seen.values()) <= 10
