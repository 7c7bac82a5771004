"""Amazon MQ (RabbitMQ) event source mappings against the real RabbitMQ on this machine: boto3
creates the mapping, pika publishes, the real pollers consume and real workers run the function,
which reports every batch it gets to a webhook."""

from __future__ import annotations

import contextlib
import json
import queue
import threading
import time
import uuid
from collections import Counter

import pika
import pytest
from django.db import connection
from pika.exceptions import AMQPError

from functions_app.triggers.pollers import rabbitmq
from tests.conftest import make_zip

BROKER_URL = "amqp://guest:guest@127.0.0.1:5672/"  # the broker named "local" in STRATUS_MQ_BROKERS
BROKER_ARN = "arn:aws:mq:us-east-1:000000000000:broker:local:b-1234"
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:000000000000:secret:mq"


def _broker_answers() -> bool:
    try:
        pika.BlockingConnection(
            pika.URLParameters(BROKER_URL + "?connection_attempts=1&socket_timeout=2")
        ).close()
    except (AMQPError, OSError):
        return False
    return True


if not _broker_answers():
    pytest.skip(
        "no RabbitMQ answers at 127.0.0.1:5672 with guest/guest (start one to run these tests)",
        allow_module_level=True,
    )

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("stratus_workers", "stratus_pollers"),
]

# Reports each batch to the webhook, then fails when asked to and any message is a first delivery.
REPORTER_PY = """
import base64, json, os, urllib.request

def handler(event, context):
    messages = [
        {
            "queue": key,
            "body": base64.b64decode(message["data"]).decode(),
            "redelivered": message["redelivered"],
            "basicProperties": message["basicProperties"],
        }
        for key, batch in event["rmqMessagesByQueue"].items()
        for message in batch
    ]
    report = {"eventSource": event["eventSource"], "eventSourceArn": event["eventSourceArn"], "messages": messages}
    request = urllib.request.Request(
        os.environ["WEBHOOK"], data=json.dumps(report).encode(), headers={"Content-Type": "application/json"}
    )
    urllib.request.urlopen(request, timeout=10).close()
    if os.environ.get("FAIL_FIRST_DELIVERY") and not all(message["redelivered"] for message in messages):
        raise RuntimeError("failing a first delivery")
    return {"processed": len(messages)}
"""


@pytest.fixture
def rabbit():
    """A uniquely named queue on the local broker, and a channel to publish with; deleted after."""
    connection = pika.BlockingConnection(pika.URLParameters(BROKER_URL))
    channel = connection.channel()
    channel.confirm_delivery()
    name = f"stratus-test-{uuid.uuid4().hex[:12]}"
    channel.queue_declare(name)
    yield channel, name
    channel.queue_delete(name)
    connection.close()


@pytest.fixture
def mq_mapping(rabbit, lambda_client, create_function, webhook):
    """Create the reporting function and its mapping on a queue; delete the mapping after, and
    before ``rabbit`` deletes the queue (so the poller is not left consuming a deleted queue)."""
    created = []

    def create(name: str, queue_name: str, *, environment: dict | None = None, **fields):
        create_function(
            name,
            Code={"ZipFile": make_zip({"lambda_function.py": REPORTER_PY})},
            Environment={"Variables": {"WEBHOOK": webhook.url, **(environment or {})}},
            Timeout=30,
        )
        mapping = lambda_client.create_event_source_mapping(
            EventSourceArn=BROKER_ARN,
            FunctionName=name,
            Queues=[queue_name],
            SourceAccessConfigurations=[{"Type": "BASIC_AUTH", "URI": SECRET_ARN}],
            **fields,
        )
        created.append(mapping["UUID"])
        return mapping

    yield create
    for mapping_id in created:
        with contextlib.suppress(lambda_client.exceptions.ResourceNotFoundException):  # a test deleted it
            lambda_client.delete_event_source_mapping(UUID=mapping_id)


def _reports(webhook, *, until, timeout: float) -> list[dict]:
    """Every report the function sent, until ``until(reports)`` holds (or the time runs out)."""
    reports: list[dict] = []
    deadline = time.monotonic() + timeout
    while not until(reports) and time.monotonic() < deadline:
        try:
            _, body, _ = webhook.received.get(timeout=0.5)
        except queue.Empty:
            continue
        reports.append(body)
    return reports


def _quiet(webhook, seconds: float) -> list[dict]:
    """Reports that arrive within ``seconds`` (there should be none)."""
    return _reports(webhook, until=lambda _: False, timeout=seconds)


def _bodies(reports: list[dict]) -> list[str]:
    return [message["body"] for report in reports for message in report["messages"]]


def _settled(channel, name: str, *, timeout: float = 15) -> tuple[int, int]:
    """(ready messages, consumers) once the queue has no consumer left, after the mapping is gone."""
    deadline = time.monotonic() + timeout
    while True:
        declared = channel.queue_declare(name, passive=True).method
        if declared.consumer_count == 0 or time.monotonic() > deadline:
            return declared.message_count, declared.consumer_count
        time.sleep(0.2)


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_it_delivers_a_thousand_messages_each_exactly_once(mq_mapping, rabbit, webhook, lambda_client):
    channel, name = rabbit
    mapping = mq_mapping("rmq-thousand", name, BatchSize=100)
    assert mapping["EventSourceArn"] == BROKER_ARN
    assert mapping["Queues"] == [name]
    assert mapping["BatchSize"] == 100
    sent = [f"message-{number:04d}" for number in range(1000)]
    for body in sent:
        channel.basic_publish("", name, body.encode(), pika.BasicProperties(delivery_mode=2))

    reports = _reports(webhook, until=lambda got: len(_bodies(got)) >= len(sent), timeout=150)
    reports += _quiet(webhook, 3)  # a duplicate would come now

    received = _bodies(reports)
    doubled = [body for body, count in Counter(received).items() if count > 1]
    assert not doubled, f"{len(doubled)} messages arrived more than once, e.g. {doubled[:5]}"
    assert sorted(received) == sent, f"{len(set(sent) - set(received))} of {len(sent)} messages never arrived"
    assert all(len(report["messages"]) <= 100 for report in reports)
    assert {message["queue"] for report in reports for message in report["messages"]} == {f"{name}::/"}
    assert lambda_client.get_event_source_mapping(UUID=mapping["UUID"])["LastProcessingResult"] == "OK"


@pytest.mark.timeout(120)
def test_it_requeues_a_failed_batch_and_delivers_it_again_as_redelivered(
    mq_mapping, rabbit, webhook, lambda_client
):
    channel, name = rabbit
    mapping = mq_mapping("rmq-retry", name, environment={"FAIL_FIRST_DELIVERY": "1"}, BatchSize=10)
    channel.basic_publish(
        "",
        name,
        b'{"order": 42}',
        pika.BasicProperties(
            content_type="application/json",
            content_encoding="utf-8",
            headers={"source": "tests", "attempt": 1},
            delivery_mode=2,
            priority=5,
            correlation_id="corr-1",
            reply_to="replies",
            message_id="msg-1",
            timestamp=1704067200,
            type="order.created",
            app_id="stratus-tests",
        ),
    )

    first, second = _reports(webhook, until=lambda got: len(got) >= 2, timeout=60)

    for report in (first, second):
        assert report["eventSource"] == "aws:rmq"
        assert report["eventSourceArn"] == BROKER_ARN
        [message] = report["messages"]
        assert message["queue"] == f"{name}::/"
        assert message["body"] == '{"order": 42}'
        assert message["basicProperties"] == {
            "contentType": "application/json",
            "contentEncoding": "utf-8",
            "headers": {"source": {"bytes": list(b"tests")}, "attempt": 1},
            "deliveryMode": 2,
            "priority": 5,
            "correlationId": "corr-1",
            "replyTo": "replies",
            "expiration": None,
            "messageId": "msg-1",
            "timestamp": "Jan 1, 2024, 12:00:00 AM",
            "type": "order.created",
            "userId": None,
            "appId": "stratus-tests",
            "clusterId": None,
            "bodySize": len(b'{"order": 42}'),
        }
    assert first["messages"][0]["redelivered"] is False
    assert second["messages"][0]["redelivered"] is True
    assert _quiet(webhook, 3) == []  # processed the second time, so acknowledged: no third delivery
    assert lambda_client.get_event_source_mapping(UUID=mapping["UUID"])["LastProcessingResult"] == "OK"

    lambda_client.delete_event_source_mapping(UUID=mapping["UUID"])
    assert _settled(channel, name) == (0, 0)


@pytest.mark.timeout(120)
def test_it_acknowledges_and_drops_messages_no_filter_matches(mq_mapping, rabbit, webhook, lambda_client):
    channel, name = rabbit
    mapping = mq_mapping(
        "rmq-filter",
        name,
        BatchSize=10,
        MaximumBatchingWindowInSeconds=1,
        FilterCriteria={"Filters": [{"Pattern": json.dumps({"data": {"kind": ["keep"]}})}]},
    )
    for number in range(10):
        kind = "keep" if number % 2 == 0 else "drop"
        channel.basic_publish("", name, json.dumps({"kind": kind, "n": number}).encode())
    channel.basic_publish("", name, b"not json at all")

    reports = _reports(webhook, until=lambda got: len(_bodies(got)) >= 5, timeout=60)
    reports += _quiet(webhook, 3)

    assert sorted(json.loads(body)["n"] for body in _bodies(reports)) == [0, 2, 4, 6, 8]
    lambda_client.delete_event_source_mapping(UUID=mapping["UUID"])
    assert _settled(channel, name) == (0, 0)  # the dropped ones were acknowledged, not left behind


@pytest.mark.timeout(60)
def test_it_reports_a_missing_queue_and_starts_once_it_exists(mq_mapping, rabbit, webhook, lambda_client):
    channel, _ = rabbit
    name = f"stratus-test-late-{uuid.uuid4().hex[:8]}"
    mapping = mq_mapping("rmq-late", name)
    deadline = time.monotonic() + 20
    while (
        "does not exist"
        not in (result := lambda_client.get_event_source_mapping(UUID=mapping["UUID"]))[
            "LastProcessingResult"
        ]
    ):
        assert time.monotonic() < deadline, result["LastProcessingResult"]
        time.sleep(0.3)
    assert name in result["LastProcessingResult"]

    channel.queue_declare(name)
    try:
        channel.basic_publish("", name, b"late")
        [report] = _reports(webhook, until=lambda got: len(got) >= 1, timeout=30)
        assert _bodies([report]) == ["late"]
    finally:
        lambda_client.delete_event_source_mapping(UUID=mapping["UUID"])
        _settled(channel, name)
        channel.queue_delete(name)


@pytest.mark.timeout(60)
def test_the_poller_lets_go_within_about_a_second_of_being_told(mq_mapping, rabbit, settings):
    settings.STRATUS_MQ_BROKERS = f"local={BROKER_URL}"  # as the poller processes have it
    channel, name = rabbit
    mapping = mq_mapping("rmq-stop", name)
    stop = threading.Event()

    def poll() -> None:  # as a poller process's thread runs a unit
        try:
            rabbitmq.run(mapping["UUID"], f"{mapping['UUID']}:rmq", stop)
        finally:
            connection.close()

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    # This consumer and the poller process's are both waiting on the empty queue.
    deadline = time.monotonic() + 10
    while channel.queue_declare(name, passive=True).method.consumer_count < 2:
        assert time.monotonic() < deadline, "the in-process poller never started consuming"
        time.sleep(0.2)
    time.sleep(1)

    stopped_at = time.monotonic()
    stop.set()
    thread.join(timeout=10)

    assert not thread.is_alive()
    assert time.monotonic() - stopped_at < 2
    assert channel.queue_declare(name, passive=True).method.consumer_count == 1  # its connection is closed
