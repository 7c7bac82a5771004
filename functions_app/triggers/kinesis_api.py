"""Amazon Kinesis Data Streams' own API for Stratus streams: ``POST /`` with
``X-Amz-Target: Kinesis_20131202.<Op>``, SigV4-signed for the ``kinesis`` service, served
through the front door (``awsapi``) from the table ``KINESIS``.

The wire is JSON 1.1 (``application/x-amz-json-1.1``): botocore's Kinesis model lists only the
``json`` protocol, and that is what boto3 and the AWS CLI send (the Java SDKs' CBOR is not
served). Bodies are checked against botocore's model (``awsapi.shapes``), and errors carry
``__type`` so botocore raises its modeled exceptions (``kinesis.exceptions.ResourceNotFoundException``
and the rest).

- Shards split the 128-bit hash key space into equal slices, the ones ``streams.shard_for``
  maps a partition key's MD5 into, so DescribeStream's ``HashKeyRange`` is where a record
  lands and an ``ExplicitHashKey`` picks its shard the same way.
- A shard iterator is a token signed with ``SECRET_KEY`` naming the stream (its name and row,
  so a recreated stream's old iterators fail), the shard and the Redis entry id to read from;
  like Kinesis's it expires after five minutes.
- Stratus does not reshard: an ``ON_DEMAND`` stream gets a fixed 4 shards. Tags and the
  throughput and encryption settings are accepted and ignored; records are never trimmed.
- Every operation is authorized as ``kinesis:<Operation>`` on the stream it names; a refusal is
  Kinesis's ``AccessDeniedException``, HTTP 400. A ``StreamARN`` names its account, a
  ``StreamName`` is the caller's account's (iam/tenancy.py); streams have no resource policy,
  so another account's stream is refused. Names are unique across the install for now: see
  ``streams``.
"""

from __future__ import annotations

import base64
import binascii
import math
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.exceptions import RequestDataTooBig

from awsapi.errors import AwsError
from awsapi.front import Call, Service, on_params
from functions_app.errors import InvalidParameterValue, ResourceConflict, ResourceNotFound
from functions_app.redis_client import redis_client
from functions_app.triggers import streams
from functions_app.triggers.models import Stream
from iam.tenancy import current_account

ON_DEMAND_SHARDS = 4
ITERATOR_SECONDS = 300
ITERATOR_SALT = "stratus.kinesis.shard-iterator"
GET_RECORDS_MAX_BYTES = 10 * 1024 * 1024
_HASH_SPACE = 1 << 128
_MODES = "stratus:kinesis:modes"  # stream row id -> ON_DEMAND; absent means PROVISIONED
_LISTING_SALT = "stratus.kinesis.listing"
_LISTING_TOKEN_SECONDS = 300


class KinesisError(AwsError):
    """An error in Kinesis's words."""

    def __init__(self, code: str, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.status = code, status


def _invalid(message: str) -> KinesisError:
    return KinesisError("InvalidArgumentException", message)


def _account() -> str:
    """The caller's account, whose streams a StreamName names."""
    return current_account() or settings.STRATUS_ACCOUNT_ID


def _not_found(name: str, account: str | None = None) -> KinesisError:
    return KinesisError(
        "ResourceNotFoundException", f"Stream {name} under account {account or _account()} not found."
    )


def _stream(document: dict) -> Stream:
    """The stream a request names by ``StreamName`` (in the caller's account) or ``StreamARN``
    (in the account it names)."""
    name, arn = document.get("StreamName"), document.get("StreamARN")
    account = _account()
    if arn:
        named = streams.stream_arn_parse(arn)
        if named is None:
            raise KinesisError("ResourceNotFoundException", f"Stream {arn} not found.")
        if name and name != named.name:
            raise _invalid(f"StreamName {name} and StreamARN {arn} name different streams.")
        account, name = named
    if not name:
        raise _invalid("Either StreamName or StreamARN should be provided.")
    stream = Stream.objects.filter(name=name, account_id=account).first()
    if stream is None:
        raise _not_found(name, account)
    return stream


def _modes(stream_list: list[Stream]) -> list[str]:
    if not stream_list:
        return []
    found = redis_client().hmget(_MODES, [str(stream.pk) for stream in stream_list])
    return [mode.decode() if mode else "PROVISIONED" for mode in found]


def _hash_start(shard: int, count: int) -> int:
    """The least hash key ``streams.shard_for`` maps to ``shard``: ceil(shard * 2**128 / count)."""
    return -(-shard * _HASH_SPACE // count)


def _shard_shape(stream: Stream, shard: int) -> dict:
    created_ms = int(stream.created_at.timestamp() * 1000)
    return {
        "ShardId": streams.shard_id(shard),
        "HashKeyRange": {
            "StartingHashKey": str(_hash_start(shard, stream.shard_count)),
            "EndingHashKey": str(_hash_start(shard + 1, stream.shard_count) - 1),
        },
        # Every record's Redis entry id is at or after the stream's creation.
        "SequenceNumberRange": {"StartingSequenceNumber": streams.sequence_number(f"{created_ms}-0")},
    }


def _shards_after(stream: Stream, after: str | None) -> list[dict]:
    """The stream's shards whose ids sort after ``after`` (they are zero-padded, so ids sort)."""
    ids = (streams.shard_id(shard) for shard in range(stream.shard_count))
    return [_shard_shape(stream, shard) for shard, sid in enumerate(ids) if not after or sid > after]


def _shard_index(stream: Stream, shard_id: str) -> int:
    for shard in range(stream.shard_count):
        if streams.shard_id(shard) == shard_id:
            return shard
    raise KinesisError(
        "ResourceNotFoundException",
        f"Shard {shard_id} in stream {stream.name} under account {stream.account_id} does not exist",
    )


def _summary(stream: Stream, mode: str) -> dict:
    return {
        "StreamName": stream.name,
        "StreamARN": stream.arn(),
        "StreamStatus": "ACTIVE",
        "StreamModeDetails": {"StreamMode": mode},
        "StreamCreationTimestamp": stream.created_at.timestamp(),
    }


def _description_common(stream: Stream) -> dict:
    return {
        **_summary(stream, _modes([stream])[0]),
        "RetentionPeriodHours": 24,  # Kinesis's default; Stratus never trims a shard
        "EnhancedMonitoring": [{"ShardLevelMetrics": []}],
        "EncryptionType": "NONE",
    }


def _listing_token(listing: str, **position: Any) -> str:
    return signing.dumps({"l": listing, **position}, salt=_LISTING_SALT)


def _listing_position(listing: str, token: str) -> dict:
    try:
        position = signing.loads(token, salt=_LISTING_SALT, max_age=_LISTING_TOKEN_SECONDS)
    except signing.SignatureExpired:
        raise KinesisError("ExpiredNextTokenException", "The NextToken has expired.") from None
    except signing.BadSignature:
        raise _invalid("The NextToken is not one this operation returned.") from None
    if position.get("l") != listing:
        raise _invalid("The NextToken is not one this operation returned.")
    return position


def create_stream(document: dict) -> dict:
    mode = (document.get("StreamModeDetails") or {}).get("StreamMode")
    count = document.get("ShardCount")
    if mode == "ON_DEMAND" and count is not None:
        raise _invalid("ShardCount is not accepted for an ON_DEMAND stream.")
    if mode == "PROVISIONED" and count is None:
        raise _invalid("A PROVISIONED stream needs a ShardCount.")
    if count is None:
        mode, count = "ON_DEMAND", ON_DEMAND_SHARDS
    name = document["StreamName"]
    try:
        stream = streams.stream_create(name=name, shard_count=count)
    except ResourceConflict:
        raise KinesisError(
            "ResourceInUseException",
            f"Stream {name} under account {_account()} already exists.",
        ) from None
    if mode == "ON_DEMAND":
        redis_client().hset(_MODES, str(stream.pk), "ON_DEMAND")
    return {}


def delete_stream(document: dict) -> dict:
    stream = _stream(document)
    redis_client().hdel(_MODES, str(stream.pk))
    streams.stream_delete(stream=stream)
    return {}


def list_streams(document: dict) -> dict:
    limit = min(document.get("Limit") or 100, 100)
    after = document.get("ExclusiveStartStreamName")
    if document.get("NextToken"):
        after = _listing_position("ListStreams", document["NextToken"])["after"]
    found = streams.streams_of_account().order_by("name")
    if after:
        found = found.filter(name__gt=after)
    rows = list(found[: limit + 1])
    page = rows[:limit]
    result: dict = {
        "StreamNames": [stream.name for stream in page],
        "HasMoreStreams": len(rows) > limit,
        "StreamSummaries": [_summary(stream, mode) for stream, mode in zip(page, _modes(page), strict=True)],
    }
    if len(rows) > limit:
        result["NextToken"] = _listing_token("ListStreams", after=page[-1].name)
    return result


def describe_stream(document: dict) -> dict:
    stream = _stream(document)
    limit = min(document.get("Limit") or 100, 100)
    shards = _shards_after(stream, document.get("ExclusiveStartShardId"))
    description = {
        **_description_common(stream),
        "Shards": shards[:limit],
        "HasMoreShards": len(shards) > limit,
    }
    return {"StreamDescription": description}


def describe_stream_summary(document: dict) -> dict:
    stream = _stream(document)
    summary = {**_description_common(stream), "OpenShardCount": stream.shard_count, "ConsumerCount": 0}
    return {"StreamDescriptionSummary": summary}


def list_shards(document: dict) -> dict:
    after = document.get("ExclusiveStartShardId")
    if document.get("NextToken"):
        if any(document.get(name) for name in ("StreamName", "StreamARN", "ExclusiveStartShardId")):
            raise _invalid(
                "NextToken cannot be combined with StreamName, StreamARN or ExclusiveStartShardId."
            )
        position = _listing_position("ListShards", document["NextToken"])
        stream = Stream.objects.filter(pk=position["stream"]).first()
        if stream is None:
            raise _not_found(position["name"], position.get("account"))
        after = position["after"]
    else:
        stream = _stream(document)
    shard_filter = document.get("ShardFilter") or {}
    if shard_filter.get("Type") == "AFTER_SHARD_ID":
        if not shard_filter.get("ShardId"):
            raise _invalid("ShardFilter AFTER_SHARD_ID needs a ShardId.")
        after = max(after or "", shard_filter["ShardId"])
    # Every Stratus shard is open from the stream's creation on, so the other filters keep all.
    limit = min(document.get("MaxResults") or 1000, 1000)
    shards = _shards_after(stream, after)
    result: dict = {"Shards": shards[:limit]}
    if len(shards) > limit:
        result["NextToken"] = _listing_token(
            "ListShards",
            stream=stream.pk,
            name=stream.name,
            account=stream.account_id,
            after=shards[limit - 1]["ShardId"],
        )
    return result


def _blob(value: Any) -> bytes:
    try:
        return base64.b64decode(value or "", validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise KinesisError("SerializationException", "Data must be base64-encoded.") from None


def _record_entry(stream: Stream, entry: dict) -> tuple[bytes, str, int | None]:
    """``(data, partition key, explicit hash key or None)`` for one record to put."""
    data, key = _blob(entry.get("Data")), entry.get("PartitionKey")
    if not key:
        raise _invalid("A record needs a PartitionKey.")
    if len(data) + len(key.encode()) > streams.RECORD_MAX_BYTES:
        raise _invalid("A record's data and partition key may be at most 1 MiB together.")
    explicit = entry.get("ExplicitHashKey")
    if explicit is None:
        return data, key, None
    hash_key = int(explicit)  # the model's pattern made it digits
    if hash_key >= _HASH_SPACE:
        raise _invalid(f"ExplicitHashKey {explicit} is outside the hash key range [0, 2^128 - 1].")
    return data, key, hash_key


def _records_append(stream: Stream, entries: list[tuple[bytes, str, int | None]]) -> list[tuple[str, str]]:
    """Append ``(data, partition key, explicit hash key)`` records through ``streams.records_put``."""
    return streams.records_put(
        stream=stream,
        records=[(data, key) for data, key, _ in entries],
        hash_keys=[hash_key for _, _, hash_key in entries],
    )


def put_record(document: dict) -> dict:
    stream = _stream(document)
    ((shard, sequence),) = _records_append(stream, [_record_entry(stream, document)])
    return {"ShardId": shard, "SequenceNumber": sequence, "EncryptionType": "NONE"}


def put_records(document: dict) -> dict:
    stream = _stream(document)
    entries = [_record_entry(stream, entry) for entry in document["Records"]]
    # Appended in one pipeline: Redis takes all of them or the call fails as a whole.
    results = [
        {"ShardId": shard, "SequenceNumber": sequence} for shard, sequence in _records_append(stream, entries)
    ]
    return {"FailedRecordCount": 0, "Records": results, "EncryptionType": "NONE"}


def _sequence_entry(document: dict) -> str:
    sequence = document.get("StartingSequenceNumber")
    if not sequence:
        raise _invalid(f"{document['ShardIteratorType']} needs a StartingSequenceNumber.")
    try:
        return streams.entry_id(sequence)
    except ValueError:
        raise _invalid(
            f"StartingSequenceNumber {sequence} is not a sequence number of this stream."
        ) from None


def _timestamp_ms(value: Any) -> int:
    """The first whole millisecond at or after a JSON 1.1 timestamp (epoch seconds, or ISO 8601)."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            try:
                value = datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            except ValueError:
                raise _invalid(f"Timestamp {value!r} is not a time.") from None
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise _invalid("AT_TIMESTAMP needs a Timestamp.")
    return math.ceil(round(value * 1000, 3))


def _iterator_token(stream: Stream, shard: int, position: str) -> str:
    """A shard iterator: where to read next, as the ``min`` of a Redis XRANGE (``(`` excludes)."""
    return signing.dumps(
        {"n": stream.name, "a": stream.account_id, "i": stream.pk, "s": shard, "p": position},
        salt=ITERATOR_SALT,
    )


def get_shard_iterator(document: dict) -> dict:
    stream = _stream(document)
    shard = _shard_index(stream, document["ShardId"])
    kind = document["ShardIteratorType"]
    if kind == "TRIM_HORIZON":
        position = "(0-0"
    elif kind == "LATEST":
        last = redis_client().xrevrange(streams.shard_key(stream.name, shard), count=1)
        position = f"({last[0][0].decode()}" if last else "(0-0"
    elif kind == "AT_SEQUENCE_NUMBER":
        position = _sequence_entry(document)
    elif kind == "AFTER_SEQUENCE_NUMBER":
        position = f"({_sequence_entry(document)}"
    else:  # AT_TIMESTAMP: the model allows no other value
        position = f"{_timestamp_ms(document.get('Timestamp'))}-0"
    return {"ShardIterator": _iterator_token(stream, shard, position)}


def _iterator_read(token: str) -> dict:
    try:
        return signing.loads(token, salt=ITERATOR_SALT, max_age=ITERATOR_SECONDS)
    except signing.SignatureExpired:
        raise KinesisError(
            "ExpiredIteratorException",
            f"Iterator expired: shard iterators are valid for {ITERATOR_SECONDS // 60} minutes. "
            "Get a new one with GetShardIterator.",
        ) from None
    except signing.BadSignature:
        raise _invalid("ShardIterator is not an iterator GetShardIterator or GetRecords returned.") from None


def get_records(document: dict) -> dict:
    claims = _iterator_read(document["ShardIterator"])
    stream = Stream.objects.filter(pk=claims["i"], name=claims["n"]).first()
    if stream is None:
        raise _not_found(claims["n"], claims.get("a"))
    arn = document.get("StreamARN")
    if arn and streams.stream_arn_parse(arn) != (stream.account_id, stream.name):
        raise _invalid(f"The ShardIterator is for stream {stream.name}, not {arn}.")
    limit = document.get("Limit") or 10000
    # One entry past the page tells whether the reader is behind the tip, and by how much.
    entries = redis_client().xrange(
        streams.shard_key(stream.name, claims["s"]), min=claims["p"], max="+", count=limit + 1
    )
    records: list[dict] = []
    size, position = 0, claims["p"]
    for entry_id, fields in entries[:limit]:
        size += len(fields[b"d"]) + len(fields[b"k"])
        if records and size > GET_RECORDS_MAX_BYTES:
            break
        position = f"({entry_id.decode()}"
        records.append(
            {
                "SequenceNumber": streams.sequence_number(entry_id),
                "ApproximateArrivalTimestamp": int(entry_id.split(b"-")[0]) / 1000,
                "Data": base64.b64encode(fields[b"d"]).decode(),
                "PartitionKey": fields[b"k"].decode(),
            }
        )
    unread = entries[len(records) :]
    behind = max(0, int(time.time() * 1000) - int(unread[0][0].split(b"-")[0])) if unread else 0
    return {
        "Records": records,
        "NextShardIterator": _iterator_token(stream, claims["s"], position),
        "MillisBehindLatest": behind,
    }


OPERATIONS: dict[str, Callable[[dict], dict]] = {
    "CreateStream": create_stream,
    "DeleteStream": delete_stream,
    "ListStreams": list_streams,
    "DescribeStream": describe_stream,
    "DescribeStreamSummary": describe_stream_summary,
    "ListShards": list_shards,
    "PutRecord": put_record,
    "PutRecords": put_records,
    "GetShardIterator": get_shard_iterator,
    "GetRecords": get_records,
}


def _resource(call: Call) -> str:
    """The stream ARN the call acts on: named, or carried by the iterator or NextToken it
    passes; ``*`` for ListStreams and for a request that names no stream."""
    operation, document = call.operation, call.params
    if operation == "ListStreams":
        return "*"
    if document.get("StreamARN"):
        return document["StreamARN"]
    name, account = document.get("StreamName"), None
    if operation == "GetRecords" and document.get("ShardIterator"):
        claims = _iterator_read(document["ShardIterator"])
        name, account = claims["n"], claims.get("a")
    elif operation == "ListShards" and document.get("NextToken"):
        position = _listing_position("ListShards", document["NextToken"])
        name, account = position["name"], position.get("account")
    return streams.stream_arn(name, account=account) if name else "*"


def _translate(error: Exception) -> AwsError | None:
    """A Stratus service's error (streams), or a body too large, as Kinesis names it."""
    if isinstance(error, RequestDataTooBig):
        return _invalid("The request body is too large.")
    if isinstance(error, ResourceNotFound):
        return KinesisError("ResourceNotFoundException", error.message)
    if isinstance(error, ResourceConflict):
        return KinesisError("ResourceInUseException", error.message)
    if isinstance(error, InvalidParameterValue):
        return _invalid(error.message)
    return None


def _unknown(operation: str) -> KinesisError:
    return KinesisError(
        "UnknownOperationException",
        f"Stratus does not serve Kinesis's {operation!r}; it serves {', '.join(OPERATIONS)}.",
    )


KINESIS = Service(
    model_name="kinesis",
    signing_name="kinesis",
    family=KinesisError,
    operations=on_params(OPERATIONS),
    resource=_resource,
    denied=lambda message: KinesisError("AccessDeniedException", message),
    unknown=_unknown,
    translate=_translate,
    internal=lambda: KinesisError(
        "InternalFailureException", "An internal error occurred; the server log has the details.", status=500
    ),
)
