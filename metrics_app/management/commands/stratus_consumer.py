"""``python manage.py stratus_consumer``: fold invocation records and logs into metrics, history, logs.

Reads both Redis streams through a consumer group (several consumers share the work and
each entry is handled at least once), never blocks the workers (they only append), and
once a second samples the concurrency gauges; once a minute it rolls minutes up and
applies retention. Entries left pending by a consumer that died are claimed after 30 s.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import time

import redis
from django.core.management.base import BaseCommand
from django.db import OperationalError, close_old_connections, transaction

from functions_app.redis_client import redis_client
from functions_app.runtime.records import LOGS_STREAM, RECORDS_STREAM
from functions_app.triggers.presence import alive_clear, alive_mark
from metrics_app.aggregation import Batch
from metrics_app.gauges import gauges_sample
from metrics_app.ingest import decode_logs, decode_records, ingest
from metrics_app.rollup import retention_apply, rollup
from metrics_app.storage import minutes_write, seconds_write

logger = logging.getLogger("stratus.consumer")

GROUP = "metrics"
BATCH = 500
CLAIM_IDLE_MS = 30_000
# At most one batch this often: what a batch costs (a few statements per metric bucket and
# log stream) is shared by everything that arrived meanwhile, instead of paid per invocation
# when invocations trickle in one at a time. Live charts are per second, so they lag by no
# more than this.
BATCH_INTERVAL_SECONDS = 0.25


def groups_ensure(connection: redis.Redis) -> None:
    for stream in (RECORDS_STREAM, LOGS_STREAM):
        try:
            connection.xgroup_create(stream, GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise


def consume_once(connection: redis.Redis, consumer: str, *, block_ms: int = 1000, group: str = GROUP) -> int:
    """Read, ingest and acknowledge one batch; returns how many entries it handled."""
    streams = {RECORDS_STREAM: ">", LOGS_STREAM: ">"}
    response = connection.xreadgroup(group, consumer, streams, count=BATCH) or []
    if not response:
        response = connection.xreadgroup(group, consumer, streams, count=BATCH, block=block_ms) or []
        if response:
            # Redis answers a blocked read with the one stream that woke it; a host appends an
            # invocation's record and its log lines together, so take the other's entries too.
            response += connection.xreadgroup(group, consumer, streams, count=BATCH) or []
    for stream in (RECORDS_STREAM, LOGS_STREAM):
        _, claimed, _ = connection.xautoclaim(stream, group, consumer, CLAIM_IDLE_MS, "0-0", count=BATCH)
        if claimed:
            response.append((stream.encode(), claimed))
    records, logs = [], []
    for stream, entries in response:
        name = stream.decode() if isinstance(stream, bytes) else stream
        entries = [(entry_id, fields) for entry_id, fields in entries if fields]
        if name == RECORDS_STREAM:
            records += decode_records(entries)
        else:
            logs += decode_logs(entries)
    if not records and not logs:
        return 0
    for attempt in range(5):
        try:
            ingest(connection, records=records, logs=logs)
            break
        except OperationalError:
            # A deadlock or lock timeout (another consumer, a TRUNCATE): the whole batch rolled
            # back, so trying it again is safe; giving up leaves it pending for XAUTOCLAIM.
            if attempt == 4:
                raise
            time.sleep(0.1 * (attempt + 1))
    pipe = connection.pipeline(transaction=False)
    if records:
        pipe.xack(RECORDS_STREAM, group, *[entry_id for entry_id, _ in records])
    if logs:
        pipe.xack(LOGS_STREAM, group, *[entry_id for entry_id, _ in logs])
    pipe.execute()
    return len(records) + len(logs)


class Command(BaseCommand):
    help = "Run a metrics consumer (scale out by running more, on any host)."

    def handle(self, *args, **options):
        connection = redis_client()
        groups_ensure(connection)
        consumer = f"{socket.gethostname()}-{os.getpid()}"
        stopping = []
        signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
        signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
        last_gauge = last_rollup = last_batch = 0.0
        while not stopping:
            try:
                wait = last_batch + BATCH_INTERVAL_SECONDS - time.monotonic()
                if wait > 0:
                    time.sleep(wait)  # pacing: let the next batch gather
                if consume_once(connection, consumer, block_ms=500):
                    last_batch = time.monotonic()
                now = time.time()
                if now - last_gauge >= 1.0:
                    last_gauge = now
                    alive_mark(connection, "consumer", consumer)
                    batch = Batch()
                    if gauges_sample(connection, batch, now=now):
                        with transaction.atomic():
                            minutes_write(batch)
                        seconds_write(connection, batch)
                if now - last_rollup >= 60.0:
                    last_rollup = now
                    rollup()
                    retention_apply()
                close_old_connections()
            except redis.ResponseError as error:
                if "NOGROUP" not in str(error):
                    logger.exception("ingestion failed; retrying in 1 s")
                    time.sleep(1)
                    continue
                # Redis came back empty: the group starts again from the streams' beginning.
                logger.warning("the consumer group is gone (Redis restarted empty?); creating it again")
                groups_ensure(connection)
            except redis.ConnectionError:
                logger.warning("Redis is unreachable; retrying in 1 s")
                time.sleep(1)
            except Exception:
                logger.exception("ingestion failed; retrying in 1 s")
                time.sleep(1)
        alive_clear(connection, "consumer", consumer)
