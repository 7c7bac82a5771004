"""Self-managed Kafka event source mappings: the event and batch-info shapes and the
one-partition-per-batch bookkeeping as pure functions of plain values, the real librdkafka
consumer without a broker, and, when KAFKA_BOOTSTRAP_SERVERS names one, a live end-to-end run."""

from __future__ import annotations

import base64
import json
import os
import queue
import threading
import time
import uuid
from collections import Counter, defaultdict

import pytest
from confluent_kafka import TopicPartition
from django.db import connection

from functions_app.triggers.filter_patterns import patterns_match
from functions_app.triggers.models import EventSourceMapping
from functions_app.triggers.pollers import kafka
from functions_app.triggers.pollers.kafka import (
    PartitionBatches,
    consumer_config,
    kafka_batch_info,
    kafka_event,
    kafka_filter_view,
    kafka_log_record,
    kafka_record_json,
)
from tests.conftest import make_zip

BROKERS = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "")
UNREACHABLE = "127.0.0.1:1"


def _record(partition: int, offset: int, *, topic: str = "orders", value: bytes | None = b"v", **extra):
    return kafka_log_record(
        topic=topic,
        partition=partition,
        offset=offset,
        timestamp_ms=1545084650987 + offset,
        key=extra.pop("key", None),
        value=value,
        **extra,
    )


# --- Shapes --------------------------------------------------------------------------------------


def test_it_shapes_a_record_as_the_aws_kafka_event_does():
    record = kafka_log_record(
        topic="mytopic",
        partition=0,
        offset=15,
        timestamp_ms=1545084650987,
        key=b"order-7",
        value=b"Hello, this is a test.",
        headers=[("headerKey", b"headerValue"), ("empty", None)],
    )

    assert kafka_record_json(record) == {
        "topic": "mytopic",
        "partition": 0,
        "offset": 15,
        "timestamp": 1545084650987,
        "timestampType": "CREATE_TIME",
        "key": base64.b64encode(b"order-7").decode(),
        "value": "SGVsbG8sIHRoaXMgaXMgYSB0ZXN0Lg==",
        "headers": [{"headerKey": list(b"headerValue")}, {"empty": []}],
    }
    # What partitioned.run works with: the offset as the position, the timestamp as the arrival.
    assert record.position == "15"
    assert record.arrival == pytest.approx(1545084650.987)


def test_it_leaves_out_a_null_key_and_a_tombstones_value():
    shaped = kafka_record_json(_record(3, 9, value=None, timestamp_type="LOG_APPEND_TIME"))

    assert "key" not in shaped
    assert "value" not in shaped
    assert shaped["timestampType"] == "LOG_APPEND_TIME"
    assert shaped["headers"] == []


def test_it_groups_the_event_by_topic_and_partition():
    event = kafka_event([_record(1, 4), _record(1, 5), _record(2, 0)], bootstrap_servers="a:9092,b:9092")

    assert event["eventSource"] == "SelfManagedKafka"
    assert event["bootstrapServers"] == "a:9092,b:9092"
    assert list(event["records"]) == ["orders-1", "orders-2"]
    assert [record["offset"] for record in event["records"]["orders-1"]] == [4, 5]


def test_it_describes_a_failed_batch_as_aws_kafka_batch_info():
    records = [_record(1, 100), _record(1, 101), _record(1, 102)]

    info = kafka_batch_info(records, bootstrap_servers="a:9092")

    payload = json.dumps(kafka_event(records, bootstrap_servers="a:9092")).encode()
    assert info == {
        "KafkaBatchInfo": {
            "batchSize": 3,
            "bootstrapServers": "a:9092",
            "payloadSize": len(payload),
            "recordsInfo": {
                "orders-1": {
                    "firstRecordOffset": "100",
                    "lastRecordOffset": "102",
                    "firstRecordTimestamp": "2018-12-17T22:10:51.087Z",
                    "lastRecordTimestamp": "2018-12-17T22:10:51.089Z",
                }
            },
        }
    }


def test_it_filters_on_the_decoded_value_only():
    pattern = {"value": {"device_ID": [{"prefix": "AB"}]}}
    matching = _record(0, 1, value=json.dumps({"device_ID": "AB1234"}).encode())
    other = _record(0, 2, value=json.dumps({"device_ID": "CD1234"}).encode())

    assert kafka_filter_view(matching) == {"value": {"device_ID": "AB1234"}}
    assert patterns_match([pattern], kafka_filter_view(matching))
    assert not patterns_match([pattern], kafka_filter_view(other))
    assert kafka_filter_view(_record(0, 3, value=b"plain text")) == {"value": "plain text"}
    assert kafka_filter_view(_record(0, 4, value=b"\xff\xfe")) == {}  # not text: nothing to match
    assert kafka_filter_view(_record(0, 5, value=None)) == {}


@pytest.mark.parametrize(
    ("position", "reset"), [("TRIM_HORIZON", "earliest"), ("LATEST", "latest"), ("AT_TIMESTAMP", "earliest")]
)
def test_it_configures_the_consumer_from_the_mapping(position, reset):
    config = consumer_config(
        {
            "SelfManagedEventSource": {"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": ["a:9092", "b:9092"]}},
            "SelfManagedKafkaEventSourceConfig": {"ConsumerGroupId": "billing"},
            "StartingPosition": position,
        },
        client_id="stratus-test",
    )

    assert config["bootstrap.servers"] == "a:9092,b:9092"
    assert config["group.id"] == "billing"
    assert config["enable.auto.commit"] is False
    assert config["auto.offset.reset"] == reset


# --- One partition per batch ---------------------------------------------------------------------


def test_it_hands_out_one_partition_at_a_time_in_order():
    batches = PartitionBatches()
    batches.add([_record(0, 10), _record(1, 0), _record(0, 11), _record(1, 1), _record(0, 12)])

    first = batches.take(2)
    assert [(r.partition, r.offset) for r in first] == [(0, 10), (0, 11)]
    assert [(r.partition, r.offset) for r in batches.take(5)] == [(0, 12)]
    assert batches.take(5) == []  # the batch stays on partition 0 until it is checkpointed

    assert batches.checkpoint(first[-1]) == TopicPartition("orders", 0, 12)
    assert [(r.partition, r.offset) for r in batches.take(5)] == [(1, 0), (1, 1)]


def test_it_lets_partitions_take_turns():
    batches = PartitionBatches()
    batches.add([_record(0, 0), _record(0, 1), _record(1, 0), _record(2, 0)])

    [zero] = batches.take(1)
    batches.checkpoint(zero)  # partition 0 still has a record: it goes to the back of the line
    assert [r.partition for r in batches.take(5)] == [1]
    batches.checkpoint(_record(1, 0))
    assert [r.partition for r in batches.take(5)] == [2]
    batches.checkpoint(_record(2, 0))
    assert [(r.partition, r.offset) for r in batches.take(5)] == [(0, 1)]


def test_it_rewinds_every_partition_to_its_first_record_since_the_last_commit():
    batches = PartitionBatches()
    batches.add([_record(0, 10), _record(0, 11), _record(1, 5)])
    batches.checkpoint(batches.take(1)[0])  # partition 0 committed up to 10
    batches.add([_record(1, 6), _record(2, 0)])
    batches.take(5)

    seeks = batches.rewind()

    assert sorted((tp.partition, tp.offset) for tp in seeks) == [(0, 11), (1, 5), (2, 0)]
    assert batches.take(5) == []  # everything is read again from Kafka after the seeks
    assert batches.rewind() == []


def test_it_stops_a_batch_whose_partition_was_revoked():
    batches = PartitionBatches()
    batches.add([_record(0, 0), _record(0, 1), _record(1, 0)])
    [first] = batches.take(1)

    batches.revoke([("orders", 0)])

    assert batches.take(5) == []  # what is left of partition 0 belongs to its new owner
    batches.checkpoint(first)
    assert [(r.partition, r.offset) for r in batches.take(5)] == [(1, 0)]
    assert ("orders", 0) not in batches.unsettled_from


# --- The real consumer, without a broker ----------------------------------------------------------


def _kafka_config(topic: str, servers: list[str], *, group: str = "stratus-tests") -> dict:
    return {
        "SelfManagedEventSource": {"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": servers}},
        "Topics": [topic],
        "SelfManagedKafkaEventSourceConfig": {"ConsumerGroupId": group},
        "StartingPosition": "TRIM_HORIZON",
        "BatchSize": 100,
        "MaximumBatchingWindowInSeconds": 0,
    }


def test_a_source_on_an_unreachable_cluster_reads_nothing_and_closes_promptly():
    mapping = EventSourceMapping(
        uuid=uuid.uuid4(), kind="kafka", source="orders", config=_kafka_config("orders", [UNREACHABLE])
    )
    source = kafka.KafkaTopicSource(mapping)
    try:
        started = time.monotonic()
        assert source.read(10, 0.5) == []
        assert 0.4 < time.monotonic() - started < 3
        assert source.event([]) == {
            "eventSource": "SelfManagedKafka",
            "bootstrapServers": UNREACHABLE,
            "records": {},
        }
    finally:
        started = time.monotonic()
        source.close()
        assert time.monotonic() - started < 5


@pytest.mark.django_db(transaction=True)
def test_the_poller_reports_an_unreachable_cluster_and_stops_when_told(lambda_client, create_function):
    create_function("kafka-unreachable")
    mapping = lambda_client.create_event_source_mapping(
        FunctionName="kafka-unreachable",
        Topics=["orders"],
        SelfManagedEventSource={"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": [UNREACHABLE]}},
        StartingPosition="TRIM_HORIZON",
    )
    assert "EventSourceArn" not in mapping
    stop = threading.Event()

    def poll() -> None:  # as a poller process's thread runs a unit
        try:
            kafka.run(mapping["UUID"], f"{mapping['UUID']}:kafka", stop)
        finally:
            connection.close()

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while "Connection error" not in (
            result := lambda_client.get_event_source_mapping(UUID=mapping["UUID"])["LastProcessingResult"]
        ):
            assert time.monotonic() < deadline, result
            time.sleep(0.3)
        assert UNREACHABLE in result
    finally:
        stop.set()
        thread.join(timeout=10)
        lambda_client.delete_event_source_mapping(UUID=mapping["UUID"])
    assert not thread.is_alive(), "the Kafka poller did not stop within 10 s of being told"


# --- Live, against a real cluster ----------------------------------------------------------------

REPORTER_PY = """
import base64, json, os, urllib.request

def handler(event, context):
    records = [
        {"label": label, "partition": r["partition"], "offset": r["offset"], "value": base64.b64decode(r["value"]).decode()}
        for label, batch in event["records"].items()
        for r in batch
    ]
    report = {"eventSource": event["eventSource"], "bootstrapServers": event["bootstrapServers"], "records": records}
    request = urllib.request.Request(
        os.environ["WEBHOOK"], data=json.dumps(report).encode(), headers={"Content-Type": "application/json"}
    )
    urllib.request.urlopen(request, timeout=10).close()
    return {"processed": len(records)}
"""


@pytest.mark.skipif(not BROKERS, reason="no Kafka broker: set KAFKA_BOOTSTRAP_SERVERS to run")
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("stratus_workers", "stratus_pollers")
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_it_delivers_a_thousand_records_each_exactly_once_in_partition_order(
    lambda_client, create_function, webhook
):
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    topic = f"stratus-test-{uuid.uuid4().hex[:12]}"
    admin = AdminClient({"bootstrap.servers": BROKERS})
    admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])[topic].result(timeout=30)
    create_function(
        "kafka-thousand",
        Code={"ZipFile": make_zip({"lambda_function.py": REPORTER_PY})},
        Environment={"Variables": {"WEBHOOK": webhook.url}},
        Timeout=30,
    )
    mapping = lambda_client.create_event_source_mapping(
        FunctionName="kafka-thousand",
        Topics=[topic],
        SelfManagedEventSource={"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": BROKERS.split(",")}},
        SelfManagedKafkaEventSourceConfig={"ConsumerGroupId": f"stratus-test-{uuid.uuid4().hex[:8]}"},
        StartingPosition="TRIM_HORIZON",
        BatchSize=100,
    )
    try:
        producer = Producer({"bootstrap.servers": BROKERS})
        sent = [f"record-{number:04d}" for number in range(1000)]
        for number, value in enumerate(sent):
            producer.produce(topic, key=f"key-{number % 10}".encode(), value=value.encode())
        assert producer.flush(30) == 0

        reports: list[dict] = []
        deadline = time.monotonic() + 200
        while sum(len(report["records"]) for report in reports) < len(sent) and time.monotonic() < deadline:
            try:
                reports.append(webhook.received.get(timeout=0.5)[1])
            except queue.Empty:
                continue
        quiet_until = time.monotonic() + 5  # a duplicate would come now
        while time.monotonic() < quiet_until:
            try:
                reports.append(webhook.received.get(timeout=0.5)[1])
            except queue.Empty:
                continue

        received = [record["value"] for report in reports for record in report["records"]]
        doubled = [value for value, count in Counter(received).items() if count > 1]
        assert not doubled, f"{len(doubled)} records arrived more than once, e.g. {doubled[:5]}"
        assert sorted(received) == sent, f"{len(set(sent) - set(received))} records never arrived"
        offsets: dict[int, list[int]] = defaultdict(list)
        for report in reports:
            assert report["eventSource"] == "SelfManagedKafka"
            assert len({record["label"] for record in report["records"]}) == 1  # one partition a batch
            for record in report["records"]:
                assert record["label"] == f"{topic}-{record['partition']}"
                offsets[record["partition"]].append(record["offset"])
        assert all(found == sorted(found) for found in offsets.values())
    finally:
        lambda_client.delete_event_source_mapping(UUID=mapping["UUID"])
        admin.delete_topics([topic])
