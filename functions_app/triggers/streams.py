"""Stratus streams: the Kinesis model on Redis Streams.

A stream has a fixed number of shards, each one Redis stream (``stratus:stream:<name>:<n>``).
A record goes to the shard its partition key hashes to (MD5, as Kinesis maps keys to hash
key ranges), so records with one key stay in order. A record's sequence number is its Redis
entry id written as digits (``<ms><seq, 10 digits>``), so it sorts as the entry ids do.

A stream belongs to an account (iam/tenancy.py): a name is looked up in the request's account,
an ARN in the account it names, and a new stream is the request's account's. Names are unique
across the install for now (Redis knows a stream by its name alone), so creating a stream whose
name another account uses fails as creating an existing one does (``ResourceConflict``).
"""

from __future__ import annotations

import hashlib
import re

from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from functions_app.errors import InvalidParameterValue, ResourceConflict, ResourceNotFound
from functions_app.redis_client import redis_client
from functions_app.triggers.arns import stream_arn as stream_arn  # re-exported for callers
from functions_app.triggers.arns import stream_arn_parse
from functions_app.triggers.models import Stream
from iam.models import default_account_id
from iam.tenancy import current_account

STREAM_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
RECORD_MAX_BYTES = 1024 * 1024
MAX_SHARDS = 64


def stream_name_from_arn(arn: str) -> str | None:
    """The name of the stream ``arn`` names, in whichever account; None for no stream ARN of
    this region (``stream_arn_parse`` gives its account too)."""
    named = stream_arn_parse(arn or "")
    return named.name if named else None


def shard_key(name: str, shard: int) -> str:
    return f"stratus:stream:{name}:{shard}"


def shard_id(shard: int) -> str:
    return f"shardId-{shard:012d}"


def shard_for(partition_key: str, shard_count: int, *, hash_key: int | None = None) -> int:
    """The shard whose equal slice of the 128-bit hash key space holds the key's MD5 (or the
    explicit ``hash_key`` a Kinesis caller chose)."""
    if hash_key is None:
        hash_key = int.from_bytes(hashlib.md5(partition_key.encode(), usedforsecurity=False).digest(), "big")
    return hash_key * shard_count >> 128


def sequence_number(entry_id: bytes | str) -> str:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    millis, _, seq = text.partition("-")
    return f"{millis}{int(seq):010d}"


def entry_id(sequence: str) -> str:
    if not sequence.isdigit() or len(sequence) <= 10:
        raise ValueError(f"{sequence!r} is not a Stratus stream sequence number")
    return f"{int(sequence[:-10])}-{int(sequence[-10:])}"


def stream_create(*, name: str, shard_count: int = 1) -> Stream:
    if not STREAM_NAME.fullmatch(name or ""):
        raise InvalidParameterValue("A stream name is 1 to 128 characters: letters, digits, _ . -")
    if not isinstance(shard_count, int) or not 1 <= shard_count <= MAX_SHARDS:
        raise InvalidParameterValue(f"ShardCount must be an integer from 1 to {MAX_SHARDS}.")
    try:
        with transaction.atomic():
            stream = Stream.objects.create(
                name=name, account_id=current_account() or default_account_id(), shard_count=shard_count
            )
    except IntegrityError:  # in this account, or (names being unique for now) in another
        raise ResourceConflict(f"Stream {name} already exists.") from None
    # A new stream starts empty, whatever a stream of the same name left behind in Redis.
    redis_client().delete(*(shard_key(name, shard) for shard in range(MAX_SHARDS)))
    return stream


def streams_of_account() -> QuerySet[Stream]:
    """The streams of the request's account (iam.tenancy); every stream outside a request."""
    account = current_account()
    return Stream.objects.filter(account_id=account) if account else Stream.objects.all()


def stream_get(name: str, *, account: str | None = None) -> Stream:
    """The stream ``name`` in ``account``, by default the request's (any outside a request)."""
    account = account or current_account()
    found = Stream.objects.filter(name=name)
    stream = (found.filter(account_id=account) if account else found).first()
    if stream is None:
        raise ResourceNotFound(f"Stream {name} not found.")
    return stream


def stream_delete(*, stream: Stream) -> None:
    keys = [shard_key(stream.name, shard) for shard in range(stream.shard_count)]
    stream.delete()
    redis_client().delete(*keys)


def records_put(
    *, stream: Stream, records: list[tuple[bytes, str]], hash_keys: list[int | None] | None = None
) -> list[tuple[str, str]]:
    """Append ``(data, partition_key)`` records; return each one's (shard id, sequence number).

    ``hash_keys`` (Kinesis's ExplicitHashKey) place a record by that hash instead of its key's."""
    for data, key in records:
        if len(data) + len(key.encode()) > RECORD_MAX_BYTES:
            raise InvalidParameterValue("A record's data and partition key may be at most 1 MB.")
        if not 1 <= len(key) <= 256:
            raise InvalidParameterValue("A partition key is 1 to 256 characters.")
    pipeline = redis_client().pipeline(transaction=False)
    shards = []
    for (data, key), hash_key in zip(records, hash_keys or [None] * len(records), strict=True):
        shard = shard_for(key, stream.shard_count, hash_key=hash_key)
        shards.append(shard)
        pipeline.xadd(shard_key(stream.name, shard), {"d": data, "k": key})
    ids = pipeline.execute()
    return [(shard_id(shard), sequence_number(entry)) for shard, entry in zip(shards, ids, strict=True)]


def stream_summary(stream: Stream) -> dict:
    """Per-shard length and the oldest record's age, for the dashboard's browser."""
    import time

    connection = redis_client()
    shards = []
    for shard in range(stream.shard_count):
        key = shard_key(stream.name, shard)
        first = connection.xrange(key, count=1)
        age = time.time() - int(first[0][0].split(b"-")[0]) / 1000 if first else 0
        shards.append(
            {"shard": shard_id(shard), "length": connection.xlen(key), "oldest_age_seconds": int(age)}
        )
    return {"name": stream.name, "arn": stream.arn(), "shards": shards}
