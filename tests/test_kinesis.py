"""Stratus streams through boto3's own Kinesis client and the AWS CLI: Kinesis Data Streams'
API on Redis Streams."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import urllib.error
import urllib.request

import pytest

from tests.conftest import aws_client, make_zip

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def kinesis(live_server_url, access_key):
    return aws_client("kinesis", live_server_url, access_key)


def _shard_of(description: dict, partition_key: str) -> str:
    """The shard whose HashKeyRange holds the key's MD5, as Kinesis documents it."""
    hashed = int(hashlib.md5(partition_key.encode()).hexdigest(), 16)
    for shard in description["Shards"]:
        low, high = shard["HashKeyRange"]["StartingHashKey"], shard["HashKeyRange"]["EndingHashKey"]
        if int(low) <= hashed <= int(high):
            return shard["ShardId"]
    raise AssertionError(f"no shard holds {partition_key}")


def _read(kinesis, iterator: str, **params) -> dict:
    return kinesis.get_records(ShardIterator=iterator, **params)


def test_it_creates_describes_lists_and_deletes_streams(kinesis):
    kinesis.create_stream(StreamName="clicks", ShardCount=3)
    kinesis.create_stream(StreamName="auto", StreamModeDetails={"StreamMode": "ON_DEMAND"})
    description = kinesis.describe_stream(StreamName="clicks")["StreamDescription"]
    assert description["StreamStatus"] == "ACTIVE"
    assert description["StreamARN"] == "arn:aws:kinesis:us-east-1:000000000000:stream/clicks"
    assert description["StreamModeDetails"] == {"StreamMode": "PROVISIONED"}
    shard_ids = [shard["ShardId"] for shard in description["Shards"]]
    assert shard_ids == ["shardId-000000000000", "shardId-000000000001", "shardId-000000000002"]
    ranges = [
        (int(shard["HashKeyRange"]["StartingHashKey"]), int(shard["HashKeyRange"]["EndingHashKey"]))
        for shard in description["Shards"]
    ]
    assert ranges[0][0] == 0 and ranges[-1][1] == 2**128 - 1
    assert all(high + 1 == next_low for (_, high), (next_low, _) in zip(ranges, ranges[1:], strict=False))
    assert description["Shards"][0]["SequenceNumberRange"]["StartingSequenceNumber"].isdigit()

    by_arn = kinesis.describe_stream_summary(StreamARN=description["StreamARN"])["StreamDescriptionSummary"]
    assert by_arn["StreamName"] == "clicks" and by_arn["OpenShardCount"] == 3
    auto = kinesis.describe_stream_summary(StreamName="auto")["StreamDescriptionSummary"]
    assert auto["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"} and auto["OpenShardCount"] == 4

    listed = kinesis.list_streams()
    assert listed["StreamNames"] == ["auto", "clicks"] and listed["HasMoreStreams"] is False
    assert [summary["StreamARN"] for summary in listed["StreamSummaries"]] == [
        "arn:aws:kinesis:us-east-1:000000000000:stream/auto",
        description["StreamARN"],
    ]
    first = kinesis.list_streams(Limit=1)
    assert first["StreamNames"] == ["auto"] and first["HasMoreStreams"] is True
    assert kinesis.list_streams(NextToken=first["NextToken"])["StreamNames"] == ["clicks"]
    paged = kinesis.get_paginator("list_streams").paginate(PaginationConfig={"PageSize": 1})
    assert paged.build_full_result()["StreamNames"] == ["auto", "clicks"]

    page = kinesis.list_shards(StreamName="clicks", MaxResults=2)
    rest = kinesis.list_shards(NextToken=page["NextToken"])
    assert [shard["ShardId"] for shard in page["Shards"] + rest["Shards"]] == [
        shard["ShardId"] for shard in description["Shards"]
    ]
    assert "NextToken" not in rest
    after_first = kinesis.list_shards(
        StreamName="clicks", ShardFilter={"Type": "AFTER_SHARD_ID", "ShardId": "shardId-000000000000"}
    )
    assert [shard["ShardId"] for shard in after_first["Shards"]] == shard_ids[1:]
    shards = kinesis.get_paginator("describe_stream").paginate(
        StreamName="clicks", PaginationConfig={"PageSize": 1}
    )
    assert [
        shard["ShardId"] for shard in shards.build_full_result()["StreamDescription"]["Shards"]
    ] == shard_ids

    kinesis.delete_stream(StreamName="clicks")
    kinesis.delete_stream(StreamARN="arn:aws:kinesis:us-east-1:000000000000:stream/auto")
    assert kinesis.list_streams()["StreamNames"] == []
    with pytest.raises(kinesis.exceptions.ResourceNotFoundException):
        kinesis.describe_stream(StreamName="clicks")


def test_it_puts_records_on_the_shard_their_key_hashes_to(kinesis):
    from functions_app.triggers.streams import shard_for, shard_id

    kinesis.create_stream(StreamName="spread", ShardCount=4)
    description = kinesis.describe_stream(StreamName="spread")["StreamDescription"]
    for key in ("user-1", "user-2", "user-3", "ünïcode"):
        put = kinesis.put_record(StreamName="spread", Data=b"one", PartitionKey=key)
        assert put["ShardId"] == _shard_of(description, key) == shard_id(shard_for(key, 4))
        assert put["SequenceNumber"].isdigit()

    keys = [f"key-{n}" for n in range(40)]
    batch = kinesis.put_records(
        StreamARN=description["StreamARN"],
        Records=[{"Data": f"record {n}".encode(), "PartitionKey": key} for n, key in enumerate(keys)],
    )
    assert batch["FailedRecordCount"] == 0 and len(batch["Records"]) == 40
    for key, result in zip(keys, batch["Records"], strict=True):
        assert result["ShardId"] == _shard_of(description, key) == shard_id(shard_for(key, 4))
    assert len({result["ShardId"] for result in batch["Records"]}) == 4

    last_shard = description["Shards"][3]
    explicit = kinesis.put_record(
        StreamName="spread",
        Data=b"pinned",
        PartitionKey="user-1",
        ExplicitHashKey=last_shard["HashKeyRange"]["StartingHashKey"],
    )
    assert explicit["ShardId"] == last_shard["ShardId"]
    iterator = kinesis.get_shard_iterator(
        StreamName="spread",
        ShardId=last_shard["ShardId"],
        ShardIteratorType="AT_SEQUENCE_NUMBER",
        StartingSequenceNumber=explicit["SequenceNumber"],
    )["ShardIterator"]
    (record,) = _read(kinesis, iterator)["Records"]
    assert record["Data"] == b"pinned" and record["PartitionKey"] == "user-1"


def test_it_reads_a_shard_with_every_iterator_type(kinesis):
    kinesis.create_stream(StreamName="reads", ShardCount=1)
    shard = "shardId-000000000000"
    put = kinesis.put_records(
        StreamName="reads",
        Records=[{"Data": f"r{n}".encode(), "PartitionKey": f"k{n}"} for n in range(3)],
    )
    sequences = [result["SequenceNumber"] for result in put["Records"]]
    assert sequences == sorted(sequences, key=int)

    def iterator(kind: str, **params) -> str:
        return kinesis.get_shard_iterator(
            StreamName="reads", ShardId=shard, ShardIteratorType=kind, **params
        )["ShardIterator"]

    time.sleep(0.05)
    first = _read(kinesis, iterator("TRIM_HORIZON"), Limit=2)
    assert [record["Data"] for record in first["Records"]] == [b"r0", b"r1"]
    assert [record["SequenceNumber"] for record in first["Records"]] == sequences[:2]
    assert first["Records"][0]["PartitionKey"] == "k0"
    assert abs(first["Records"][0]["ApproximateArrivalTimestamp"].timestamp() - time.time()) < 60
    assert first["MillisBehindLatest"] >= 50  # r2, at least 50 ms old, is still unread
    second = _read(kinesis, first["NextShardIterator"])
    assert [record["Data"] for record in second["Records"]] == [b"r2"]
    caught_up = _read(kinesis, second["NextShardIterator"])
    assert caught_up["Records"] == [] and caught_up["MillisBehindLatest"] == 0

    at = _read(kinesis, iterator("AT_SEQUENCE_NUMBER", StartingSequenceNumber=sequences[1]))
    assert [record["SequenceNumber"] for record in at["Records"]] == sequences[1:]
    after = _read(kinesis, iterator("AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=sequences[1]))
    assert [record["SequenceNumber"] for record in after["Records"]] == sequences[2:]

    latest = iterator("LATEST")
    assert _read(kinesis, latest)["Records"] == []
    (late,) = kinesis.put_records(StreamName="reads", Records=[{"Data": b"r3", "PartitionKey": "k3"}])[
        "Records"
    ]
    from_latest = _read(kinesis, latest)["Records"]
    assert [record["SequenceNumber"] for record in from_latest] == [late["SequenceNumber"]]

    # r3 went in at least 50 ms after r2, so its arrival time separates the two.
    arrival = from_latest[0]["ApproximateArrivalTimestamp"]
    by_time = _read(kinesis, iterator("AT_TIMESTAMP", Timestamp=arrival))["Records"]
    assert [record["Data"] for record in by_time] == [b"r3"]
    before = _read(kinesis, iterator("AT_TIMESTAMP", Timestamp=time.time() - 60))["Records"]
    assert [record["Data"] for record in before] == [b"r0", b"r1", b"r2", b"r3"]

    # boto3's waiter polls DescribeStream; a Stratus stream is ACTIVE at once.
    kinesis.get_waiter("stream_exists").wait(StreamName="reads", WaiterConfig={"Delay": 1})


def test_it_answers_with_kinesis_modeled_errors(kinesis, live_server_url, access_key):
    from django.core import signing

    from functions_app.triggers import kinesis_api

    with pytest.raises(kinesis.exceptions.ResourceNotFoundException):
        kinesis.describe_stream(StreamName="nope")
    with pytest.raises(kinesis.exceptions.ResourceNotFoundException):
        kinesis.put_record(StreamName="nope", Data=b"x", PartitionKey="k")
    kinesis.create_stream(StreamName="taken", ShardCount=1)
    with pytest.raises(kinesis.exceptions.ResourceInUseException, match="already exists"):
        kinesis.create_stream(StreamName="taken", ShardCount=1)
    with pytest.raises(kinesis.exceptions.InvalidArgumentException, match="ShardCount"):
        kinesis.create_stream(StreamName="huge", ShardCount=65)
    unvalidated = aws_client("kinesis", live_server_url, access_key, parameter_validation=False)
    with pytest.raises(kinesis.exceptions.ValidationException, match="'ShardCount' failed to satisfy"):
        unvalidated.create_stream(StreamName="empty", ShardCount=0)
    with pytest.raises(
        kinesis.exceptions.ClientError, match="ValidationException.*less than or equal to 500"
    ):
        unvalidated.put_records(StreamName="taken", Records=[{"Data": b"x", "PartitionKey": "k"}] * 501)
    with pytest.raises(kinesis.exceptions.ResourceNotFoundException, match="shardId-000000000009"):
        kinesis.get_shard_iterator(
            StreamName="taken", ShardId="shardId-000000000009", ShardIteratorType="TRIM_HORIZON"
        )
    with pytest.raises(kinesis.exceptions.InvalidArgumentException):
        kinesis.get_shard_iterator(
            StreamName="taken", ShardId="shardId-000000000000", ShardIteratorType="AT_SEQUENCE_NUMBER"
        )
    with pytest.raises(kinesis.exceptions.InvalidArgumentException):
        kinesis.get_records(ShardIterator="not-an-iterator")

    iterator = kinesis.get_shard_iterator(
        StreamName="taken", ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    claims = signing.loads(iterator, salt=kinesis_api.ITERATOR_SALT)

    class SignedTenMinutesAgo(signing.TimestampSigner):
        def timestamp(self) -> str:
            return signing.b62_encode(int(time.time()) - 600)

    stale = SignedTenMinutesAgo(salt=kinesis_api.ITERATOR_SALT).sign_object(claims)
    with pytest.raises(kinesis.exceptions.ExpiredIteratorException):
        kinesis.get_records(ShardIterator=stale)

    kinesis.delete_stream(StreamName="taken")
    kinesis.create_stream(StreamName="taken", ShardCount=1)
    with pytest.raises(kinesis.exceptions.ResourceNotFoundException):
        kinesis.get_records(ShardIterator=iterator)  # the iterator named the deleted stream


def _post(url: str, *, signed_for: tuple[tuple[str, str], str] | None, content_type: str) -> tuple[int, dict]:
    """A raw ListStreams call, SigV4-signed for a given ``(key, service)`` or not at all."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(
        method="POST",
        url=f"{url}/",
        data=b"{}",
        headers={"X-Amz-Target": "Kinesis_20131202.ListStreams", "Content-Type": content_type},
    )
    if signed_for:
        SigV4Auth(Credentials(*signed_for[0]), signed_for[1], "us-east-1").add_auth(request)
    prepared = request.prepare()
    http = urllib.request.Request(prepared.url, data=b"{}", headers=dict(prepared.headers))
    try:
        with urllib.request.urlopen(http, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_it_refuses_unsigned_wrongly_scoped_and_cbor_requests(live_server_url, access_key):
    json_type = "application/x-amz-json-1.1"
    status, body = _post(live_server_url, signed_for=None, content_type=json_type)
    assert (status, body["__type"]) == (403, "MissingAuthenticationTokenException")
    status, body = _post(live_server_url, signed_for=(access_key, "sqs"), content_type=json_type)
    assert (status, body["__type"]) == (403, "InvalidSignatureException")
    status, body = _post(
        live_server_url, signed_for=(access_key, "kinesis"), content_type="application/x-amz-cbor-1.1"
    )
    assert (status, body["__type"]) == (400, "SerializationException") and "CBOR" in body["message"]
    status, body = _post(live_server_url, signed_for=(access_key, "kinesis"), content_type=json_type)
    assert (status, body) == (200, {"StreamNames": [], "HasMoreStreams": False, "StreamSummaries": []})


def test_the_aws_cli_drives_stratus_streams(aws_cli):
    aws_cli("kinesis", "create-stream", "--stream-name", "cli-clicks", "--shard-count", "2")
    put = json.loads(
        aws_cli(
            "kinesis",
            "put-record",
            "--stream-name",
            "cli-clicks",
            "--partition-key",
            "user-1",
            "--data",
            '{"page": "/"}',  # AWS CLI v1 sends --data as text; v2 needs --cli-binary-format for that
        ).stdout
    )
    iterator = json.loads(
        aws_cli(
            "kinesis",
            "get-shard-iterator",
            "--stream-name",
            "cli-clicks",
            "--shard-id",
            put["ShardId"],
            "--shard-iterator-type",
            "TRIM_HORIZON",
        ).stdout
    )["ShardIterator"]
    (record,) = json.loads(aws_cli("kinesis", "get-records", "--shard-iterator", iterator).stdout)["Records"]
    assert record["SequenceNumber"] == put["SequenceNumber"]
    assert base64.b64decode(record["Data"]) == b'{"page": "/"}'
    missing = aws_cli("kinesis", "describe-stream", "--stream-name", "nope", check=False)
    assert missing.returncode != 0 and "ResourceNotFoundException" in missing.stderr


# Posts the decoded records of each invocation to the webhook named in the environment.
FORWARD_PY = """
import base64, json, os, urllib.request

def handler(event, context):
    records = [
        {
            "data": base64.b64decode(record["kinesis"]["data"]).decode(),
            "key": record["kinesis"]["partitionKey"],
            "sequence": record["kinesis"]["sequenceNumber"],
            "source": record["eventSourceARN"],
        }
        for record in event["Records"]
    ]
    request = urllib.request.Request(
        os.environ["HOOK"], data=json.dumps(records).encode(), headers={"Content-Type": "application/json"}
    )
    urllib.request.urlopen(request, timeout=10).read()
"""


@pytest.mark.usefixtures("stratus_workers", "stratus_pollers")
def test_a_stream_made_with_kinesis_feeds_an_event_source_mapping(
    kinesis, lambda_client, create_function, webhook
):
    create_function(
        "forwarder",
        Code={"ZipFile": make_zip({"lambda_function.py": FORWARD_PY})},
        Environment={"Variables": {"HOOK": webhook.url}},
        Timeout=30,
    )
    kinesis.create_stream(StreamName="feed", ShardCount=2)
    arn = kinesis.describe_stream(StreamName="feed")["StreamDescription"]["StreamARN"]
    put = kinesis.put_records(
        StreamName="feed",
        Records=[{"Data": f"event {n}".encode(), "PartitionKey": f"user-{n % 5}"} for n in range(20)],
    )
    lambda_client.create_event_source_mapping(
        EventSourceArn=arn, FunctionName="forwarder", StartingPosition="TRIM_HORIZON", BatchSize=10
    )
    delivered: list[dict] = []
    deadline = time.monotonic() + 45
    while len(delivered) < 20 and time.monotonic() < deadline:
        (_, body, _), *_ = webhook.wait(1, timeout=max(1, deadline - time.monotonic()))
        delivered.extend(body)
    assert sorted(record["sequence"] for record in delivered) == sorted(
        result["SequenceNumber"] for result in put["Records"]
    )
    assert {record["data"] for record in delivered} == {f"event {n}" for n in range(20)}
    assert {record["source"] for record in delivered} == {arn}
