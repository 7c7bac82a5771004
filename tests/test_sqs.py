"""Stratus queues through boto3's own SQS client: SQS's semantics on Redis."""

from __future__ import annotations

import hashlib
import json
import threading
import time

import pytest

from tests.conftest import aws_client


@pytest.fixture
def sqs(live_server_url, access_key):
    return aws_client("sqs", live_server_url, access_key)


def test_it_creates_lists_finds_and_deletes_queues(sqs):
    url = sqs.create_queue(QueueName="orders")["QueueUrl"]
    assert url.endswith("/000000000000/orders")
    assert sqs.create_queue(QueueName="orders")["QueueUrl"] == url  # idempotent, as SQS
    sqs.create_queue(QueueName="other")
    assert sqs.get_queue_url(QueueName="orders")["QueueUrl"] == url
    assert sqs.list_queues(QueueNamePrefix="ord")["QueueUrls"] == [url]
    page = sqs.list_queues(MaxResults=1)
    assert len(page["QueueUrls"]) == 1 and page["NextToken"]
    sqs.delete_queue(QueueUrl=url)
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.get_queue_url(QueueName="orders")


def test_it_refuses_a_different_queue_under_the_same_name(sqs):
    sqs.create_queue(QueueName="jobs", Attributes={"VisibilityTimeout": "10"})
    with pytest.raises(sqs.exceptions.QueueNameExists):
        sqs.create_queue(QueueName="jobs", Attributes={"VisibilityTimeout": "20"})


def test_it_refuses_bad_attributes_with_sqs_errors(sqs):
    with pytest.raises(sqs.exceptions.ClientError) as error:
        sqs.create_queue(QueueName="bad", Attributes={"VisibilityTimeout": "50000"})
    assert error.value.response["Error"]["Code"] == "InvalidAttributeValue"
    with pytest.raises(sqs.exceptions.InvalidAttributeName):
        sqs.create_queue(QueueName="bad", Attributes={"Colour": "blue"})
    with pytest.raises(sqs.exceptions.ClientError):
        sqs.create_queue(QueueName="bad queue")


def test_it_sends_and_receives_with_attributes_and_md5s(sqs):
    url = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    sent = sqs.send_message(
        QueueUrl=url,
        MessageBody="héllo",
        MessageAttributes={
            "kind": {"DataType": "String", "StringValue": "greeting"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        },
    )
    assert sent["MD5OfMessageBody"] == hashlib.md5("héllo".encode()).hexdigest()
    got = sqs.receive_message(
        QueueUrl=url, MessageAttributeNames=["All"], MessageSystemAttributeNames=["All"]
    )["Messages"]
    assert len(got) == 1
    message = got[0]
    assert message["MessageId"] == sent["MessageId"]
    assert message["Body"] == "héllo"
    assert message["MessageAttributes"]["kind"]["StringValue"] == "greeting"
    assert message["MessageAttributes"]["blob"]["BinaryValue"] == b"\x00\x01"
    assert message["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    assert message["Attributes"]["ApproximateReceiveCount"] == "1"
    assert abs(int(message["Attributes"]["SentTimestamp"]) - time.time() * 1000) < 60_000


def test_it_hides_a_received_message_for_the_visibility_timeout(sqs):
    url = sqs.create_queue(QueueName="vis", Attributes={"VisibilityTimeout": "1"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="once")
    first = sqs.receive_message(QueueUrl=url)["Messages"][0]
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "1"
    assert attributes["ApproximateNumberOfMessages"] == "0"
    time.sleep(1.2)
    again = sqs.receive_message(QueueUrl=url, AttributeNames=["ApproximateReceiveCount"])["Messages"][0]
    assert again["MessageId"] == first["MessageId"]
    assert again["Attributes"]["ApproximateReceiveCount"] == "2"
    # The first receipt handle is stale now: deleting with it deletes nothing.
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=again["ReceiptHandle"], VisibilityTimeout=0)
    third = sqs.receive_message(QueueUrl=url)["Messages"][0]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=third["ReceiptHandle"])
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "0"})
    assert "Messages" not in sqs.receive_message(QueueUrl=url)


def test_it_refuses_a_receipt_handle_it_never_gave(sqs):
    url = sqs.create_queue(QueueName="handles")["QueueUrl"]
    with pytest.raises(sqs.exceptions.ReceiptHandleIsInvalid):
        sqs.delete_message(QueueUrl=url, ReceiptHandle="not-a-handle")


def test_it_redrives_to_the_dead_letter_queue_after_max_receive_count(sqs):
    dlq_url = sqs.create_queue(QueueName="dead")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    url = sqs.create_queue(
        QueueName="work",
        Attributes={
            "VisibilityTimeout": "0",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}),
        },
    )["QueueUrl"]
    sent = sqs.send_message(QueueUrl=url, MessageBody="poison")["MessageId"]
    assert sqs.receive_message(QueueUrl=url)["Messages"][0]["MessageId"] == sent
    assert sqs.receive_message(QueueUrl=url)["Messages"][0]["MessageId"] == sent
    assert "Messages" not in sqs.receive_message(QueueUrl=url)  # the third receive moves it
    dead = sqs.receive_message(QueueUrl=dlq_url)["Messages"]
    assert [message["MessageId"] for message in dead] == [sent]
    assert dead[0]["Body"] == "poison"


def test_it_refuses_a_redrive_policy_to_a_missing_queue(sqs):
    with pytest.raises(sqs.exceptions.ClientError) as error:
        sqs.create_queue(
            QueueName="orphan",
            Attributes={
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:nope", "maxReceiveCount": 2}
                )
            },
        )
    assert "Dead letter target does not exist" in error.value.response["Error"]["Message"]


def test_it_long_polls_until_a_message_arrives(sqs):
    url = sqs.create_queue(QueueName="poll")["QueueUrl"]

    def send_later():
        time.sleep(0.5)
        sqs.send_message(QueueUrl=url, MessageBody="late")

    threading.Thread(target=send_later).start()
    started = time.monotonic()
    got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5)["Messages"]
    waited = time.monotonic() - started
    assert got[0]["Body"] == "late"
    assert 0.4 < waited < 4


def test_it_delays_messages(sqs):
    url = sqs.create_queue(QueueName="later")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="soon", DelaySeconds=1)
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesDelayed"])
    assert attributes["Attributes"]["ApproximateNumberOfMessagesDelayed"] == "1"
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=3)["Messages"]
    assert got[0]["Body"] == "soon"


def test_it_sends_and_deletes_in_batches_with_per_entry_failures(sqs):
    url = sqs.create_queue(QueueName="batch")["QueueUrl"]
    result = sqs.send_message_batch(
        QueueUrl=url,
        Entries=[{"Id": f"m{i}", "MessageBody": f"body {i}"} for i in range(3)]
        + [{"Id": "bad", "MessageBody": "\u0000"}],
    )
    assert sorted(entry["Id"] for entry in result["Successful"]) == ["m0", "m1", "m2"]
    assert [(entry["Id"], entry["Code"]) for entry in result["Failed"]] == [("bad", "InvalidMessageContents")]
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(message["Body"] for message in got) == ["body 0", "body 1", "body 2"]
    deleted = sqs.delete_message_batch(
        QueueUrl=url,
        Entries=[{"Id": f"d{i}", "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)]
        + [{"Id": "junk", "ReceiptHandle": "junk"}],
    )
    assert len(deleted["Successful"]) == 3
    assert deleted["Failed"][0]["Code"] == "ReceiptHandleIsInvalid"
    with pytest.raises(sqs.exceptions.TooManyEntriesInBatchRequest):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": f"m{i}", "MessageBody": "x"} for i in range(11)])
    with pytest.raises(sqs.exceptions.BatchEntryIdsNotDistinct):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "a", "MessageBody": "x"}] * 2)


def test_it_purges_and_tags(sqs):
    url = sqs.create_queue(QueueName="purge", tags={"team": "a"})["QueueUrl"]
    for i in range(5):
        sqs.send_message(QueueUrl=url, MessageBody=str(i))
    sqs.purge_queue(QueueUrl=url)
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    sqs.tag_queue(QueueUrl=url, Tags={"env": "dev"})
    sqs.untag_queue(QueueUrl=url, TagKeys=["team"])
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"env": "dev"}


def test_it_refuses_unsigned_calls(live_server_url):
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        f"{live_server_url}/",
        data=b'{"QueueName":"x"}',
        headers={"X-Amz-Target": "AmazonSQS.CreateQueue", "Content-Type": "application/x-amz-json-1.0"},
    )
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request)
    assert error.value.code in (400, 403)


def test_the_aws_cli_drives_stratus_queues(aws_cli):
    created = json.loads(aws_cli("sqs", "create-queue", "--queue-name", "cli-queue").stdout)
    url = created["QueueUrl"]
    aws_cli("sqs", "send-message", "--queue-url", url, "--message-body", '{"id": 1}')
    received = json.loads(aws_cli("sqs", "receive-message", "--queue-url", url).stdout)["Messages"]
    assert received[0]["Body"] == '{"id": 1}'
    aws_cli("sqs", "delete-message", "--queue-url", url, "--receipt-handle", received[0]["ReceiptHandle"])
    missing = aws_cli("sqs", "get-queue-url", "--queue-name", "nope", check=False)
    # The CLI names the error as SQS does: by its query-protocol code.
    assert missing.returncode != 0 and "AWS.SimpleQueueService.NonExistentQueue" in missing.stderr


def test_it_counts_a_delayed_message_as_delayed_then_as_in_flight_once_received(sqs):
    url = sqs.create_queue(QueueName="counted")["QueueUrl"]
    names = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]

    def counts():
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
        return [int(attributes[name]) for name in names]

    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=1)
    sqs.send_message(QueueUrl=url, MessageBody="now")
    assert counts() == [1, 0, 1]
    time.sleep(1.1)
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert len(received) == 2
    assert counts() == [0, 2, 0]
    for message in received:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert counts() == [0, 0, 0]
