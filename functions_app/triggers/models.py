"""Triggers' data: queues, topics and their subscriptions, schedules, function URLs and event
source mappings. Messages themselves live in Redis (``queue_store``); these rows are the
configuration every process reads.

Queues, topics and streams belong to an account (``account_id``, see iam/tenancy.py); their
names are unique across the install for now, as functions' are.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

from functions_app.triggers.arns import queue_arn, stream_arn, topic_arn
from iam.models import default_account_id


class Queue(models.Model):
    """A Stratus queue (SQS semantics). ``attributes`` holds SQS's attribute names and values
    as strings, exactly as GetQueueAttributes returns them."""

    name = models.CharField(max_length=80, unique=True)
    # The account that owns it (iam.Account's id); see iam/tenancy.py.
    account_id = models.CharField(max_length=12, default=default_account_id, db_index=True)
    attributes = models.JSONField(default=dict)
    tags = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_modified = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "functions_app"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def arn(self) -> str:
        """The queue's ARN, in its own account."""
        return queue_arn(self.name, account=self.account_id)


class Stream(models.Model):
    """A Stratus stream (the Kinesis model on Redis Streams): records are spread over shards by
    the hash of their partition key, one Redis stream per shard."""

    name = models.CharField(max_length=128, unique=True)
    # The account that owns it (iam.Account's id); see iam/tenancy.py.
    account_id = models.CharField(max_length=12, default=default_account_id, db_index=True)
    shard_count = models.PositiveSmallIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "functions_app"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def arn(self) -> str:
        """The stream's ARN, in its own account."""
        return stream_arn(self.name, account=self.account_id)


class Topic(models.Model):
    """A Stratus topic (SNS semantics): a publish fans out to every subscription."""

    name = models.CharField(max_length=256, unique=True)
    # The account that owns it (iam.Account's id); see iam/tenancy.py.
    account_id = models.CharField(max_length=12, default=default_account_id, db_index=True)
    # SNS's settable attributes as SetTopicAttributes was given them (Policy, DisplayName, ...).
    attributes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "functions_app"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def arn(self) -> str:
        """The topic's ARN, in its own account."""
        return topic_arn(self.name, account=self.account_id)


class Subscription(models.Model):
    class Protocol(models.TextChoices):
        LAMBDA = "lambda"
        SQS = "sqs"
        HTTP = "http"
        HTTPS = "https"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    topic = models.ForeignKey(Topic, on_delete=models.CASCADE, related_name="subscriptions")
    protocol = models.CharField(max_length=8, choices=Protocol.choices)
    endpoint = models.CharField(max_length=1024)
    raw_message_delivery = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "functions_app"
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(fields=["topic", "protocol", "endpoint"], name="unique_subscription")
        ]

    def __str__(self) -> str:
        return f"{self.topic.name} → {self.endpoint}"


class Schedule(models.Model):
    """An EventBridge-style schedule that invokes a function asynchronously."""

    name = models.CharField(max_length=64, unique=True)
    function = models.ForeignKey("functions_app.Function", on_delete=models.CASCADE, related_name="schedules")
    qualifier = models.CharField(max_length=128, blank=True)
    expression = models.CharField(max_length=256)
    time_zone = models.CharField(max_length=64, default="UTC")
    enabled = models.BooleanField(default=True)
    # The event's "detail"; the rest of the Scheduled Event is built at each firing.
    detail = models.JSONField(default=dict, blank=True)
    description = models.CharField(max_length=512, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # The tick the schedule last fired for: after downtime the missed ticks collapse into one.
    last_fired_for = models.DateTimeField(null=True, blank=True)
    fire_count = models.PositiveIntegerField(default=0)

    class Meta:
        app_label = "functions_app"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class FunctionUrlConfig(models.Model):
    class AuthType(models.TextChoices):
        NONE = "NONE"
        AWS_IAM = "AWS_IAM"

    function = models.ForeignKey(
        "functions_app.Function", on_delete=models.CASCADE, related_name="url_configs"
    )
    qualifier = models.CharField(max_length=128, blank=True, help_text="Empty for the unqualified function.")
    url_id = models.CharField(max_length=40, unique=True)
    auth_type = models.CharField(max_length=8, choices=AuthType.choices)
    cors = models.JSONField(null=True, blank=True)
    invoke_mode = models.CharField(max_length=32, default="BUFFERED")
    created_at = models.DateTimeField(default=timezone.now)
    last_modified = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "functions_app"
        constraints = [models.UniqueConstraint(fields=["function", "qualifier"], name="unique_function_url")]

    def __str__(self) -> str:
        return self.url_id


class EventSourceMapping(models.Model):
    """A poller's configuration: which source feeds which function, and how.

    ``kind`` names the source module (``sqs``, ``stream``, ``rabbitmq``, ``kafka``); ``config``
    holds the Lambda API's fields for it (BatchSize, StartingPosition, FilterCriteria, ...)
    as the API returns them.
    """

    class State(models.TextChoices):
        CREATING = "Creating"
        ENABLING = "Enabling"
        ENABLED = "Enabled"
        DISABLING = "Disabling"
        DISABLED = "Disabled"
        UPDATING = "Updating"
        DELETING = "Deleting"

    uuid = models.UUIDField(primary_key=True, default=uuid.uuid4)
    function = models.ForeignKey(
        "functions_app.Function", on_delete=models.CASCADE, related_name="event_source_mappings"
    )
    qualifier = models.CharField(max_length=128, blank=True)
    kind = models.CharField(max_length=16)
    source = models.CharField(max_length=1024, help_text="EventSourceArn, or the Kafka topic.")
    config = models.JSONField(default=dict)
    enabled = models.BooleanField(default=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.CREATING)
    state_reason = models.CharField(max_length=1024, default="User action")
    last_processing_result = models.CharField(max_length=256, default="No records processed")
    last_modified = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "functions_app"
        ordering = ["last_modified"]

    def __str__(self) -> str:
        return f"{self.kind} {self.source} → {self.function_id}"
