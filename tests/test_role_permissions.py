"""Event source mappings and destinations act with the function's execution role, as on AWS:
a mapping whose role may not read its queue or stream is refused, a destination the role may
not send to is refused, and a poller whose role loses a permission stops reading (and says
why in LastProcessingResult) until it is given back."""

from __future__ import annotations

import json

import pytest

from functions_app.triggers.pollers.base import ROLE_RECHECK_SECONDS
from iam import selectors, services
from tests.conftest import aws_client, holds_throughout, lambda_role, wait_until

pytestmark = [pytest.mark.django_db(transaction=True)]

ACCOUNT = "000000000000"
REGION = "us-east-1"
SQS_EXECUTION = "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole"


def _bare_role(name: str) -> str:
    """A role Lambda may assume that may do nothing yet."""
    return lambda_role(name)


@pytest.fixture
def sqs(live_server_url, access_key):
    return aws_client("sqs", live_server_url, access_key)


def _queue(sqs, name: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    return url, f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"


def _refusal(call) -> str:
    with pytest.raises(Exception) as raised:
        call()
    error = raised.value.response["Error"]
    assert error["Code"] == "InvalidParameterValueException", error
    return error["Message"]


def test_a_mapping_needs_a_role_that_may_read_the_queue(lambda_client, create_function, sqs):
    role = _bare_role("reader")
    create_function("consumer", Role=role)
    _, arn = _queue(sqs, "jobs")
    message = _refusal(
        lambda: lambda_client.create_event_source_mapping(EventSourceArn=arn, FunctionName="consumer")
    )
    assert message == "The provided execution role does not have permissions to call ReceiveMessage on SQS"
    assert not lambda_client.list_event_source_mappings(FunctionName="consumer")["EventSourceMappings"]

    services.policy_attach(
        principal=selectors.role_get(account_id=ACCOUNT, name="reader"), policy_arn=SQS_EXECUTION
    )
    created = lambda_client.create_event_source_mapping(EventSourceArn=arn, FunctionName="consumer")
    assert created["EventSourceArn"] == arn


def test_a_queue_policy_may_grant_the_role_what_its_own_policies_do_not(lambda_client, create_function, sqs):
    role = _bare_role("granted")
    create_function("consumer", Role=role)
    url, arn = _queue(sqs, "granted-jobs")
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": role},
                "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
                "Resource": arn,
            }
        ],
    }
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    assert lambda_client.create_event_source_mapping(EventSourceArn=arn, FunctionName="consumer")["UUID"]


def test_a_stream_mapping_needs_a_role_that_may_read_the_stream(lambda_client, create_function):
    from functions_app.triggers.streams import stream_arn, stream_create

    create_function("consumer", Role=_bare_role("stream-reader"))
    stream_create(name="clicks", shard_count=1)
    message = _refusal(
        lambda: lambda_client.create_event_source_mapping(
            EventSourceArn=stream_arn("clicks"), FunctionName="consumer", StartingPosition="TRIM_HORIZON"
        )
    )
    assert message == "The provided execution role does not have permissions to call GetRecords on Kinesis"


def test_a_destination_needs_a_role_that_may_send_to_it(lambda_client, create_function, sqs):
    create_function("notifier", Role=_bare_role("sender"))
    _, arn = _queue(sqs, "failures")
    message = _refusal(
        lambda: lambda_client.put_function_event_invoke_config(
            FunctionName="notifier", DestinationConfig={"OnFailure": {"Destination": arn}}
        )
    )
    assert message == f"The function execution role does not have permissions to call SendMessage on {arn}"

    role = selectors.role_get(account_id=ACCOUNT, name="sender")
    services.inline_policy_put(
        principal=role,
        name="send",
        document=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": arn}],
            }
        ),
    )
    configured = lambda_client.put_function_event_invoke_config(
        FunctionName="notifier", DestinationConfig={"OnFailure": {"Destination": arn}}
    )
    assert configured["DestinationConfig"]["OnFailure"]["Destination"] == arn


@pytest.mark.usefixtures("stratus_workers", "stratus_pollers")
def test_a_poller_stops_reading_when_the_role_loses_its_permission(lambda_client, create_function, sqs):
    create_function("consumer", Role=_bare_role("revocable"))
    role = selectors.role_get(account_id=ACCOUNT, name="revocable")
    services.policy_attach(principal=role, policy_arn=SQS_EXECUTION)
    url, arn = _queue(sqs, "revocable-jobs")
    mapping = lambda_client.create_event_source_mapping(
        EventSourceArn=arn, FunctionName="consumer", BatchSize=1
    )
    sqs.send_message(QueueUrl=url, MessageBody="first")

    def drained() -> bool:
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        return (
            attributes["ApproximateNumberOfMessages"] == "0"
            and attributes["ApproximateNumberOfMessagesNotVisible"] == "0"
        )

    wait_until(drained, timeout=60, what="the poller to consume the first message")

    services.policy_detach(principal=role, policy_arn=SQS_EXECUTION)
    reason = "PROBLEM: The provided execution role does not have permissions to call ReceiveMessage on SQS"
    wait_until(
        lambda: (
            lambda_client.get_event_source_mapping(UUID=mapping["UUID"])["LastProcessingResult"] == reason
        ),
        timeout=60,
        what="the poller to say its role may not read the queue",
    )
    sqs.send_message(QueueUrl=url, MessageBody="second")

    # For two of the poller's rechecks, the message is never consumed: a receive already
    # waiting when the permission went hands it back without invoking.
    def held() -> bool:
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        visible, in_flight = (
            attributes["ApproximateNumberOfMessages"],
            attributes["ApproximateNumberOfMessagesNotVisible"],
        )
        return int(visible) + int(in_flight) == 1

    holds_throughout(held, seconds=2 * ROLE_RECHECK_SECONDS, what="the unconsumed message")

    services.policy_attach(principal=role, policy_arn=SQS_EXECUTION)
    wait_until(drained, timeout=60, what="the poller to read again once the role may")
