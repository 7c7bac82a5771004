"""The Redis Streams source: one Stratus stream shard, read from a checkpoint kept in Redis,
with Kinesis's event and batch-info shapes."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from django.conf import settings

from functions_app.redis_client import redis_client
from functions_app.triggers import streams
from functions_app.triggers.pollers import partitioned
from functions_app.triggers.pollers.partitioned import LogRecord

_MAX_SEQ = 2**64 - 1


def units(mapping) -> list[str]:
    named = streams.stream_arn_parse(mapping.source)
    stream = (
        streams.Stream.objects.filter(name=named.name, account_id=named.account).first() if named else None
    )
    count = stream.shard_count if stream else 0
    return [f"{mapping.uuid}:shard:{shard}" for shard in range(count)]


def run(mapping_id, unit: str, stop) -> None:
    from functions_app.triggers.pollers.base import mapping_load

    mapping = mapping_load(mapping_id)
    if mapping is None:
        return
    shard = int(unit.rsplit(":", 1)[1])
    partitioned.run(mapping_id, StreamShard(mapping, shard), stop)


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class StreamShard:
    def __init__(self, mapping, shard: int) -> None:
        self.redis = redis_client()
        self.arn = mapping.source
        self.name = streams.stream_name_from_arn(mapping.source) or ""
        self.shard = shard
        self.key = streams.shard_key(self.name, shard)
        self.label = streams.shard_id(shard)
        self.checkpoints = f"stratus:esm:{mapping.uuid}:checkpoints"
        self.cursor = self._start(mapping.config)

    def _start(self, config: dict) -> str:
        saved = self.redis.hget(self.checkpoints, self.label)
        if saved:
            return saved.decode()
        position = config.get("StartingPosition", "TRIM_HORIZON")
        if position == "LATEST":
            last = self.redis.xrevrange(self.key, count=1)
            start = last[0][0].decode() if last else "0-0"
        elif position == "AT_TIMESTAMP":
            start = f"{int(config['StartingPositionTimestamp'] * 1000) - 1}-{_MAX_SEQ}"
        else:
            start = "0-0"
        # The first owner fixes where the mapping starts; later owners resume from it.
        self.redis.hsetnx(self.checkpoints, self.label, start)
        return self.redis.hget(self.checkpoints, self.label).decode()

    def read(self, count: int, block_seconds: float) -> list[LogRecord]:
        answer = self.redis.xread(
            {self.key: self.cursor}, count=count, block=max(1, int(block_seconds * 1000))
        )
        records = []
        for _, entries in answer or []:
            for entry_id, fields in entries:
                records.append(
                    LogRecord(
                        position=streams.sequence_number(entry_id),
                        key=fields[b"k"].decode(),
                        data=fields[b"d"],
                        arrival=int(entry_id.split(b"-")[0]) / 1000,
                    )
                )
                self.cursor = entry_id.decode()
        return records

    def rewind(self) -> None:
        saved = self.redis.hget(self.checkpoints, self.label)
        self.cursor = saved.decode() if saved else "0-0"

    def checkpoint(self, record: LogRecord) -> None:
        self.redis.hset(self.checkpoints, self.label, streams.entry_id(record.position))

    def event(self, records: list[LogRecord]) -> dict:
        return {"Records": [self._record(record) for record in records]}

    def _record(self, record: LogRecord) -> dict:
        return {
            "kinesis": {
                "kinesisSchemaVersion": "1.0",
                "partitionKey": record.key,
                "sequenceNumber": record.position,
                "data": base64.b64encode(record.data).decode(),
                "approximateArrivalTimestamp": record.arrival,
            },
            "eventSource": "aws:kinesis",
            "eventVersion": "1.0",
            "eventID": f"{self.label}:{record.position}",
            "eventName": "aws:kinesis:record",
            "invokeIdentityArn": f"arn:aws:iam::{settings.STRATUS_ACCOUNT_ID}:role/stratus-event-source",
            "awsRegion": settings.STRATUS_REGION,
            "eventSourceARN": self.arn,
        }

    def filter_view(self, record: LogRecord) -> dict:
        from functions_app.triggers.filter_patterns import stream_filter_view

        shaped = self._record(record)
        view = stream_filter_view(shaped["kinesis"], record.data)
        return {**shaped, "kinesis": view, "data": view.get("data")}

    def batch_info(self, records: list[LogRecord]) -> dict:
        return {
            "KinesisBatchInfo": {
                "shardId": self.label,
                "startSequenceNumber": records[0].position,
                "endSequenceNumber": records[-1].position,
                "approximateArrivalOfFirstRecord": _iso(records[0].arrival),
                "approximateArrivalOfLastRecord": _iso(records[-1].arrival),
                "batchSize": len(records),
                "streamArn": self.arn,
            }
        }


def lag(mapping) -> int:
    """Records not yet checkpointed across the mapping's shards (for the dashboard)."""
    connection = redis_client()
    total = 0
    name = streams.stream_name_from_arn(mapping.source) or ""
    for unit in units(mapping):
        shard = int(unit.rsplit(":", 1)[1])
        saved = connection.hget(f"stratus:esm:{mapping.uuid}:checkpoints", streams.shard_id(shard))
        after = "(" + saved.decode() if saved else "-"
        total += len(connection.xrange(streams.shard_key(name, shard), min=after, count=10000))
    return total
