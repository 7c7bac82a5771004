"""AWS's permission model as data: accounts, IAM users, groups, roles, policies, STS sessions.

A dashboard user *is* an IAM user: ``IamUser`` hangs one-to-one off Django's auth user, and
IAM access keys are ``functions_app.models.AccessKey`` rows of that user. Django usernames are
global while IAM names are per account, so a user of the default account keeps its IAM name as
its username and a user of any other account is ``NAME@ACCOUNT_ID`` to Django (that is what it
signs in to the dashboard with).

Policy documents are kept as the text the caller sent, as AWS returns them; ``iam.policy``
parses them when they are checked or evaluated. AWS managed policies are not rows: they live
in ``iam.managed`` and are attached by ARN, like customer managed ones.
"""

from __future__ import annotations

import secrets
import string

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db import models
from django.db.models import Q
from django.utils import timezone

_ID_ALPHABET = string.ascii_uppercase + "234567"
DEFAULT_MAX_SESSION_SECONDS = 3600


def default_account_id() -> str:
    """The account resources belong to unless created in another (``STRATUS_ACCOUNT_ID``)."""
    return settings.STRATUS_ACCOUNT_ID


def unique_id(prefix: str) -> str:
    """An AWS unique id: a four-letter kind (``AIDA`` user, ``AROA`` role, ``ASIA`` session
    key, ...) and 17 more characters, 21 in all."""
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(17))


def iam_arn(account_id: str, kind: str, path: str, name: str) -> str:
    """``arn:aws:iam::ACCOUNT:KIND/PATH/NAME`` (``path`` begins and ends with ``/``)."""
    return f"arn:aws:iam::{account_id}:{kind}{path}{name}"


def user_principal(user) -> tuple[str, str]:
    """The principal ARN and account of a Django user's access keys. A user without an IAM
    identity (a superuser made by ``createsuperuser``) is in the default account."""
    iam_user = getattr(user, "iam_user", None)
    if iam_user is None:
        account_id = settings.STRATUS_ACCOUNT_ID
        return iam_arn(account_id, "user", "/", user.username), account_id
    return iam_user.arn, iam_user.account_id


def assumed_role_arn(account_id: str, role_name: str, session_name: str) -> str:
    """A role session's ARN, as STS writes it (without the role's path)."""
    return f"arn:aws:sts::{account_id}:assumed-role/{role_name}/{session_name}"


class Account(models.Model):
    """An AWS account: the boundary of every name below and of every policy's reach."""

    id = models.CharField(primary_key=True, max_length=12)
    name = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.id} ({self.name})"

    @property
    def root_arn(self) -> str:
        return f"arn:aws:iam::{self.id}:root"


class IamUser(models.Model):
    """The IAM side of a Django user. Superusers are administrators of every account."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="iam_user")
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="users")
    # IAM allows 64 characters; the room beyond is for usernames older than IAM in Stratus.
    name = models.CharField(max_length=150)
    path = models.CharField(max_length=512, default="/")
    unique_id = models.CharField(max_length=32, unique=True, help_text="AWS's UserId (AIDA…).")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["account_id", "name"]
        constraints = [models.UniqueConstraint(fields=["account", "name"], name="iam_user_name_per_account")]

    def __str__(self) -> str:
        return self.arn

    @property
    def arn(self) -> str:
        return iam_arn(self.account_id, "user", self.path, self.name)


class Group(models.Model):
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="groups")
    name = models.CharField(max_length=128)
    path = models.CharField(max_length=512, default="/")
    unique_id = models.CharField(max_length=32, unique=True, help_text="AWS's GroupId (AGPA…).")
    members = models.ManyToManyField(IamUser, related_name="groups", blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["account_id", "name"]
        constraints = [models.UniqueConstraint(fields=["account", "name"], name="iam_group_name_per_account")]

    def __str__(self) -> str:
        return self.arn

    @property
    def arn(self) -> str:
        return iam_arn(self.account_id, "group", self.path, self.name)


class Role(models.Model):
    """An identity anyone its trust policy names may become, through STS."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="roles")
    name = models.CharField(max_length=64)
    path = models.CharField(max_length=512, default="/")
    unique_id = models.CharField(max_length=32, unique=True, help_text="AWS's RoleId (AROA…).")
    trust_policy = models.TextField(help_text="The AssumeRolePolicyDocument, as sent.")
    description = models.CharField(max_length=1000, blank=True)
    max_session_duration = models.PositiveIntegerField(default=DEFAULT_MAX_SESSION_SECONDS)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["account_id", "name"]
        constraints = [models.UniqueConstraint(fields=["account", "name"], name="iam_role_name_per_account")]

    def __str__(self) -> str:
        return self.arn

    @property
    def arn(self) -> str:
        return iam_arn(self.account_id, "role", self.path, self.name)


class ManagedPolicy(models.Model):
    """A customer managed policy; its documents are its ``versions``, one of them the default."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="policies")
    name = models.CharField(max_length=128)
    path = models.CharField(max_length=512, default="/")
    unique_id = models.CharField(max_length=32, unique=True, help_text="AWS's PolicyId (ANPA…).")
    description = models.CharField(max_length=1000, blank=True)
    # Version ids are never reused, even after a version is deleted (as on AWS).
    last_version_number = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["account_id", "name"]
        constraints = [
            models.UniqueConstraint(fields=["account", "name"], name="iam_policy_name_per_account")
        ]

    def __str__(self) -> str:
        return self.arn

    @property
    def arn(self) -> str:
        return iam_arn(self.account_id, "policy", self.path, self.name)


class PolicyVersion(models.Model):
    policy = models.ForeignKey(ManagedPolicy, on_delete=models.CASCADE, related_name="versions")
    version_id = models.CharField(max_length=16)
    document = models.TextField()
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["policy_id", "-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "version_id"], name="iam_policy_version_unique"),
            models.UniqueConstraint(
                fields=["policy"], condition=Q(is_default=True), name="iam_policy_one_default_version"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.policy} {self.version_id}"


def _one_principal(prefix: str) -> models.CheckConstraint:
    """Exactly one of user, group and role is set."""
    user, group, role = (Q(**{f"{kind}__isnull": False}) for kind in ("user", "group", "role"))
    return models.CheckConstraint(
        condition=(user & ~group & ~role) | (~user & group & ~role) | (~user & ~group & role),
        name=f"{prefix}_one_principal",
    )


class PolicyAttachment(models.Model):
    """A managed policy (AWS's or the account's own, by ARN) attached to one user, group or role."""

    policy_arn = models.CharField(max_length=2048)
    user = models.ForeignKey(
        IamUser, null=True, blank=True, on_delete=models.CASCADE, related_name="attachments"
    )
    group = models.ForeignKey(
        Group, null=True, blank=True, on_delete=models.CASCADE, related_name="attachments"
    )
    role = models.ForeignKey(
        Role, null=True, blank=True, on_delete=models.CASCADE, related_name="attachments"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["policy_arn"], name="iam_attachment_policy_arn")]
        constraints = [
            _one_principal("iam_attachment"),
            models.UniqueConstraint(fields=["user", "policy_arn"], name="iam_attachment_user_unique"),
            models.UniqueConstraint(fields=["group", "policy_arn"], name="iam_attachment_group_unique"),
            models.UniqueConstraint(fields=["role", "policy_arn"], name="iam_attachment_role_unique"),
        ]

    def __str__(self) -> str:
        return self.policy_arn


class InlinePolicy(models.Model):
    """A policy embedded in one user, group or role, named within it."""

    name = models.CharField(max_length=128)
    document = models.TextField()
    user = models.ForeignKey(
        IamUser, null=True, blank=True, on_delete=models.CASCADE, related_name="inline_policies"
    )
    group = models.ForeignKey(
        Group, null=True, blank=True, on_delete=models.CASCADE, related_name="inline_policies"
    )
    role = models.ForeignKey(
        Role, null=True, blank=True, on_delete=models.CASCADE, related_name="inline_policies"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            _one_principal("iam_inline"),
            models.UniqueConstraint(fields=["user", "name"], name="iam_inline_user_unique"),
            models.UniqueConstraint(fields=["group", "name"], name="iam_inline_group_unique"),
            models.UniqueConstraint(fields=["role", "name"], name="iam_inline_role_unique"),
        ]

    def __str__(self) -> str:
        return self.name


class StsSession(models.Model):
    """Temporary credentials for a role. The secret is encrypted like an access key's (SigV4
    needs it in the clear to verify); the session token is only ever compared, so only its
    SHA-256 is kept."""

    access_key_id = models.CharField(max_length=32, unique=True)
    secret_ciphertext = models.TextField()
    token_sha256 = models.CharField(max_length=64)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="sts_sessions")
    role = models.ForeignKey(Role, on_delete=models.CASCADE, related_name="sessions")
    session_name = models.CharField(max_length=64)
    source_identity = models.CharField(
        max_length=2048, blank=True, help_text="Who assumed the role: a principal ARN or a service."
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.access_key_id

    @property
    def user(self) -> AnonymousUser:
        """No Django user: a session acts as its role. (Lets code written for an access key's
        ``key.user`` take a session too.)"""
        return AnonymousUser()

    @property
    def arn(self) -> str:
        return assumed_role_arn(self.account_id, self.role.name, self.session_name)

    @property
    def assumed_role_id(self) -> str:
        """AWS's ``AssumedRoleId`` (and the caller's ``UserId``): ``ROLE_ID:SESSION_NAME``."""
        return f"{self.role.unique_id}:{self.session_name}"


class AuditEvent(models.Model):
    """One change made through an API, or one call refused: who, when, what, from which key or
    session. Reads and invocations are not recorded (as CloudTrail's management events)."""

    at = models.DateTimeField(default=timezone.now, db_index=True)
    account_id = models.CharField(max_length=12, db_index=True)
    principal_arn = models.CharField(max_length=2048, db_index=True)
    access_key_id = models.CharField(max_length=32, blank=True)
    action = models.CharField(
        max_length=128, db_index=True, help_text="As IAM names it: lambda:DeleteFunction."
    )
    resource = models.CharField(max_length=2048, blank=True)
    allowed = models.BooleanField(default=True)
    status = models.PositiveSmallIntegerField(null=True, blank=True, help_text="The HTTP status answered.")
    request_id = models.CharField(max_length=64, blank=True)
    source_ip = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["account_id", "-at"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.principal_arn} {self.action}"
