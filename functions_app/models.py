"""The control plane's data: functions, their versions, aliases and settings, access keys.

A function's configuration lives on ``FunctionVersion`` rows: ``$LATEST`` is the one that
changes, published versions are immutable snapshots of it. Code lives once per content hash
in ``CodeArtifact``, however many versions share it.
"""

from __future__ import annotations

import base64
import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from functions_app.arns import function_arn
from functions_app.fields import EncryptedJSONField
from iam.models import default_account_id

LATEST = "$LATEST"


def new_revision_id() -> str:
    return str(uuid.uuid4())


class CodeArtifact(models.Model):
    """A deployment package (zip), stored once by SHA-256 through Django's storage API."""

    sha256 = models.CharField(primary_key=True, max_length=64)
    size = models.BigIntegerField(help_text="Zipped size in bytes.")
    unzipped_size = models.BigIntegerField()
    storage_name = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.sha256

    @property
    def code_sha256(self) -> str:
        """AWS's CodeSha256: base64 of the raw 32-byte digest."""
        return base64.b64encode(bytes.fromhex(self.sha256)).decode()


class StoredFile(models.Model):
    """A file kept in the database by ``functions_app.storage.DatabaseStorage`` (the default
    home of code artifacts): its bytes are ``StoredChunk`` rows, so any host with the
    database can stream it without holding it whole in memory."""

    name = models.CharField(primary_key=True, max_length=255)
    size = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name


class StoredChunk(models.Model):
    file = models.ForeignKey(StoredFile, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    data = models.BinaryField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["file", "index"], name="stored_chunk_order")]

    def __str__(self) -> str:
        return f"{self.file_id} [{self.index}]"


class Function(models.Model):
    """What all versions of a function share: its name, tags, concurrency and policy."""

    name = models.CharField(max_length=64, unique=True)
    # The account that owns it (iam.Account's id); see iam/tenancy.py.
    account_id = models.CharField(max_length=12, default=default_account_id, db_index=True)
    tags = models.JSONField(default=dict, blank=True)
    reserved_concurrency = models.PositiveIntegerField(null=True, blank=True)
    # Invocation history keeps request and response payloads unless the function's are sensitive.
    capture_payloads = models.BooleanField(default=True)
    policy_revision_id = models.CharField(max_length=36, default=new_revision_id)
    # Version numbers are never reused, even after a version is deleted.
    last_published_number = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def arn(self, qualifier: str | None = None) -> str:
        """The function's ARN (with ``:qualifier`` when given), in its own account."""
        return function_arn(self.name, qualifier, account=self.account_id)


class FunctionVersion(models.Model):
    """One version's configuration and code: ``$LATEST`` (mutable) or 1, 2, … (immutable)."""

    class State(models.TextChoices):
        PENDING = "Pending"
        ACTIVE = "Active"
        INACTIVE = "Inactive"
        FAILED = "Failed"

    class UpdateStatus(models.TextChoices):
        SUCCESSFUL = "Successful"
        IN_PROGRESS = "InProgress"
        FAILED = "Failed"

    function = models.ForeignKey(Function, on_delete=models.CASCADE, related_name="versions")
    version = models.CharField(max_length=16)
    # 0 for $LATEST, else the version number; used for ordering.
    number = models.PositiveIntegerField()
    code = models.ForeignKey(CodeArtifact, on_delete=models.PROTECT, related_name="versions")

    runtime = models.CharField(max_length=32)
    handler = models.CharField(max_length=128, blank=True)
    role = models.CharField(max_length=2048)
    description = models.CharField(max_length=256, blank=True)
    memory_size = models.PositiveIntegerField(default=128)
    timeout = models.PositiveIntegerField(default=3)
    ephemeral_storage = models.PositiveIntegerField(default=512)
    # The function's own secrets live here: encrypted at rest (see fields.py).
    environment = EncryptedJSONField(default=dict, blank=True)
    dead_letter_target_arn = models.CharField(max_length=1024, blank=True)
    tracing_mode = models.CharField(max_length=16, default="PassThrough")
    architectures = models.JSONField(default=list)
    log_format = models.CharField(max_length=8, default="Text")
    log_group = models.CharField(max_length=512, blank=True)

    state = models.CharField(max_length=16, choices=State.choices, default=State.ACTIVE)
    state_reason = models.CharField(max_length=1024, blank=True)
    state_reason_code = models.CharField(max_length=64, blank=True)
    last_update_status = models.CharField(
        max_length=16, choices=UpdateStatus.choices, default=UpdateStatus.SUCCESSFUL
    )
    revision_id = models.CharField(max_length=36, default=new_revision_id)
    last_modified = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["function__name", "number"]
        constraints = [
            models.UniqueConstraint(fields=["function", "version"], name="unique_function_version"),
        ]

    def __str__(self) -> str:
        return f"{self.function.name}:{self.version}"

    @property
    def is_latest(self) -> bool:
        return self.version == LATEST

    @property
    def effective_log_group(self) -> str:
        return self.log_group or f"/aws/lambda/{self.function.name}"

    def configuration_fingerprint(self) -> tuple:
        """What must differ for PublishVersion to publish a new version."""
        return (
            self.code_id,
            self.runtime,
            self.handler,
            self.role,
            self.memory_size,
            self.timeout,
            self.ephemeral_storage,
            tuple(sorted(self.environment.items())),
            self.dead_letter_target_arn,
            self.tracing_mode,
            tuple(self.architectures),
            self.log_format,
            self.log_group,
        )


class Alias(models.Model):
    function = models.ForeignKey(Function, on_delete=models.CASCADE, related_name="aliases")
    name = models.CharField(max_length=128)
    function_version = models.CharField(max_length=16)
    description = models.CharField(max_length=256, blank=True)
    # {"<version>": weight} for the one additional version, as AWS's RoutingConfig.
    additional_version_weights = models.JSONField(default=dict, blank=True)
    revision_id = models.CharField(max_length=36, default=new_revision_id)

    class Meta:
        ordering = ["function__name", "name"]
        constraints = [models.UniqueConstraint(fields=["function", "name"], name="unique_function_alias")]
        verbose_name_plural = "aliases"

    def __str__(self) -> str:
        return f"{self.function.name}:{self.name}"


class ProvisionedConcurrencyConfig(models.Model):
    class Status(models.TextChoices):
        IN_PROGRESS = "IN_PROGRESS"
        READY = "READY"
        FAILED = "FAILED"

    function = models.ForeignKey(Function, on_delete=models.CASCADE, related_name="provisioned_configs")
    qualifier = models.CharField(max_length=128, help_text="A published version or an alias.")
    requested = models.PositiveIntegerField()
    allocated = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.IN_PROGRESS)
    status_reason = models.CharField(max_length=1024, blank=True)
    last_modified = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["function", "qualifier"], name="unique_provisioned_qualifier")
        ]

    def __str__(self) -> str:
        return f"{self.function.name}:{self.qualifier} ×{self.requested}"


class EventInvokeConfig(models.Model):
    """Retries, maximum event age and destinations for asynchronous invocation."""

    function = models.ForeignKey(Function, on_delete=models.CASCADE, related_name="event_invoke_configs")
    qualifier = models.CharField(max_length=128, help_text="$LATEST, a version or an alias.")
    maximum_retry_attempts = models.PositiveSmallIntegerField(null=True, blank=True)
    maximum_event_age_seconds = models.PositiveIntegerField(null=True, blank=True)
    on_success = models.CharField(max_length=1024, blank=True)
    on_failure = models.CharField(max_length=1024, blank=True)
    last_modified = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["function", "qualifier"], name="unique_event_invoke_qualifier")
        ]

    def __str__(self) -> str:
        return f"{self.function.name}:{self.qualifier}"


class PolicyStatement(models.Model):
    """One statement of a function's resource-based policy (AddPermission)."""

    function = models.ForeignKey(Function, on_delete=models.CASCADE, related_name="policy_statements")
    qualifier = models.CharField(max_length=128, blank=True, help_text="Empty for the unqualified function.")
    sid = models.CharField(max_length=100)
    statement = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["function", "qualifier", "sid"], name="unique_policy_sid")
        ]

    def __str__(self) -> str:
        return f"{self.function.name} {self.sid}"


class AccessKey(models.Model):
    """A SigV4 key pair issued to a user. The secret is stored encrypted (see crypto.py)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="access_keys")
    access_key_id = models.CharField(max_length=32, unique=True)
    secret_ciphertext = models.TextField()
    description = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.access_key_id

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class FailedEvent(models.Model):
    """An asynchronous event that ended in failure handling, kept so it can be redriven."""

    class Condition(models.TextChoices):
        RETRIES_EXHAUSTED = "RetriesExhausted"
        EVENT_AGE_EXCEEDED = "EventAgeExceeded"

    function = models.ForeignKey(Function, on_delete=models.CASCADE, related_name="failed_events")
    request_id = models.CharField(max_length=64, unique=True)
    qualifier = models.CharField(max_length=128, blank=True)
    payload = models.BinaryField()
    accepted_at = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=0)
    condition = models.CharField(max_length=32, choices=Condition.choices)
    error_type = models.CharField(max_length=128, blank=True)
    error_message = models.TextField(blank=True)
    failed_at = models.DateTimeField(default=timezone.now)
    redriven_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-failed_at"]

    def __str__(self) -> str:
        return f"{self.function.name} {self.request_id}"


class FailedDelivery(models.Model):
    """A destination, dead-letter or topic delivery that still failed after its retries: a
    function's (destinations, DLQ) or a topic's (its http(s) subscriptions)."""

    class Kind(models.TextChoices):
        DESTINATION = "destination"
        DEAD_LETTER = "dead_letter"
        SUBSCRIPTION = "subscription"

    function = models.ForeignKey(
        Function, on_delete=models.CASCADE, related_name="failed_deliveries", null=True, blank=True
    )
    topic = models.ForeignKey(
        "functions_app.Topic",
        on_delete=models.CASCADE,
        related_name="failed_deliveries",
        null=True,
        blank=True,
    )
    request_id = models.CharField(max_length=64)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    target = models.CharField(max_length=1024)
    body = models.JSONField()
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    failed_at = models.DateTimeField(default=timezone.now)
    redriven_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-failed_at"]

    def __str__(self) -> str:
        return f"{self.kind} {self.target} {self.request_id}"


class TestEvent(models.Model):
    """A saved test event for the dashboard's Test tab."""

    __test__ = False  # not a pytest test class, despite the name

    function = models.ForeignKey(Function, on_delete=models.CASCADE, related_name="test_events")
    name = models.CharField(max_length=100)
    payload = models.TextField(help_text="JSON")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["function", "name"], name="unique_test_event")]

    def __str__(self) -> str:
        return f"{self.function.name}: {self.name}"


# Triggers live in their own module; importing them here registers them with this app.
from functions_app.triggers.models import (  # noqa: E402, F401
    EventSourceMapping,
    FunctionUrlConfig,
    Queue,
    Schedule,
    Stream,
    Subscription,
    Topic,
)
