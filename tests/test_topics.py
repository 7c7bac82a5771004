"""Stratus topics: SNS fan-out to functions, queues and webhooks, and queues and topics as
async destinations and dead-letter targets."""

from __future__ import annotations

import json
import re
import time

import pytest
from django.db import transaction

from functions_app.services.destinations import DeliveryError, send
from functions_app.triggers.topics import (
    TopicError,
    subscription_create,
    subscription_delete,
    topic_arn,
    topic_by_arn,
    topic_create,
    topic_delete,
    topic_get,
    topic_publish,
)
from tests.conftest import aws_client, make_zip

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("stratus_workers")]

OK_PY = "def handler(event, context):\n    return {'echo': event}\n"
FAIL_PY = "def handler(event, context):\n    raise RuntimeError('boom ' + str(event.get('n')))\n"
ARN = "arn:aws:lambda:us-east-1:000000000000:function:{}"
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture
def sqs(live_server_url, access_key):
    return aws_client("sqs", live_server_url, access_key)


def _function(create_function, name, source, **overrides):
    return create_function(name, Code={"ZipFile": make_zip({"lambda_function.py": source})}, **overrides)


def _queue(sqs, name: str) -> tuple[str, str]:
    """A new queue's URL and ARN."""
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def _receive(sqs, url: str, *, timeout: float = 30) -> dict:
    """The next message on the queue, waiting for it with long polls."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        wait = max(1, min(5, int(deadline - time.monotonic())))
        messages = sqs.receive_message(
            QueueUrl=url, WaitTimeSeconds=wait, MessageAttributeNames=["All"], MaxNumberOfMessages=1
        ).get("Messages")
        if messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=messages[0]["ReceiptHandle"])
            return messages[0]
    raise AssertionError(f"no message on {url} in {timeout} s")


def test_it_fans_out_to_two_functions_with_snss_lambda_event(lambda_client, create_function, webhook):
    for name in ("sns-reader-a", "sns-reader-b"):
        _function(create_function, name, OK_PY)
        lambda_client.put_function_event_invoke_config(
            FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": f"{webhook.url}/{name}"}}
        )
    topic = topic_create(name="orders")
    by_name = subscription_create(topic=topic, protocol="lambda", endpoint="sns-reader-a")
    by_arn = subscription_create(topic=topic, protocol="lambda", endpoint=ARN.format("sns-reader-b"))
    assert by_name.endpoint == ARN.format("sns-reader-a")

    message_id = topic_publish(
        topic=topic,
        message='{"order": 7}',
        subject="New order",
        message_attributes={"priority": {"DataType": "String", "StringValue": "high"}},
    )

    delivered = sorted(webhook.wait(2), key=lambda item: item[0])
    assert [path for path, _, _ in delivered] == ["/sns-reader-a", "/sns-reader-b"]
    for (_, record, _), subscription in zip(delivered, (by_name, by_arn), strict=True):
        event = record["responsePayload"]["echo"]
        assert record["requestPayload"] == event
        (entry,) = event["Records"]
        assert set(entry) == {"EventSource", "EventVersion", "EventSubscriptionArn", "Sns"}
        assert entry["EventSource"] == "aws:sns"
        assert entry["EventVersion"] == "1.0"
        assert entry["EventSubscriptionArn"] == f"arn:aws:sns:us-east-1:000000000000:orders:{subscription.id}"
        sns = entry["Sns"]
        assert TIMESTAMP.match(sns.pop("Timestamp"))
        assert sns == {
            "Type": "Notification",
            "MessageId": message_id,
            "TopicArn": "arn:aws:sns:us-east-1:000000000000:orders",
            "Subject": "New order",
            "Message": '{"order": 7}',
            "SignatureVersion": "1",
            "Signature": "",
            "SigningCertUrl": "",
            "UnsubscribeUrl": "",
            "MessageAttributes": {"priority": {"Type": "String", "Value": "high"}},
        }

    subscription_delete(subscription=by_arn)
    topic_publish(topic=topic, message="no subject")
    ((path, record, _),) = webhook.wait(1)
    assert path == "/sns-reader-a"
    sns = record["responsePayload"]["echo"]["Records"][0]["Sns"]
    assert (sns["Subject"], sns["Message"], sns["MessageAttributes"]) == (None, "no subject", {})
    with pytest.raises(AssertionError):
        webhook.wait(1, timeout=1)  # the deleted subscription got nothing


def test_it_fans_out_to_queues_and_a_webhook(sqs, webhook):
    json_url, json_arn = _queue(sqs, "sns-json")
    raw_url, raw_arn = _queue(sqs, "sns-raw")
    topic = topic_create(name="alerts")
    subscription_create(topic=topic, protocol="sqs", endpoint=json_arn)
    subscription_create(topic=topic, protocol="sqs", endpoint=raw_arn, raw_message_delivery=True)
    hook = subscription_create(topic=topic, protocol="http", endpoint=webhook.url + "/sns")

    message_id = topic_publish(
        topic=topic,
        message="disk full",
        message_attributes={"host": {"DataType": "String", "StringValue": "db1"}},
    )

    notification = json.loads(_receive(sqs, json_url)["Body"])
    assert TIMESTAMP.match(notification.pop("Timestamp"))
    expected = {
        "Type": "Notification",
        "MessageId": message_id,
        "TopicArn": topic_arn("alerts"),
        "Message": "disk full",  # no Subject key: none was given
        "SignatureVersion": "1",
        "Signature": "",
        "SigningCertURL": "",
        "UnsubscribeURL": "",
        "MessageAttributes": {"host": {"Type": "String", "Value": "db1"}},
    }
    assert notification == expected
    raw = _receive(sqs, raw_url)
    assert raw["Body"] == "disk full"
    assert raw["MessageAttributes"] == {"host": {"DataType": "String", "StringValue": "db1"}}
    ((path, posted, _),) = webhook.wait(1)
    assert path == "/sns"
    posted.pop("Timestamp")
    assert posted == expected
    assert hook.endpoint == webhook.url + "/sns"


def test_it_fans_out_only_after_the_transaction_commits(sqs):
    from functions_app.triggers.queues import queue_store

    _, arn = _queue(sqs, "sns-after-commit")
    topic = topic_create(name="committed")
    subscription_create(topic=topic, protocol="sqs", endpoint=arn)
    with transaction.atomic():
        topic_publish(topic=topic, message="later")
        assert queue_store().counts("sns-after-commit")["visible"] == 0
    assert queue_store().counts("sns-after-commit")["visible"] == 1


def test_it_sends_the_failure_record_to_a_queue_destination(lambda_client, create_function, sqs):
    url, arn = _queue(sqs, "async-failures")
    _function(create_function, "fails-to-queue", FAIL_PY)
    lambda_client.put_function_event_invoke_config(
        FunctionName="fails-to-queue",
        MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": arn}},
    )
    response = lambda_client.invoke(
        FunctionName="fails-to-queue", InvocationType="Event", Payload=b'{"n": 4}'
    )
    record = json.loads(_receive(sqs, url)["Body"])
    assert record["requestContext"] == {
        "requestId": response["ResponseMetadata"]["RequestId"],
        "functionArn": ARN.format("fails-to-queue") + ":$LATEST",
        "condition": "RetriesExhausted",
        "approximateInvokeCount": 1,
    }
    assert record["requestPayload"] == {"n": 4}
    assert record["responsePayload"]["errorMessage"] == "boom 4"


def test_it_sends_the_original_event_to_a_dead_letter_queue(lambda_client, create_function, sqs):
    url, arn = _queue(sqs, "async-dlq")
    _function(create_function, "fails-to-dlq", FAIL_PY, DeadLetterConfig={"TargetArn": arn})
    lambda_client.put_function_event_invoke_config(FunctionName="fails-to-dlq", MaximumRetryAttempts=0)
    response = lambda_client.invoke(FunctionName="fails-to-dlq", InvocationType="Event", Payload=b'{"n": 5}')
    message = _receive(sqs, url)
    assert json.loads(message["Body"]) == {"n": 5}
    assert message["MessageAttributes"] == {
        "RequestID": {"DataType": "String", "StringValue": response["ResponseMetadata"]["RequestId"]},
        "ErrorCode": {"DataType": "Number", "StringValue": "200"},
        "ErrorMessage": {"DataType": "String", "StringValue": "boom 5"},
    }


def test_it_publishes_the_success_record_to_a_topic_destination(lambda_client, create_function, sqs):
    url, queue_arn = _queue(sqs, "topic-destination")
    topic = topic_create(name="results")
    subscription_create(topic=topic, protocol="sqs", endpoint=queue_arn)
    _function(create_function, "succeeds-to-topic", OK_PY)
    lambda_client.put_function_event_invoke_config(
        FunctionName="succeeds-to-topic",
        DestinationConfig={"OnSuccess": {"Destination": topic_arn("results")}},
    )
    lambda_client.invoke(FunctionName="succeeds-to-topic", InvocationType="Event", Payload=b'{"n": 6}')
    notification = json.loads(_receive(sqs, url)["Body"])
    assert notification["TopicArn"] == topic_arn("results")
    record = json.loads(notification["Message"])
    assert record["requestContext"]["condition"] == "Success"
    assert record["responsePayload"] == {"echo": {"n": 6}}


def test_it_treats_a_missing_queue_or_topic_as_a_failed_delivery():
    with pytest.raises(DeliveryError, match="does not exist"):
        send("arn:aws:sqs:us-east-1:000000000000:no-such-queue", {"n": 1}, request_id="r1")
    with pytest.raises(DeliveryError, match="does not exist"):
        send(topic_arn("no-such-topic"), {"n": 1}, request_id="r2")
    with pytest.raises(DeliveryError, match="not supported"):
        send("arn:aws:events:us-east-1:000000000000:event-bus/default", {"n": 1}, request_id="r3")


def test_it_creates_topics_idempotently_and_finds_them_by_name_and_arn():
    topic = topic_create(name="idem_potent-1")
    assert topic_create(name="idem_potent-1") == topic
    assert topic_get("idem_potent-1") == topic
    assert topic_by_arn("arn:aws:sns:us-east-1:000000000000:idem_potent-1") == topic
    topic_delete(topic=topic)
    with pytest.raises(TopicError) as error:
        topic_get("idem_potent-1")
    assert error.value.code == "NotFound"


def test_it_refuses_unknown_topics_bad_names_protocols_endpoints_and_messages(sqs, create_function):
    with pytest.raises(TopicError) as error:
        topic_by_arn(topic_arn("nowhere"))
    assert error.value.code == "NotFound"
    with pytest.raises(TopicError) as error:  # another account's ARN is looked up there
        topic_by_arn("arn:aws:sns:us-east-1:111111111111:elsewhere")
    assert error.value.code == "NotFound"
    with pytest.raises(TopicError) as error:
        topic_by_arn("arn:aws:sns:eu-west-1:000000000000:elsewhere")
    assert error.value.code == "InvalidParameter"
    for name in ("", "has space", "x" * 257, "orders.fifo"):
        with pytest.raises(TopicError) as error:
            topic_create(name=name)
        assert error.value.code == "InvalidParameter"

    topic = topic_create(name="strict")
    refused = [
        ("email", "someone@example.com"),
        ("lambda", "no-such-function"),
        ("lambda", ARN.format("no-such-function")),
        ("sqs", "arn:aws:sqs:us-east-1:000000000000:no-such-queue"),
        ("http", "https://example.com/wrong-scheme"),
        ("https", "not a url"),
    ]
    for protocol, endpoint in refused:
        with pytest.raises(TopicError) as error:
            subscription_create(topic=topic, protocol=protocol, endpoint=endpoint)
        assert error.value.code == "InvalidParameter", (protocol, endpoint)
    create_function("strict-reader")
    with pytest.raises(TopicError):
        subscription_create(topic=topic, protocol="lambda", endpoint=ARN.format("strict-reader") + ":nope")
    first = subscription_create(topic=topic, protocol="lambda", endpoint="strict-reader")
    assert subscription_create(topic=topic, protocol="lambda", endpoint=ARN.format("strict-reader")) == first

    for message, extra in (
        ("", {}),
        ("x" * (256 * 1024 + 1), {}),
        ("ok", {"subject": "two\nlines"}),
        ("ok", {"message_attributes": {"n": {"DataType": "Number", "StringValue": "many"}}}),
        ("ok", {"message_attributes": {"n": {"DataType": "Colour", "StringValue": "red"}}}),
    ):
        with pytest.raises(TopicError) as error:
            topic_publish(topic=topic, message=message, **extra)
        assert error.value.code == "InvalidParameter"
    assert topic_publish(topic=topic_create(name="quiet"), message="x" * (256 * 1024))


def test_it_keeps_a_failed_webhook_delivery_of_a_topic_for_redrive(webhook, client):
    from django.contrib.auth import get_user_model

    from functions_app.models import FailedDelivery

    webhook.status = 500
    topic = topic_create(name="flaky")
    subscription_create(topic=topic, protocol="http", endpoint=f"{webhook.url}/hook")
    message_id = topic_publish(topic=topic, message="hello")
    assert len(webhook.wait(4, timeout=30)) == 4  # the first try and STRATUS_DELIVERY_RETRY_SECONDS' three
    deadline = time.monotonic() + 10
    while not FailedDelivery.objects.filter(topic=topic).exists():
        assert time.monotonic() < deadline, "the failed delivery was not kept"
        time.sleep(0.2)
    client.force_login(get_user_model().objects.create_superuser("root", password="pw"))
    listed = client.get("/api/v1/topics/flaky/failed-deliveries").json()["deliveries"]
    assert [(d["requestId"], d["kind"]) for d in listed] == [(message_id, "subscription")]
    assert client.get("/api/v1/topics/flaky").json()["failedDeliveries"] == 1
    webhook.status = 200
    redriven = client.post(
        "/api/v1/topics/flaky/failed-deliveries/redrive",
        data='{"all": true}',
        content_type="application/json",
    ).json()["redriven"]
    assert redriven == [listed[0]["id"]]
    ((path, _, _),) = webhook.wait(1, timeout=30)
    assert path == "/hook"
    assert client.get("/api/v1/topics/flaky").json()["failedDeliveries"] == 0
