"""SNS's own API (the query protocol of boto3's ``sns`` client and ``aws sns``) over Stratus
topics: topics, subscriptions to queues and functions, publishing, errors and signing."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from functions_app.triggers.models import Topic
from tests.conftest import aws_client, make_zip

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("stratus_workers")]

ACCOUNT = "000000000000"
TOPIC_ARN = "arn:aws:sns:us-east-1:000000000000:{}"
NAMESPACE = "{http://sns.amazonaws.com/doc/2010-03-31/}"
OK_PY = "def handler(event, context):\n    return {'echo': event}\n"


@pytest.fixture
def sns(live_server_url, access_key):
    return aws_client("sns", live_server_url, access_key)


@pytest.fixture
def sqs(live_server_url, access_key):
    return aws_client("sqs", live_server_url, access_key)


def _queue(sqs, name: str) -> tuple[str, str]:
    """A new queue's URL and ARN."""
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def _receive(sqs, url: str, *, timeout: float = 10) -> dict:
    """The next message on the queue, waiting for it with long polls."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        messages = sqs.receive_message(
            QueueUrl=url, WaitTimeSeconds=1, MessageAttributeNames=["All"], MaxNumberOfMessages=1
        ).get("Messages")
        if messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=messages[0]["ReceiptHandle"])
            return messages[0]
    raise AssertionError(f"no message on {url} in {timeout} s")


def _empty(sqs, url: str) -> bool:
    return "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0)


def test_it_creates_lists_describes_and_deletes_topics(sns):
    arn = sns.create_topic(
        Name="alerts", Attributes={"DisplayName": "Alerts"}, Tags=[{"Key": "team", "Value": "ops"}]
    )["TopicArn"]
    assert arn == TOPIC_ARN.format("alerts")
    assert sns.create_topic(Name="alerts")["TopicArn"] == arn  # creating it again returns it
    attributes = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    policy = json.loads(attributes.pop("Policy"))  # SNS's default: the owning account's
    assert policy["Statement"][0]["Condition"] == {"StringEquals": {"AWS:SourceOwner": ACCOUNT}}
    assert attributes == {
        "TopicArn": arn,
        "Owner": ACCOUNT,
        "DisplayName": "Alerts",
        "SubscriptionsConfirmed": "0",
        "SubscriptionsPending": "0",
        "SubscriptionsDeleted": "0",
    }

    Topic.objects.bulk_create(Topic(name=f"bulk-{index:03d}") for index in range(150))
    first = sns.list_topics()
    assert len(first["Topics"]) == 100 and first["NextToken"]
    second = sns.list_topics(NextToken=first["NextToken"])
    assert "NextToken" not in second
    listed = [topic["TopicArn"] for topic in first["Topics"] + second["Topics"]]
    assert listed == sorted(
        TOPIC_ARN.format(name) for name in ["alerts", *(f"bulk-{i:03d}" for i in range(150))]
    )
    paged = [
        topic["TopicArn"] for page in sns.get_paginator("list_topics").paginate() for topic in page["Topics"]
    ]
    assert paged == listed

    sns.delete_topic(TopicArn=arn)
    with pytest.raises(sns.exceptions.NotFoundException):
        sns.get_topic_attributes(TopicArn=arn)
    sns.delete_topic(TopicArn=arn)  # as in SNS, deleting a missing topic is not an error


def test_it_refuses_fifo_topics_with_a_message(sns):
    with pytest.raises(sns.exceptions.InvalidParameterException, match="FIFO topics are not supported"):
        sns.create_topic(Name="orders", Attributes={"FifoTopic": "true"})
    with pytest.raises(sns.exceptions.InvalidParameterException, match="FIFO is not supported"):
        sns.create_topic(Name="orders.fifo")
    assert not Topic.objects.exists()


def test_it_delivers_to_queues_wrapped_and_raw(sns, sqs):
    wrapped_url, wrapped_arn = _queue(sqs, "sns-wrapped")
    raw_url, raw_arn = _queue(sqs, "sns-raw")
    arn = sns.create_topic(Name="orders")["TopicArn"]
    wrapped = sns.subscribe(
        TopicArn=arn,
        Protocol="sqs",
        Endpoint=wrapped_arn,
        Attributes={"RawMessageDelivery": "false"},
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]
    raw = sns.subscribe(
        TopicArn=arn, Protocol="sqs", Endpoint=raw_arn, Attributes={"RawMessageDelivery": "true"}
    )["SubscriptionArn"]
    assert raw.startswith(arn + ":")  # confirmed at once, so never "pending confirmation"
    assert sns.get_subscription_attributes(SubscriptionArn=wrapped)["Attributes"] == {
        "SubscriptionArn": wrapped,
        "TopicArn": arn,
        "Owner": ACCOUNT,
        "Protocol": "sqs",
        "Endpoint": wrapped_arn,
        "RawMessageDelivery": "false",
        "ConfirmationWasAuthenticated": "true",
        "PendingConfirmation": "false",
    }
    assert sns.get_topic_attributes(TopicArn=arn)["Attributes"]["SubscriptionsConfirmed"] == "2"
    by_topic = sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]
    assert [(s["SubscriptionArn"], s["Endpoint"]) for s in by_topic] == [
        (wrapped, wrapped_arn),
        (raw, raw_arn),
    ]
    assert sns.list_subscriptions()["Subscriptions"] == by_topic

    message_id = sns.publish(
        TopicArn=arn,
        Message='{"order": 7}',
        Subject="New order",
        MessageAttributes={
            "priority": {"DataType": "String", "StringValue": "high"},
            "count": {"DataType": "Number", "StringValue": "3"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\xff"},
        },
    )["MessageId"]

    notification = json.loads(_receive(sqs, wrapped_url)["Body"])
    assert notification["MessageId"] == message_id
    assert (notification["TopicArn"], notification["Subject"], notification["Message"]) == (
        arn,
        "New order",
        '{"order": 7}',
    )
    assert notification["MessageAttributes"] == {
        "priority": {"Type": "String", "Value": "high"},
        "count": {"Type": "Number", "Value": "3"},
        "blob": {"Type": "Binary", "Value": "AP8="},
    }
    delivered = _receive(sqs, raw_url)
    assert delivered["Body"] == '{"order": 7}'
    assert delivered["MessageAttributes"] == {
        "priority": {"DataType": "String", "StringValue": "high"},
        "count": {"DataType": "Number", "StringValue": "3"},
        "blob": {"DataType": "Binary", "BinaryValue": b"\x00\xff"},
    }

    sns.set_subscription_attributes(
        SubscriptionArn=wrapped, AttributeName="RawMessageDelivery", AttributeValue="true"
    )
    assert (
        sns.get_subscription_attributes(SubscriptionArn=wrapped)["Attributes"]["RawMessageDelivery"] == "true"
    )
    sns.unsubscribe(SubscriptionArn=raw)
    assert [s["SubscriptionArn"] for s in sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]] == [
        wrapped
    ]
    sns.publish(TargetArn=arn, Message="now raw")
    assert _receive(sqs, wrapped_url)["Body"] == "now raw"
    assert _empty(sqs, raw_url)  # unsubscribed: nothing arrived
    with pytest.raises(sns.exceptions.NotFoundException):
        sns.unsubscribe(SubscriptionArn=raw)


def test_it_invokes_a_subscribed_function_with_snss_record(sns, lambda_client, create_function, webhook):
    create_function("sns-reader", Code={"ZipFile": make_zip({"lambda_function.py": OK_PY})})
    lambda_client.put_function_event_invoke_config(
        FunctionName="sns-reader", DestinationConfig={"OnSuccess": {"Destination": webhook.url}}
    )
    arn = sns.create_topic(Name="events")["TopicArn"]
    with pytest.raises(sns.exceptions.InvalidParameterException, match="RawMessageDelivery"):
        sns.subscribe(
            TopicArn=arn, Protocol="lambda", Endpoint="sns-reader", Attributes={"RawMessageDelivery": "true"}
        )
    subscription = sns.subscribe(TopicArn=arn, Protocol="lambda", Endpoint="sns-reader")["SubscriptionArn"]
    with pytest.raises(sns.exceptions.InvalidParameterException, match="Invalid value for lambda"):
        sns.set_subscription_attributes(
            SubscriptionArn=subscription, AttributeName="RawMessageDelivery", AttributeValue="true"
        )

    message_id = sns.publish(
        TopicArn=arn,
        Message="hello",
        Subject="Greeting",
        MessageAttributes={"lang": {"DataType": "String", "StringValue": "en"}},
    )["MessageId"]

    ((_, record, _),) = webhook.wait(1)
    (entry,) = record["requestPayload"]["Records"]
    assert (entry["EventSource"], entry["EventSubscriptionArn"]) == ("aws:sns", subscription)
    sns_record = entry["Sns"]
    assert (sns_record["MessageId"], sns_record["TopicArn"]) == (message_id, arn)
    assert (sns_record["Subject"], sns_record["Message"]) == ("Greeting", "hello")
    assert sns_record["MessageAttributes"] == {"lang": {"Type": "String", "Value": "en"}}
    assert record["responsePayload"] == {"echo": record["requestPayload"]}


def test_it_publishes_batches_with_per_entry_failures(sns, sqs):
    url, queue_arn = _queue(sqs, "sns-batch")
    arn = sns.create_topic(Name="batched")["TopicArn"]
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    result = sns.publish_batch(
        TopicArn=arn,
        PublishBatchRequestEntries=[
            {"Id": "a", "Message": "one"},
            {
                "Id": "b",
                "Message": "two",
                "MessageAttributes": {"n": {"DataType": "Number", "StringValue": "many"}},
            },
            {"Id": "c", "Message": "three", "Subject": "third"},
        ],
    )
    assert [entry["Id"] for entry in result["Successful"]] == ["a", "c"]
    ((failed),) = result["Failed"]
    assert (failed["Id"], failed["Code"], failed["SenderFault"]) == ("b", "InvalidParameter", True)
    assert "must be a number" in failed["Message"]
    assert sorted(_receive(sqs, url)["Body"] for _ in range(2)) == ["one", "three"]
    with pytest.raises(sns.exceptions.BatchEntryIdsNotDistinctException):
        sns.publish_batch(
            TopicArn=arn,
            PublishBatchRequestEntries=[{"Id": "x", "Message": "1"}, {"Id": "x", "Message": "2"}],
        )
    with pytest.raises(sns.exceptions.TooManyEntriesInBatchRequestException):
        sns.publish_batch(
            TopicArn=arn, PublishBatchRequestEntries=[{"Id": f"m{i}", "Message": "m"} for i in range(11)]
        )


def test_it_answers_errors_with_snss_codes_and_statuses(sns):
    missing = TOPIC_ARN.format("nowhere")
    with pytest.raises(sns.exceptions.NotFoundException) as error:
        sns.publish(TopicArn=missing, Message="hello")
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert error.value.response["Error"]["Type"] == "Sender"
    arn = sns.create_topic(Name="strict")["TopicArn"]
    with pytest.raises(sns.exceptions.InvalidParameterException) as error:
        sns.subscribe(TopicArn=arn, Protocol="email", Endpoint="someone@example.com")
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(sns.exceptions.InvalidParameterException, match="only RawMessageDelivery"):
        sns.subscribe(
            TopicArn=arn, Protocol="https", Endpoint="https://example.com/", Attributes={"FilterPolicy": "{}"}
        )
    subscription = sns.subscribe(TopicArn=arn, Protocol="https", Endpoint="https://example.com/")[
        "SubscriptionArn"
    ]
    with pytest.raises(sns.exceptions.InvalidParameterException, match="only RawMessageDelivery"):
        sns.set_subscription_attributes(
            SubscriptionArn=subscription, AttributeName="FilterPolicy", AttributeValue="{}"
        )
    with pytest.raises(sns.exceptions.InvalidParameterException, match="MessageStructure=json"):
        sns.publish(TopicArn=arn, Message='{"default": "x"}', MessageStructure="json")
    with pytest.raises(sns.exceptions.InvalidParameterException, match="TopicArn or TargetArn"):
        sns.publish(Message="nowhere to go")
    # Another account's topic: no topic policy shares it, so AWS refuses even an administrator.
    with pytest.raises(sns.exceptions.AuthorizationErrorException):
        sns.get_topic_attributes(TopicArn="arn:aws:sns:us-east-1:111111111111:elsewhere")
    with pytest.raises(ClientError) as error:
        sns.list_platform_applications()
    assert error.value.response["Error"]["Code"] == "InvalidAction"
    assert "it serves CreateTopic" in error.value.response["Error"]["Message"]


def _post(url: str, form: dict, headers: dict | None = None) -> tuple[int, ET.Element]:
    request = urllib.request.Request(url + "/", data=urllib.parse.urlencode(form).encode(), method="POST")
    request.add_header("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, ET.fromstring(response.read())
    except urllib.error.HTTPError as error:
        return error.code, ET.fromstring(error.read())


def _signed_headers(url: str, key: tuple[str, str], form: dict, service: str) -> dict:
    request = AWSRequest(
        method="POST",
        url=url + "/",
        data=urllib.parse.urlencode(form),
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    SigV4Auth(Credentials(*key), service, "us-east-1").add_auth(request)
    return dict(request.headers)


def test_it_answers_in_snss_xml_and_refuses_unsigned_or_wrongly_scoped_requests(live_server_url, access_key):
    form = {"Action": "CreateTopic", "Version": "2010-03-31", "Name": "sneaky"}
    status, body = _post(live_server_url, form)
    assert status == 403
    assert body.tag == f"{NAMESPACE}ErrorResponse"
    assert body.findtext(f"{NAMESPACE}Error/{NAMESPACE}Type") == "Sender"
    assert body.findtext(f"{NAMESPACE}Error/{NAMESPACE}Code") == "MissingAuthenticationToken"
    assert body.findtext(f"{NAMESPACE}RequestId")

    status, body = _post(live_server_url, form, _signed_headers(live_server_url, access_key, form, "sqs"))
    assert status == 403
    assert body.findtext(f"{NAMESPACE}Error/{NAMESPACE}Code") == "SignatureDoesNotMatch"
    assert "'sns'" in body.findtext(f"{NAMESPACE}Error/{NAMESPACE}Message")
    assert not Topic.objects.exists()

    status, body = _post(live_server_url, form, _signed_headers(live_server_url, access_key, form, "sns"))
    assert status == 200
    assert body.tag == f"{NAMESPACE}CreateTopicResponse"
    result = f"{NAMESPACE}CreateTopicResult/{NAMESPACE}TopicArn"
    assert body.findtext(result) == TOPIC_ARN.format("sneaky")
    assert body.findtext(f"{NAMESPACE}ResponseMetadata/{NAMESPACE}RequestId")

    malformed = [
        {"Action": "CreateTopic", "Name": "half", "Attributes.entry.1.key": "FifoTopic"},
        {"Action": "Subscribe", "TopicArn": TOPIC_ARN.format("sneaky"), "ReturnSubscriptionArn": "maybe"},
        {"Action": "Publish", "TopicArn": TOPIC_ARN.format("sneaky"), "Message": "m"}
        | {"MessageAttributes.entry.1.Name": "valueless"},
    ]
    for fields in malformed:
        form = {**fields, "Version": "2010-03-31"}
        status, body = _post(live_server_url, form, _signed_headers(live_server_url, access_key, form, "sns"))
        assert (status, body.findtext(f"{NAMESPACE}Error/{NAMESPACE}Code")) == (400, "InvalidParameter"), (
            fields
        )


def test_it_works_from_the_aws_cli(aws_cli, sqs):
    url, queue_arn = _queue(sqs, "cli-inbox")
    arn = json.loads(aws_cli("sns", "create-topic", "--name", "cli-topic").stdout)["TopicArn"]
    assert arn == TOPIC_ARN.format("cli-topic")
    aws_cli("sns", "subscribe", "--topic-arn", arn, "--protocol", "sqs", "--notification-endpoint", queue_arn)
    published = aws_cli(
        "sns",
        "publish",
        "--topic-arn",
        arn,
        "--message",
        "from the cli",
        "--subject",
        "cli",
        "--message-attributes",
        '{"source": {"DataType": "String", "StringValue": "aws"}}',
    )
    notification = json.loads(_receive(sqs, url)["Body"])
    assert notification["MessageId"] == json.loads(published.stdout)["MessageId"]
    assert (notification["Message"], notification["Subject"]) == ("from the cli", "cli")
    assert notification["MessageAttributes"] == {"source": {"Type": "String", "Value": "aws"}}
    listed = json.loads(aws_cli("sns", "list-topics").stdout)["Topics"]
    assert listed == [{"TopicArn": arn}]
    missing = aws_cli(
        "sns", "publish", "--topic-arn", TOPIC_ARN.format("gone"), "--message", "x", check=False
    )
    assert missing.returncode != 0 and "NotFound" in missing.stderr
