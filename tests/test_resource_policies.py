"""SQS queue policies and SNS topic policies decide with the caller's own policies, as AWS's
evaluation has it: another account's caller needs both sides to allow, and an explicit Deny in
the resource's policy wins over an administrator's Allow."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from botocore.exceptions import ClientError

from iam import services
from tests.conftest import aws_client

pytestmark = [pytest.mark.django_db(transaction=True)]

ACCOUNT = "000000000000"
REGION = "us-east-1"


def _document(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _code(call) -> str:
    with pytest.raises(ClientError) as raised:
        call()
    return raised.value.response["Error"]["Code"]


@pytest.fixture
def stranger(live_server_url):
    """An administrator of another account: its own policies allow everything, anywhere."""
    account = services.account_create(name="other")
    iam_user = services.user_create(account=account, name="stranger")
    services.policy_attach(principal=iam_user, policy_arn="arn:aws:iam::aws:policy/AdministratorAccess")
    key, secret = services.access_key_issue(iam_user=iam_user)
    return account, (lambda service: aws_client(service, live_server_url, (key.access_key_id, secret)))


@pytest.fixture
def user_key():
    """A user of the default account with a key and, so far, no policy."""
    iam_user = services.user_create(account=services.account_default(), name="worker")
    key, secret = services.access_key_issue(iam_user=iam_user)
    return SimpleNamespace(name="worker", key=(key.access_key_id, secret))


def test_a_queue_policy_lets_another_account_send_and_nothing_else(live_server_url, access_key, stranger):
    account, client = stranger
    owner = aws_client("sqs", live_server_url, access_key)
    url = owner.create_queue(QueueName="shared")["QueueUrl"]
    their_sqs = client("sqs")
    assert _code(lambda: their_sqs.send_message(QueueUrl=url, MessageBody="hi")) == "AccessDenied"

    policy = _document(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{account.id}:root"},
            "Action": "sqs:SendMessage",
            "Resource": f"arn:aws:sqs:{REGION}:{ACCOUNT}:shared",
        }
    )
    owner.set_queue_attributes(QueueUrl=url, Attributes={"Policy": policy})
    their_sqs.send_message(QueueUrl=url, MessageBody="hi")
    assert owner.receive_message(QueueUrl=url)["Messages"][0]["Body"] == "hi"
    assert _code(lambda: their_sqs.purge_queue(QueueUrl=url)) == "AccessDenied"
    assert (
        owner.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"] == policy
    )


def test_an_explicit_deny_in_a_queue_policy_wins_over_an_administrator(live_server_url, access_key, user_key):
    owner = aws_client("sqs", live_server_url, access_key)
    url = owner.create_queue(QueueName="guarded")["QueueUrl"]
    iam = aws_client("iam", live_server_url, access_key)
    iam.attach_user_policy(UserName=user_key.name, PolicyArn="arn:aws:iam::aws:policy/AmazonSQSFullAccess")
    sqs = aws_client("sqs", live_server_url, user_key.key)
    sqs.send_message(QueueUrl=url, MessageBody="before")

    deny = _document(
        {
            "Effect": "Deny",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/{user_key.name}"},
            "Action": "sqs:SendMessage",
            "Resource": "*",
        }
    )
    owner.set_queue_attributes(QueueUrl=url, Attributes={"Policy": deny})
    assert _code(lambda: sqs.send_message(QueueUrl=url, MessageBody="after")) == "AccessDenied"
    owner.send_message(QueueUrl=url, MessageBody="the owner still may")
    owner.set_queue_attributes(QueueUrl=url, Attributes={"Policy": ""})
    sqs.send_message(QueueUrl=url, MessageBody="again")


def test_a_malformed_queue_policy_is_refused_and_not_kept(live_server_url, access_key):
    sqs = aws_client("sqs", live_server_url, access_key)
    url = sqs.create_queue(QueueName="strict")["QueueUrl"]
    assert _code(
        lambda: sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": '{"Statement": 1}'})
    ) == ("InvalidAttributeValue")
    assert "Policy" not in sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]


def test_a_topic_policy_lets_another_account_publish(live_server_url, access_key, stranger):
    account, client = stranger
    owner = aws_client("sns", live_server_url, access_key)
    arn = owner.create_topic(Name="news")["TopicArn"]
    default = json.loads(owner.get_topic_attributes(TopicArn=arn)["Attributes"]["Policy"])
    assert default["Statement"][0]["Condition"] == {"StringEquals": {"AWS:SourceOwner": ACCOUNT}}
    their_sns = client("sns")
    assert _code(lambda: their_sns.publish(TopicArn=arn, Message="hi")) == "AuthorizationError"

    policy = _document(
        {
            "Effect": "Allow",
            "Principal": {"AWS": account.id},
            "Action": "sns:Publish",
            "Resource": arn,
        }
    )
    owner.set_topic_attributes(TopicArn=arn, AttributeName="Policy", AttributeValue=policy)
    assert owner.get_topic_attributes(TopicArn=arn)["Attributes"]["Policy"] == policy
    assert their_sns.publish(TopicArn=arn, Message="hi")["MessageId"]
    assert _code(lambda: their_sns.delete_topic(TopicArn=arn)) == "AuthorizationError"
    assert (
        _code(lambda: owner.set_topic_attributes(TopicArn=arn, AttributeName="Policy", AttributeValue="{}"))
        == "InvalidParameter"
    )
    owner.set_topic_attributes(TopicArn=arn, AttributeName="DisplayName", AttributeValue="News")
    assert owner.get_topic_attributes(TopicArn=arn)["Attributes"]["DisplayName"] == "News"


def test_create_topic_cannot_rewrite_an_existing_topics_policy(live_server_url, access_key, user_key):
    """CreateTopic is a different permission from SetTopicAttributes: on an existing topic it
    refuses different attributes instead of applying them, as SNS does."""
    owner = aws_client("sns", live_server_url, access_key)
    arn = owner.create_topic(Name="locked")["TopicArn"]
    iam = aws_client("iam", live_server_url, access_key)
    only_create = _document({"Effect": "Allow", "Action": "sns:CreateTopic", "Resource": "*"})
    iam.put_user_policy(UserName=user_key.name, PolicyName="create-only", PolicyDocument=only_create)
    sns = aws_client("sns", live_server_url, user_key.key)
    open_policy = _document({"Effect": "Allow", "Principal": "*", "Action": "sns:*", "Resource": arn})
    assert (
        _code(lambda: sns.create_topic(Name="locked", Attributes={"Policy": open_policy}))
        == "InvalidParameter"
    )
    assert _code(lambda: sns.delete_topic(TopicArn=arn)) == "AuthorizationError"
    assert 'Principal": "*"' not in owner.get_topic_attributes(TopicArn=arn)["Attributes"]["Policy"]
    # A new topic's attributes are checked before it is created: a bad one creates nothing.
    assert _code(lambda: owner.create_topic(Name="never", Attributes={"Policy": "{}"})) == "InvalidParameter"
    assert [t["TopicArn"] for t in owner.list_topics()["Topics"]] == [arn]


def test_a_stored_policy_that_no_longer_parses_does_not_lock_the_queue(live_server_url, access_key, user_key):
    from functions_app.triggers.models import Queue

    sqs = aws_client("sqs", live_server_url, access_key)
    url = sqs.create_queue(QueueName="legacy")["QueueUrl"]
    queue = Queue.objects.get(name="legacy")
    queue.attributes["Policy"] = '{"Statement": 1}'  # stored before policies were checked
    queue.save()
    iam = aws_client("iam", live_server_url, access_key)
    iam.attach_user_policy(UserName=user_key.name, PolicyArn="arn:aws:iam::aws:policy/AmazonSQSFullAccess")
    aws_client("sqs", live_server_url, user_key.key).send_message(QueueUrl=url, MessageBody="still works")
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": ""})


def test_a_deny_in_a_queue_policy_is_named_as_a_resource_based_policy(live_server_url, access_key, user_key):
    owner = aws_client("sqs", live_server_url, access_key)
    url = owner.create_queue(QueueName="denied")["QueueUrl"]
    deny = _document(
        {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "sqs:SendMessage", "Resource": "*"}
    )
    owner.set_queue_attributes(QueueUrl=url, Attributes={"Policy": deny})
    iam = aws_client("iam", live_server_url, access_key)
    iam.attach_user_policy(UserName=user_key.name, PolicyArn="arn:aws:iam::aws:policy/AmazonSQSFullAccess")
    with pytest.raises(ClientError) as raised:
        aws_client("sqs", live_server_url, user_key.key).send_message(QueueUrl=url, MessageBody="x")
    assert raised.value.response["Error"]["Message"].endswith(
        "with an explicit deny in a resource-based policy"
    )


def test_publishing_is_not_a_change_the_audit_log_records(live_server_url, access_key):
    from iam.models import AuditEvent

    sns = aws_client("sns", live_server_url, access_key)
    arn = sns.create_topic(Name="chatty")["TopicArn"]
    sns.publish(TopicArn=arn, Message="one")
    sns.publish(TopicArn=arn, Message="two")
    actions = list(AuditEvent.objects.values_list("action", flat=True))
    assert "SNS:CreateTopic" in actions and "SNS:Publish" not in actions


def test_another_regions_arn_names_no_stream_and_no_log_group(live_server_url, access_key):
    kinesis = aws_client("kinesis", live_server_url, access_key)
    kinesis.create_stream(StreamName="secret", ShardCount=1)
    foreign = f"arn:aws:kinesis:eu-west-1:{ACCOUNT}:stream/secret"
    assert _code(lambda: kinesis.describe_stream_summary(StreamARN=foreign)) == "ResourceNotFoundException"
    logs = aws_client("logs", live_server_url, access_key)
    logs.create_log_group(logGroupName="/secret")
    group = f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:/secret"
    assert _code(lambda: logs.describe_log_streams(logGroupIdentifier=group)) == "ResourceNotFoundException"
