"""Kafka records as Lambda shows them: the event, the filter view and the OnFailure batch info,
as pure functions of plain values (so they are tested without a broker)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime

import confluent_kafka

from functions_app.triggers.filter_patterns import stream_filter_view
from functions_app.triggers.pollers.partitioned import LogRecord

_TIMESTAMP_TYPES = {
    confluent_kafka.TIMESTAMP_CREATE_TIME: "CREATE_TIME",
    confluent_kafka.TIMESTAMP_LOG_APPEND_TIME: "LOG_APPEND_TIME",
    confluent_kafka.TIMESTAMP_NOT_AVAILABLE: "NO_TIMESTAMP_TYPE",
}


@dataclass(frozen=True)
class KafkaRecord(LogRecord):
    """A Kafka record as ``partitioned`` sees it (position = the offset as text, arrival = its
    timestamp) with what the event shows besides."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    timestamp_type: str
    key_bytes: bytes | None
    has_value: bool  # False for a tombstone (a null value)
    headers: tuple[tuple[str, bytes | None], ...]

    @property
    def topic_partition(self) -> tuple[str, int]:
        return (self.topic, self.partition)


def kafka_log_record(
    *,
    topic: str,
    partition: int,
    offset: int,
    timestamp_ms: int,
    key: bytes | None,
    value: bytes | None,
    headers: list[tuple[str, bytes | None]] | None = None,
    timestamp_type: str = "CREATE_TIME",
) -> KafkaRecord:
    return KafkaRecord(
        position=str(offset),
        key=base64.b64encode(key).decode() if key is not None else "",
        data=value if value is not None else b"",
        arrival=timestamp_ms / 1000,
        topic=topic,
        partition=partition,
        offset=offset,
        timestamp_ms=timestamp_ms,
        timestamp_type=timestamp_type,
        key_bytes=key,
        has_value=value is not None,
        headers=tuple((name, value) for name, value in headers or ()),
    )


def kafka_record_from_message(message) -> KafkaRecord:
    """The record in a confluent_kafka ``Message`` (one without an error)."""
    kind, stamp = message.timestamp()
    return kafka_log_record(
        topic=message.topic(),
        partition=message.partition(),
        offset=message.offset(),
        timestamp_ms=stamp if kind != confluent_kafka.TIMESTAMP_NOT_AVAILABLE else 0,
        timestamp_type=_TIMESTAMP_TYPES.get(kind, "NO_TIMESTAMP_TYPE"),
        key=message.key(),
        value=message.value(),
        headers=message.headers(),
    )


def kafka_record_json(record: KafkaRecord) -> dict:
    """One record as AWS's Kafka event shows it: key and value in base64 (absent when null),
    header values as lists of byte values."""
    shaped: dict = {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp": record.timestamp_ms,
        "timestampType": record.timestamp_type,
    }
    if record.key_bytes is not None:
        shaped["key"] = base64.b64encode(record.key_bytes).decode()
    if record.has_value:
        shaped["value"] = base64.b64encode(record.data).decode()
    shaped["headers"] = [{name: list(value or b"")} for name, value in record.headers]
    return shaped


def kafka_event(records: list[KafkaRecord], *, bootstrap_servers: str) -> dict:
    """AWS's self-managed Kafka event: records grouped under ``"<topic>-<partition>"``."""
    grouped: dict[str, list[dict]] = {}
    for record in records:
        grouped.setdefault(f"{record.topic}-{record.partition}", []).append(kafka_record_json(record))
    return {"eventSource": "SelfManagedKafka", "bootstrapServers": bootstrap_servers, "records": grouped}


def kafka_filter_view(record: KafkaRecord) -> dict:
    """The record as a filter sees it: only ``value``, decoded (AWS filters Kafka on value alone)."""
    view = stream_filter_view({}, record.data) if record.has_value else {}
    return {"value": view["data"]} if "data" in view else {}


def kafka_batch_info(records: list[KafkaRecord], *, bootstrap_servers: str) -> dict:
    """The OnFailure record's description of a batch, as AWS sends it to an SQS or SNS destination."""
    by_partition: dict[str, list[KafkaRecord]] = {}
    for record in records:
        by_partition.setdefault(f"{record.topic}-{record.partition}", []).append(record)
    payload = json.dumps(kafka_event(records, bootstrap_servers=bootstrap_servers)).encode()
    return {
        "KafkaBatchInfo": {
            "batchSize": len(records),
            "bootstrapServers": bootstrap_servers,
            "payloadSize": len(payload),
            "recordsInfo": {
                label: {
                    "firstRecordOffset": str(group[0].offset),
                    "lastRecordOffset": str(group[-1].offset),
                    "firstRecordTimestamp": _iso(group[0].timestamp_ms),
                    "lastRecordTimestamp": _iso(group[-1].timestamp_ms),
                }
                for label, group in by_partition.items()
            },
        }
    }


def _iso(milliseconds: int) -> str:
    return datetime.fromtimestamp(milliseconds / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
