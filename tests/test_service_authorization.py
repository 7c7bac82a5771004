"""SQS, SNS, Kinesis, CloudWatch and CloudWatch Logs authorize every call with AWS's policy
evaluation, and refuse in each service's own shape, so botocore raises what AWS's service
raises: SQS ``AccessDenied`` (403), SNS ``AuthorizationError`` (403), Kinesis and CloudWatch
Logs ``AccessDeniedException`` (400), CloudWatch ``AccessDenied`` (403) in all three protocols."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
from botocore.exceptions import ClientError

from tests.conftest import aws_client
from tests.test_cloudwatch import PROTOCOLS, _speaking

pytestmark = [pytest.mark.django_db(transaction=True)]

ACCOUNT = "000000000000"
REGION = "us-east-1"


@dataclass(frozen=True)
class _Caller:
    """Someone with an access key: ``caller("sqs")`` is their client for a service."""

    url: str
    key: tuple[str, str]

    def __call__(self, service: str):
        return aws_client(service, self.url, self.key)


@pytest.fixture
def admin(live_server_url, access_key):
    return _Caller(live_server_url, access_key)


@pytest.fixture
def user(admin, live_server_url):
    """Make an IAM user with a key and no policy."""

    def make(name: str) -> _Caller:
        iam = admin("iam")
        iam.create_user(UserName=name)
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return _Caller(live_server_url, (key["AccessKeyId"], key["SecretAccessKey"]))

    return make


def _refused(call, code: str, status: int) -> str:
    with pytest.raises(ClientError) as raised:
        call()
    error = raised.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == (code, status), error
    return error["Error"]["Message"]


def _denial(user: str, action: str, resource: str | None) -> str:
    on = f" on resource: {resource}" if resource else ""
    return (
        f"User: arn:aws:iam::{ACCOUNT}:user/{user} is not authorized to perform: {action}{on} "
        f"because no identity-based policy allows the {action} action"
    )


def _policy(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _attach(admin: _Caller, user: str, name: str) -> None:
    admin("iam").attach_user_policy(UserName=user, PolicyArn=f"arn:aws:iam::aws:policy/{name}")


def _statistics(client) -> dict:
    now = datetime.now(UTC)
    return client.get_metric_statistics(
        Namespace="AWS/Lambda",
        MetricName="Invocations",
        StartTime=now - timedelta(minutes=5),
        EndTime=now,
        Period=60,
        Statistics=["Sum"],
    )


def test_it_refuses_a_user_with_no_policy_in_each_services_own_shape(admin, user, live_server_url, tmp_path):
    queue_url = admin("sqs").create_queue(QueueName="work")["QueueUrl"]
    topic_arn = admin("sns").create_topic(Name="news")["TopicArn"]
    admin("kinesis").create_stream(StreamName="events", ShardCount=1)
    admin("logs").create_log_group(logGroupName="/app")
    nobody = user("nobody")

    sqs = nobody("sqs")
    _refused(sqs.list_queues, "AccessDenied", 403)
    message = _refused(lambda: sqs.send_message(QueueUrl=queue_url, MessageBody="hi"), "AccessDenied", 403)
    assert message == _denial("nobody", "sqs:sendmessage", f"arn:aws:sqs:{REGION}:{ACCOUNT}:work")

    sns = nobody("sns")
    with pytest.raises(sns.exceptions.AuthorizationErrorException):
        sns.list_topics()
    message = _refused(lambda: sns.publish(TopicArn=topic_arn, Message="hi"), "AuthorizationError", 403)
    assert message == _denial("nobody", "SNS:Publish", topic_arn)
    message = _refused(sns.list_topics, "AuthorizationError", 403)
    assert message == _denial("nobody", "SNS:ListTopics", f"arn:aws:sns:{REGION}:{ACCOUNT}:*")

    kinesis = nobody("kinesis")
    with pytest.raises(kinesis.exceptions.AccessDeniedException):
        kinesis.list_streams()
    message = _refused(
        lambda: kinesis.put_record(StreamName="events", Data=b"x", PartitionKey="k"),
        "AccessDeniedException",
        400,
    )
    assert message == _denial(
        "nobody", "kinesis:PutRecord", f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/events"
    )

    for protocol in PROTOCOLS:
        cloudwatch = _speaking(protocol, live_server_url, nobody.key, tmp_path / protocol)
        message = _refused(cloudwatch.list_metrics, "AccessDenied", 403)
        assert message == _denial("nobody", "cloudwatch:ListMetrics", None), protocol
        _refused(partial(_statistics, cloudwatch), "AccessDenied", 403)
    # Stratus serves no PutMetricData: an operation it does not serve is answered as before.
    cloudwatch = nobody("cloudwatch")
    _refused(
        lambda: cloudwatch.put_metric_data(Namespace="App", MetricData=[{"MetricName": "m", "Value": 1}]),
        "InvalidAction",
        400,
    )

    logs = nobody("logs")
    with pytest.raises(logs.exceptions.AccessDeniedException):
        logs.describe_log_groups()
    message = _refused(logs.describe_log_groups, "AccessDeniedException", 400)
    assert message == _denial(
        "nobody", "logs:DescribeLogGroups", f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group::log-stream:"
    )
    message = _refused(
        lambda: logs.put_retention_policy(logGroupName="/app", retentionInDays=7),
        "AccessDeniedException",
        400,
    )
    assert message == _denial(
        "nobody", "logs:PutRetentionPolicy", f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/app:log-stream:"
    )
    _refused(lambda: logs.create_log_group(logGroupName="/mine"), "AccessDeniedException", 400)


def test_it_answers_a_bad_signature_as_before_not_with_a_refusal(user, live_server_url):
    nobody = user("nobody")
    forged = _Caller(live_server_url, (nobody.key[0], "not-the-secret"))
    # SQS and CloudWatch speak JSON but report the query protocol's codes (awsQueryCompatible).
    assert _refused(forged("sqs").list_queues, "SignatureDoesNotMatch", 403)
    assert _refused(forged("sns").list_topics, "SignatureDoesNotMatch", 403)
    assert _refused(forged("kinesis").list_streams, "InvalidSignatureException", 403)
    assert _refused(forged("cloudwatch").list_metrics, "SignatureDoesNotMatch", 403)
    assert _refused(forged("logs").describe_log_groups, "InvalidSignatureException", 403)


def test_it_lets_an_inline_policy_send_to_one_queue_only(admin, user):
    sqs_admin = admin("sqs")
    mine = sqs_admin.create_queue(QueueName="mine")["QueueUrl"]
    theirs = sqs_admin.create_queue(QueueName="theirs")["QueueUrl"]
    sender = user("sender")
    admin("iam").put_user_policy(
        UserName="sender",
        PolicyName="send-to-mine",
        PolicyDocument=_policy(
            {
                "Effect": "Allow",
                "Action": "sqs:SendMessage",
                "Resource": f"arn:aws:sqs:{REGION}:{ACCOUNT}:mine",
            }
        ),
    )
    sqs = sender("sqs")
    assert sqs.send_message(QueueUrl=mine, MessageBody="one")["MessageId"]
    # A batch is authorized as its single action, as SQS does.
    sent = sqs.send_message_batch(QueueUrl=mine, Entries=[{"Id": "a", "MessageBody": "two"}])
    assert [entry["Id"] for entry in sent["Successful"]] == ["a"]
    message = _refused(lambda: sqs.send_message(QueueUrl=theirs, MessageBody="no"), "AccessDenied", 403)
    assert message == _denial("sender", "sqs:sendmessage", f"arn:aws:sqs:{REGION}:{ACCOUNT}:theirs")
    _refused(
        lambda: sqs.send_message_batch(QueueUrl=theirs, Entries=[{"Id": "a", "MessageBody": "no"}]),
        "AccessDenied",
        403,
    )
    _refused(lambda: sqs.receive_message(QueueUrl=mine), "AccessDenied", 403)
    _refused(sqs.list_queues, "AccessDenied", 403)
    received = sqs_admin.receive_message(QueueUrl=mine, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    assert sorted(message["Body"] for message in received["Messages"]) == ["one", "two"]


def test_it_lets_an_inline_policy_read_one_stream_only(admin, user):
    kinesis_admin = admin("kinesis")
    for name in ("mine", "theirs"):
        kinesis_admin.create_stream(StreamName=name, ShardCount=1)
        kinesis_admin.put_record(StreamName=name, Data=name.encode(), PartitionKey="k")
    reader = user("reader")
    admin("iam").put_user_policy(
        UserName="reader",
        PolicyName="read-mine",
        PolicyDocument=_policy(
            {
                "Effect": "Allow",
                "Action": ["kinesis:GetShardIterator", "kinesis:GetRecords"],
                "Resource": f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/mine",
            }
        ),
    )
    kinesis = reader("kinesis")
    shard = "shardId-000000000000"
    iterator = kinesis.get_shard_iterator(StreamName="mine", ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = kinesis.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    assert [record["Data"] for record in records] == [b"mine"]
    _refused(
        lambda: kinesis.get_shard_iterator(
            StreamName="theirs", ShardId=shard, ShardIteratorType="TRIM_HORIZON"
        ),
        "AccessDeniedException",
        400,
    )
    # GetRecords is authorized on the stream its iterator reads, whoever handed the iterator out.
    theirs = kinesis_admin.get_shard_iterator(
        StreamName="theirs", ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )
    message = _refused(
        lambda: kinesis.get_records(ShardIterator=theirs["ShardIterator"]), "AccessDeniedException", 400
    )
    assert message == _denial(
        "reader", "kinesis:GetRecords", f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/theirs"
    )
    _refused(
        lambda: kinesis.put_record(StreamName="mine", Data=b"x", PartitionKey="k"),
        "AccessDeniedException",
        400,
    )


def test_it_grants_exactly_what_amazon_sns_full_access_says(admin, user):
    publisher = user("publisher")
    _attach(admin, "publisher", "AmazonSNSFullAccess")
    sns = publisher("sns")
    arn = sns.create_topic(Name="alerts")["TopicArn"]
    assert arn in [topic["TopicArn"] for topic in sns.list_topics()["Topics"]]
    assert sns.publish(TopicArn=arn, Message="hi")["MessageId"]
    published = sns.publish_batch(TopicArn=arn, PublishBatchRequestEntries=[{"Id": "a", "Message": "hi"}])
    assert [entry["Id"] for entry in published["Successful"]] == ["a"]
    sns.delete_topic(TopicArn=arn)
    _refused(publisher("sqs").list_queues, "AccessDenied", 403)
    _refused(publisher("logs").describe_log_groups, "AccessDeniedException", 400)


def test_it_lets_an_explicit_deny_win_over_a_managed_policy(admin, user):
    arn = admin("sns").create_topic(Name="quiet")["TopicArn"]
    publisher = user("publisher")
    _attach(admin, "publisher", "AmazonSNSFullAccess")
    admin("iam").put_user_policy(
        UserName="publisher",
        PolicyName="not-quiet",
        PolicyDocument=_policy({"Effect": "Deny", "Action": "sns:Publish", "Resource": arn}),
    )
    sns = publisher("sns")
    message = _refused(lambda: sns.publish(TopicArn=arn, Message="hi"), "AuthorizationError", 403)
    assert message.endswith("with an explicit deny in an identity-based policy")
    assert sns.get_topic_attributes(TopicArn=arn)["Attributes"]["TopicArn"] == arn


def test_it_grants_exactly_what_cloudwatch_read_only_access_says(admin, user, live_server_url, tmp_path):
    admin("logs").create_log_group(logGroupName="/watched")
    arn = admin("sns").create_topic(Name="watched")["TopicArn"]
    watcher = user("watcher")
    _attach(admin, "watcher", "CloudWatchReadOnlyAccess")
    for protocol in PROTOCOLS:
        cloudwatch = _speaking(protocol, live_server_url, watcher.key, tmp_path / protocol)
        assert "Metrics" in cloudwatch.list_metrics()
        assert "Datapoints" in _statistics(cloudwatch)
    logs = watcher("logs")
    assert "/watched" in [group["logGroupName"] for group in logs.describe_log_groups()["logGroups"]]
    _refused(lambda: logs.create_log_group(logGroupName="/mine"), "AccessDeniedException", 400)
    sns = watcher("sns")
    assert arn in [topic["TopicArn"] for topic in sns.list_topics()["Topics"]]
    _refused(lambda: sns.publish(TopicArn=arn, Message="hi"), "AuthorizationError", 403)
    _refused(watcher("kinesis").list_streams, "AccessDeniedException", 400)


def test_it_grants_exactly_what_cloudwatch_logs_read_only_access_says(admin, user):
    admin("logs").create_log_group(logGroupName="/read")
    reader = user("reader")
    _attach(admin, "reader", "CloudWatchLogsReadOnlyAccess")
    logs = reader("logs")
    assert [group["logGroupName"] for group in logs.describe_log_groups()["logGroups"]] == ["/read"]
    assert "logStreams" in logs.describe_log_streams(logGroupName="/read")
    assert "events" in logs.filter_log_events(logGroupName="/read")
    _refused(lambda: logs.create_log_group(logGroupName="/mine"), "AccessDeniedException", 400)
    _refused(
        lambda: logs.put_retention_policy(logGroupName="/read", retentionInDays=7),
        "AccessDeniedException",
        400,
    )
    _refused(lambda: logs.delete_log_group(logGroupName="/read"), "AccessDeniedException", 400)
    _refused(reader("cloudwatch").list_metrics, "AccessDenied", 403)


def test_it_lets_the_administrator_do_everything(admin):
    sqs = admin("sqs")
    url = sqs.create_queue(QueueName="everything")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="hi")
    assert url in sqs.list_queues()["QueueUrls"]
    sns = admin("sns")
    arn = sns.create_topic(Name="everything")["TopicArn"]
    assert sns.publish(TopicArn=arn, Message="hi")["MessageId"]
    kinesis = admin("kinesis")
    kinesis.create_stream(StreamName="everything", ShardCount=1)
    assert kinesis.put_record(StreamName="everything", Data=b"x", PartitionKey="k")["SequenceNumber"]
    assert "everything" in kinesis.list_streams()["StreamNames"]
    assert "Metrics" in admin("cloudwatch").list_metrics()
    logs = admin("logs")
    logs.create_log_group(logGroupName="/everything")
    logs.put_retention_policy(logGroupName="/everything", retentionInDays=7)
    assert [group["retentionInDays"] for group in logs.describe_log_groups()["logGroups"]] == [7]
