"""The metrics consumer takes an invocation's record and its log lines in one batch, even
when a blocked read is woken by only one of the two streams."""

from __future__ import annotations

import json
import threading
import time

import pytest
import redis
from django.conf import settings

from functions_app.runtime.records import LOGS_STREAM, RECORDS_STREAM
from metrics_app.management.commands.stratus_consumer import consume_once
from metrics_app.models import InvocationRecord, LogEvent
from tests.conftest import wait_until


@pytest.mark.django_db(transaction=True)
def test_a_blocked_consumer_takes_the_record_and_its_log_lines_together():
    connection = redis.Redis.from_url(settings.REDIS_URL)
    # A group of its own, from now on: the session's consumer (if running) reads its own group.
    group = "test-batches"
    for stream in (RECORDS_STREAM, LOGS_STREAM):
        connection.xgroup_create(stream, group, id="$", mkstream=True)
    handled: list[int] = []
    reader = redis.Redis.from_url(settings.REDIS_URL, client_name=group)
    consumer = threading.Thread(
        target=lambda: handled.append(consume_once(reader, "test-consumer", block_ms=10_000, group=group)),
        daemon=True,
    )
    consumer.start()
    # The consumer is blocked on both streams before anything arrives.
    wait_until(
        lambda: any(
            client.get("name") == group and "b" in client.get("flags", "") for client in connection.client_list()
        ),
        timeout=10,
        what="the consumer blocking on the streams",
    )
    now = time.time()
    record = {"kind": "invocation", "request_id": "r-1", "function": "f", "started_at": now, "outcome": "success"}
    lines = {"function": "f", "group": "/aws/lambda/f", "stream": "s", "request_id": "r-1", "lines": [[1, "hi"]]}
    pipe = connection.pipeline(transaction=True)  # as a host appends them
    pipe.xadd(RECORDS_STREAM, {"r": json.dumps(record)})
    pipe.xadd(LOGS_STREAM, {"l": json.dumps(lines)})
    pipe.execute()
    consumer.join(timeout=30)

    assert handled == [2]
    assert InvocationRecord.objects.filter(request_id="r-1").exists()
    assert LogEvent.objects.filter(request_id="r-1", message="hi").exists()
    for stream in (RECORDS_STREAM, LOGS_STREAM):
        connection.xgroup_destroy(stream, group)
