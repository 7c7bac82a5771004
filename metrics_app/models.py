"""What the metrics app keeps: invocation history, logs, and metric buckets.

Metric buckets grow with minutes × series, never with invocations: the consumer folds a
batch of invocation records into one row per (period, minute, metric, dimensions), with
a mergeable DDSketch for percentiles.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from iam.models import default_account_id


class InvocationRecord(models.Model):
    """One run of one event (a retry or a redelivery is another row with the same request id)."""

    request_id = models.CharField(max_length=64, db_index=True)
    attempt = models.PositiveIntegerField(default=1)
    redelivery = models.PositiveIntegerField(default=0)
    function_name = models.CharField(max_length=64)
    version = models.CharField(max_length=16)
    qualifier = models.CharField(max_length=128, blank=True)
    alias = models.CharField(max_length=128, blank=True)
    trigger = models.CharField(max_length=32, blank=True)
    invocation_type = models.CharField(max_length=16, default="RequestResponse")
    outcome = models.CharField(max_length=16)
    error_type = models.CharField(max_length=128, blank=True)
    cold = models.BooleanField(default=False)
    provisioned = models.BooleanField(default=False)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField()
    queue_wait_ms = models.FloatField(default=0)
    init_duration_ms = models.FloatField(null=True, blank=True)
    duration_ms = models.FloatField(default=0)
    billed_duration_ms = models.PositiveIntegerField(default=0)
    memory_size = models.PositiveIntegerField(default=128)
    max_memory_mb = models.PositiveIntegerField(default=0)
    async_event_age_ms = models.FloatField(null=True, blank=True)
    log_stream = models.CharField(max_length=512, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    request_payload = models.TextField(blank=True)
    response_payload = models.TextField(blank=True)
    payloads_truncated = models.BooleanField(default=False)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["request_id", "attempt", "redelivery"], name="unique_invocation_run"
            )
        ]
        indexes = [
            models.Index(fields=["function_name", "-started_at"], name="invocation_function_time"),
            # The overview's "recent errors" walks the newest invocations account-wide.
            models.Index(fields=["-started_at"], name="invocation_time"),
        ]

    def __str__(self) -> str:
        return f"{self.function_name} {self.request_id}"

    @property
    def succeeded(self) -> bool:
        return self.outcome == "success"


class LogGroup(models.Model):
    """A CloudWatch Logs log group. It belongs to an account (see iam/tenancy.py); names are
    unique across the install for now, as functions' are."""

    name = models.CharField(max_length=512, unique=True)
    # The account that owns it (iam.Account's id); a function's own group is the function's.
    account_id = models.CharField(max_length=12, default=default_account_id, db_index=True)
    retention_days = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name


class LogStream(models.Model):
    """One execution environment's log stream, named as AWS names them."""

    group = models.ForeignKey(LogGroup, on_delete=models.CASCADE, related_name="streams")
    name = models.CharField(max_length=512)
    first_event_ms = models.BigIntegerField(default=0)
    last_event_ms = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["group", "name"], name="unique_log_stream")]

    def __str__(self) -> str:
        return f"{self.group.name} {self.name}"


class LogEvent(models.Model):
    stream = models.ForeignKey(LogStream, on_delete=models.CASCADE, related_name="events")
    group = models.ForeignKey(LogGroup, on_delete=models.CASCADE, related_name="events")
    timestamp_ms = models.BigIntegerField()
    ingestion_ms = models.BigIntegerField()
    request_id = models.CharField(max_length=64, blank=True)
    message = models.TextField()

    class Meta:
        ordering = ["timestamp_ms", "id"]
        indexes = [
            models.Index(fields=["group", "timestamp_ms"], name="log_group_time"),
            models.Index(fields=["stream", "timestamp_ms"], name="log_stream_time"),
            models.Index(fields=["request_id"], name="log_request"),
        ]

    def __str__(self) -> str:
        return self.message[:80]


class IngestedEntry(models.Model):
    """Stream entries already folded in, committed with what they produced: re-reading one is a no-op.

    Kept for a day (the longest a consumer group could hand an entry out again).
    """

    entry_id = models.CharField(max_length=64)
    stream = models.CharField(max_length=64)
    ingested_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["stream", "entry_id"], name="unique_ingested_entry")]

    def __str__(self) -> str:
        return f"{self.stream} {self.entry_id}"


class MetricPoint(models.Model):
    """One metric over one period for one set of dimensions (CloudWatch's datum)."""

    period = models.PositiveIntegerField(help_text="Seconds: 60, 300 or 3600.")
    timestamp = models.DateTimeField(help_text="The start of the period.")
    metric = models.CharField(max_length=64)
    function_name = models.CharField(max_length=64, blank=True, help_text="Empty for account-wide.")
    resource = models.CharField(max_length=200, blank=True)
    executed_version = models.CharField(max_length=16, blank=True)
    sum = models.FloatField(default=0)
    count = models.FloatField(default=0)
    minimum = models.FloatField(null=True)
    maximum = models.FloatField(null=True)
    sketch = models.BinaryField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["period", "metric", "function_name", "resource", "executed_version", "timestamp"],
                name="unique_metric_point",
            )
        ]
        indexes = [
            models.Index(
                fields=["metric", "function_name", "period", "timestamp"], name="metric_series_time"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.metric} {self.function_name or '*'} {self.timestamp:%H:%M} ({self.period}s)"
