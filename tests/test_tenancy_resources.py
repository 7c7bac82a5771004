"""An account's queues, topics, streams and log groups are its own: another account's
administrator does not see them in lists, does not find them by name, is refused them by URL or
ARN unless the owner's queue or topic policy grants it, and gets resources of its own that carry
its account, as on AWS. Names stay unique across the install for now (iam/tenancy.py)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from botocore.exceptions import ClientError

from functions_app.redis_client import redis_client
from iam import services
from metrics_app.ingest import ingest
from metrics_app.models import LogGroup
from tests.conftest import aws_client

pytestmark = [pytest.mark.django_db(transaction=True)]

OWNER = "000000000000"
REGION = "us-east-1"


@pytest.fixture
def other(live_server_url):
    """The administrator (AdministratorAccess) of another account: ``.account`` and
    ``.client(service)``."""
    account = services.account_create(name="other")
    key, secret = services.administrator_key_create(username="admin", account_id=account.id)
    return SimpleNamespace(
        account=account.id,
        client=lambda service: aws_client(service, live_server_url, (key.access_key_id, secret)),
    )


@pytest.fixture
def owner(live_server_url, access_key):
    """Clients of the default account's administrator."""
    return lambda service: aws_client(service, live_server_url, access_key)


def _code(call) -> str:
    with pytest.raises(ClientError) as raised:
        call()
    return raised.value.response["Error"]["Code"]


def _policy(**statement) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", **statement}]})


# --- Queues ------------------------------------------------------------------------------------


def test_another_account_neither_lists_nor_finds_nor_reaches_a_queue(owner, other):
    url = owner("sqs").create_queue(QueueName="orders")["QueueUrl"]
    assert url.endswith(f"/{OWNER}/orders")
    theirs = other.client("sqs")
    assert "QueueUrls" not in theirs.list_queues()
    with pytest.raises(theirs.exceptions.QueueDoesNotExist):
        theirs.get_queue_url(QueueName="orders")
    # By URL (or with the owner's account named) it is another account's queue: refused.
    assert _code(lambda: theirs.send_message(QueueUrl=url, MessageBody="hi")) == "AccessDenied"
    assert _code(lambda: theirs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])) == "AccessDenied"
    assert _code(lambda: theirs.get_queue_url(QueueName="orders", QueueOwnerAWSAccountId=OWNER)) == (
        "AccessDenied"
    )
    # The name is taken across the install for now.
    with pytest.raises(theirs.exceptions.QueueNameExists):
        theirs.create_queue(QueueName="orders")


def test_an_accounts_queue_carries_its_account_and_is_not_the_owners(owner, other):
    theirs = other.client("sqs")
    url = theirs.create_queue(QueueName="inbox")["QueueUrl"]
    assert url.endswith(f"/{other.account}/inbox")
    assert theirs.get_queue_url(QueueName="inbox")["QueueUrl"] == url
    assert theirs.list_queues()["QueueUrls"] == [url]
    arn = theirs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    assert arn == f"arn:aws:sqs:{REGION}:{other.account}:inbox"
    theirs.send_message(QueueUrl=url, MessageBody="mine")
    assert theirs.receive_message(QueueUrl=url)["Messages"][0]["Body"] == "mine"

    mine = owner("sqs")
    assert "QueueUrls" not in mine.list_queues()
    with pytest.raises(mine.exceptions.QueueDoesNotExist):
        mine.get_queue_url(QueueName="inbox")


def test_a_queue_policy_granting_another_account_lets_it_send_by_url(owner, other):
    mine = owner("sqs")
    url = mine.create_queue(QueueName="shared")["QueueUrl"]
    policy = _policy(
        Principal={"AWS": other.account},
        Action="sqs:SendMessage",
        Resource=f"arn:aws:sqs:{REGION}:{OWNER}:shared",
    )
    mine.set_queue_attributes(QueueUrl=url, Attributes={"Policy": policy})
    theirs = other.client("sqs")
    theirs.send_message(QueueUrl=url, MessageBody="from afar")
    assert mine.receive_message(QueueUrl=url)["Messages"][0]["Body"] == "from afar"
    assert _code(lambda: theirs.receive_message(QueueUrl=url)) == "AccessDenied"
    # The grant is on the owner's queue: it does not make the queue the other account's.
    assert "QueueUrls" not in theirs.list_queues()


# --- Topics ------------------------------------------------------------------------------------


def test_another_account_neither_lists_nor_reaches_a_topic(owner, other):
    mine = owner("sns")
    arn = mine.create_topic(Name="news")["TopicArn"]
    assert arn == f"arn:aws:sns:{REGION}:{OWNER}:news"
    queue_url = owner("sqs").create_queue(QueueName="reader")["QueueUrl"]
    mine.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=f"arn:aws:sqs:{REGION}:{OWNER}:reader")
    theirs = other.client("sns")
    assert theirs.list_topics()["Topics"] == []
    assert theirs.list_subscriptions()["Subscriptions"] == []
    assert _code(lambda: theirs.get_topic_attributes(TopicArn=arn)) == "AuthorizationError"
    # The same name in its own account is no topic of its.
    assert (
        _code(lambda: theirs.get_topic_attributes(TopicArn=arn.replace(OWNER, other.account))) == "NotFound"
    )
    assert _code(lambda: theirs.create_topic(Name="news")) == "InvalidParameter"
    assert "Messages" not in owner("sqs").receive_message(QueueUrl=queue_url)


def test_an_accounts_topic_carries_its_account_and_is_not_the_owners(owner, other):
    theirs = other.client("sns")
    arn = theirs.create_topic(Name="briefs")["TopicArn"]
    assert arn == f"arn:aws:sns:{REGION}:{other.account}:briefs"
    attributes = theirs.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert attributes["Owner"] == other.account
    assert json.loads(attributes["Policy"])["Statement"][0]["Condition"] == {
        "StringEquals": {"AWS:SourceOwner": other.account}
    }
    assert theirs.list_topics()["Topics"] == [{"TopicArn": arn}]
    assert owner("sns").list_topics()["Topics"] == []


def test_a_topic_policy_granting_another_account_lets_it_publish(owner, other):
    mine = owner("sns")
    arn = mine.create_topic(Name="announcements")["TopicArn"]
    sqs = owner("sqs")
    queue_url = sqs.create_queue(QueueName="listener")["QueueUrl"]
    mine.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=f"arn:aws:sqs:{REGION}:{OWNER}:listener")
    theirs = other.client("sns")
    assert _code(lambda: theirs.publish(TopicArn=arn, Message="early")) == "AuthorizationError"

    policy = _policy(Principal={"AWS": other.account}, Action="sns:Publish", Resource=arn)
    mine.set_topic_attributes(TopicArn=arn, AttributeName="Policy", AttributeValue=policy)
    theirs.publish(TopicArn=arn, Message="hello from afar")
    received = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=5)["Messages"]
    notification = json.loads(received[0]["Body"])
    assert notification["Message"] == "hello from afar" and notification["TopicArn"] == arn
    assert _code(lambda: theirs.delete_topic(TopicArn=arn)) == "AuthorizationError"


# --- Streams -----------------------------------------------------------------------------------


def test_another_account_neither_lists_nor_finds_nor_reaches_a_stream(owner, other):
    mine = owner("kinesis")
    mine.create_stream(StreamName="clicks", ShardCount=1)
    arn = mine.describe_stream_summary(StreamName="clicks")["StreamDescriptionSummary"]["StreamARN"]
    assert arn == f"arn:aws:kinesis:{REGION}:{OWNER}:stream/clicks"
    theirs = other.client("kinesis")
    assert theirs.list_streams()["StreamNames"] == []
    assert _code(lambda: theirs.describe_stream(StreamName="clicks")) == "ResourceNotFoundException"
    assert _code(lambda: theirs.describe_stream(StreamARN=arn)) == "AccessDeniedException"
    put = lambda: theirs.put_record(StreamARN=arn, Data=b"x", PartitionKey="k")  # noqa: E731
    assert _code(put) == "AccessDeniedException"
    assert _code(lambda: theirs.create_stream(StreamName="clicks", ShardCount=1)) == "ResourceInUseException"


def test_an_accounts_stream_carries_its_account_and_is_not_the_owners(owner, other):
    theirs = other.client("kinesis")
    theirs.create_stream(StreamName="taps", ShardCount=1)
    summary = theirs.describe_stream_summary(StreamName="taps")["StreamDescriptionSummary"]
    assert summary["StreamARN"] == f"arn:aws:kinesis:{REGION}:{other.account}:stream/taps"
    theirs.put_record(StreamName="taps", Data=b"tap", PartitionKey="k")
    shard = theirs.list_shards(StreamARN=summary["StreamARN"])["Shards"][0]["ShardId"]
    iterator = theirs.get_shard_iterator(StreamName="taps", ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = theirs.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    assert [record["Data"] for record in records] == [b"tap"]
    assert theirs.list_streams()["StreamNames"] == ["taps"]

    mine = owner("kinesis")
    assert mine.list_streams()["StreamNames"] == []
    assert _code(lambda: mine.describe_stream(StreamName="taps")) == "ResourceNotFoundException"


# --- Log groups --------------------------------------------------------------------------------


def test_another_account_neither_lists_nor_finds_nor_reaches_a_log_group(owner, other):
    owner("logs").create_log_group(logGroupName="/app/owner")
    arn = f"arn:aws:logs:{REGION}:{OWNER}:log-group:/app/owner"
    theirs = other.client("logs")
    assert theirs.describe_log_groups()["logGroups"] == []
    assert theirs.describe_log_groups(logGroupIdentifiers=[arn])["logGroups"] == []
    missing = lambda: theirs.describe_log_streams(logGroupName="/app/owner")  # noqa: E731
    assert _code(missing) == "ResourceNotFoundException"
    assert _code(lambda: theirs.describe_log_streams(logGroupIdentifier=arn)) == "AccessDeniedException"
    assert _code(lambda: theirs.delete_log_group(logGroupName="/app/owner")) == "ResourceNotFoundException"
    taken = lambda: theirs.create_log_group(logGroupName="/app/owner")  # noqa: E731
    assert _code(taken) == "ResourceAlreadyExistsException"


def test_an_accounts_log_group_carries_its_account_and_is_not_the_owners(owner, other):
    theirs = other.client("logs")
    theirs.create_log_group(logGroupName="/app/theirs")
    (group,) = theirs.describe_log_groups()["logGroups"]
    assert group["logGroupArn"] == f"arn:aws:logs:{REGION}:{other.account}:log-group:/app/theirs"
    assert owner("logs").describe_log_groups()["logGroups"] == []


def test_a_functions_log_group_is_created_in_the_functions_account(owner, other):
    """The consumer files a function's lines under its group, made in the function's account;
    lines aimed at another account's group are dropped, not written into it."""

    def lines(function: str, account: str, group: str) -> tuple[str, dict]:
        entry = {
            "function": function,
            "account": account,
            "group": group,
            "stream": "2026/11/30/[$LATEST]" + "a" * 32,
            "request_id": "r-" + function,
            "lines": [[1_795_000_000_000, f"hello from {function}"]],
        }
        return f"{function}-0", entry

    owner("logs").create_log_group(logGroupName="/app/owner")
    ingest(
        redis_client(),
        records=[],
        logs=[
            lines("theirs", other.account, "/aws/lambda/theirs"),
            lines("intruder", other.account, "/app/owner"),
        ],
    )
    theirs = other.client("logs")
    (group,) = theirs.describe_log_groups()["logGroups"]
    assert group["logGroupName"] == "/aws/lambda/theirs"
    events = theirs.filter_log_events(logGroupName="/aws/lambda/theirs")["events"]
    assert [event["message"] for event in events] == ["hello from theirs"]
    assert [g["logGroupName"] for g in owner("logs").describe_log_groups()["logGroups"]] == ["/app/owner"]
    assert owner("logs").filter_log_events(logGroupName="/app/owner")["events"] == []
    assert LogGroup.objects.get(name="/aws/lambda/theirs").account_id == other.account
