"""Every write to IAM's data: accounts, users and their keys, groups, roles, managed and inline
policies, attachments, and STS sessions. Each function is one change, atomic, and refuses with
the AWS error (``iam.errors``) the IAM and STS APIs answer with; the dashboard and the
management commands call the same functions."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from dashboard.caches import changed
from functions_app.crypto import secret_encrypt
from functions_app.models import AccessKey
from functions_app.services.access_keys import access_key_activate, access_key_create, access_key_revoke
from iam import managed, selectors
from iam.callers import SignedCaller
from iam.errors import (
    AccessDenied,
    DeleteConflict,
    EntityAlreadyExists,
    LimitExceeded,
    NoSuchEntity,
    ValidationError,
)
from iam.models import (
    Account,
    Group,
    IamUser,
    InlinePolicy,
    ManagedPolicy,
    PolicyAttachment,
    PolicyVersion,
    Role,
    StsSession,
    unique_id,
)
from iam.policy import PolicyKind, policy_parse

ADMINISTRATOR_ACCESS = "arn:aws:iam::aws:policy/AdministratorAccess"
MAX_KEYS_PER_USER = 2
MAX_POLICY_VERSIONS = 5
MAX_ATTACHED_POLICIES = 10
# AWS's limits on a policy document's characters, whitespace not counted.
MAX_MANAGED_POLICY_CHARS = 6144
MAX_INLINE_CHARS = {"user": 2048, "group": 5120, "role": 10240}
MIN_SESSION_SECONDS = 900
SERVICE_SESSION_SECONDS = 12 * 3600
MAX_ROLE_SESSION_SECONDS = 43200
# Expired sessions are kept a while so their use is answered ExpiredToken, not "invalid".
EXPIRED_SESSIONS_KEPT = timedelta(days=1)

_NAME = re.compile(r"[\w+=,.@-]+")
_PATH = re.compile(r"/|/[\x21-\x7e]*/")
_SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}")

Principal = IamUser | Group | Role


# --- Checks -----------------------------------------------------------------------------------


def _name_check(value: str, *, member: str, longest: int) -> str:
    if not value or len(value) > longest or not _NAME.fullmatch(value):
        raise ValidationError(
            f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: "
            rf"Member must have length between 1 and {longest} and match the pattern [\w+=,.@-]+"
        )
    return value


def _path_check(value: str | None) -> str:
    path = value or "/"
    if len(path) > 512 or not _PATH.fullmatch(path):
        raise ValidationError(
            f"1 validation error detected: Value '{path}' at 'path' failed to satisfy constraint: "
            "Member must begin and end with / and hold printable ASCII characters"
        )
    return path


def policy_document_check(document: str, *, kind: PolicyKind = "identity", longest: int | None = None) -> str:
    """``document`` if it is a valid policy of ``kind`` (``identity`` or ``trust``), else
    MalformedPolicyDocument with the parser's reason."""
    if longest is not None and len("".join(document.split())) > longest:
        raise LimitExceeded(f"Cannot exceed quota for PolicySize: {longest}")
    policy_parse(document, kind=kind)  # raises MalformedPolicyDocument with IAM's wording
    return document


def _owner(principal: Principal) -> dict:
    kind = {IamUser: "user", Group: "group", Role: "role"}[type(principal)]
    return {kind: principal}


# --- Accounts ---------------------------------------------------------------------------------


def account_default() -> Account:
    """The account every user made without one belongs to (``STRATUS_ACCOUNT_ID``)."""
    account, _ = Account.objects.get_or_create(id=settings.STRATUS_ACCOUNT_ID, defaults={"name": "default"})
    return account


def account_create(*, name: str) -> Account:
    """A new account with a fresh random 12-digit id."""
    if not name or len(name) > 64:
        raise ValidationError("An account name is 1 to 64 characters.")
    while True:
        account_id = f"{secrets.randbelow(10**12):012d}"
        if account_id == settings.STRATUS_ACCOUNT_ID:
            continue
        account, created = Account.objects.get_or_create(id=account_id, defaults={"name": name})
        if created:
            return account


# --- Users and their keys -----------------------------------------------------------------------


def _django_username(account: Account, name: str) -> str:
    """Django's (global) username for IAM user ``name`` of ``account``: see ``iam.models``."""
    return name if account.id == settings.STRATUS_ACCOUNT_ID else f"{name}@{account.id}"


@transaction.atomic
def user_create(*, account: Account, name: str, path: str | None = None) -> IamUser:
    """An IAM user with no permissions (deny by default) and no password."""
    _name_check(name, member="userName", longest=64)
    path = _path_check(path)
    username = _django_username(account, name)
    users = get_user_model().objects
    if (
        IamUser.objects.filter(account=account, name=name).exists()
        or users.filter(username=username).exists()
    ):
        raise EntityAlreadyExists(f"User with name {name} already exists.")
    user = users.create_user(username=username)
    return IamUser.objects.create(
        user=user, account=account, name=name, path=path, unique_id=unique_id("AIDA")
    )


@transaction.atomic
def user_delete(*, iam_user: IamUser) -> None:
    """Delete a user that has nothing left: AWS refuses while keys, policies or groups remain."""
    if AccessKey.objects.filter(user_id=iam_user.user_id).exists():
        raise DeleteConflict("Cannot delete entity, must delete access keys first.")
    if iam_user.attachments.exists() or iam_user.inline_policies.exists():
        raise DeleteConflict("Cannot delete entity, must delete policies first.")
    if iam_user.groups.exists():
        raise DeleteConflict("Cannot delete entity, must remove users from group first.")
    iam_user.user.delete()  # and the IamUser with it


def administrator_key_create(*, username: str, account_id: str | None = None) -> tuple[AccessKey, str]:
    """What ``createaccesskey`` does: a key for ``username`` of the account (the default one
    unless named). A user it creates, or a Django user it first gives an IAM identity, is an
    administrator of the account (AdministratorAccess attached); an existing IAM user keeps
    the permissions it has."""
    with transaction.atomic():
        account = account_default() if account_id is None else selectors.account_get(account_id=account_id)
        iam_user = IamUser.objects.select_related("user").filter(account=account, name=username).first()
        if iam_user is None:
            user, _ = get_user_model().objects.get_or_create(username=_django_username(account, username))
            if hasattr(user, "iam_user"):
                raise EntityAlreadyExists(
                    f"{user.username} is an IAM user of account {user.iam_user.account_id}."
                )
            iam_user = IamUser.objects.create(
                user=user, account=account, name=username, unique_id=unique_id("AIDA")
            )
            PolicyAttachment.objects.create(user=iam_user, policy_arn=ADMINISTRATOR_ACCESS)
        return access_key_create(user=iam_user.user)


def access_key_issue(*, iam_user: IamUser) -> tuple[AccessKey, str]:
    """IAM's CreateAccessKey: at most two keys a user, Active or Inactive."""
    with transaction.atomic():
        if AccessKey.objects.filter(user_id=iam_user.user_id).count() >= MAX_KEYS_PER_USER:
            raise LimitExceeded(f"Cannot exceed quota for AccessKeysPerUser: {MAX_KEYS_PER_USER}")
        return access_key_create(user=iam_user.user)


def access_key_status_set(*, key: AccessKey, status: str) -> None:
    """``Active`` or ``Inactive``; an Inactive key no longer signs, and may be made Active again."""
    if status == "Active":
        access_key_activate(key=key)
    elif status == "Inactive":
        access_key_revoke(key=key)
    else:
        raise ValidationError(f"Status must be Active or Inactive, not {status!r}.")


def access_key_delete(*, key: AccessKey) -> None:
    key.delete()


# --- Groups -----------------------------------------------------------------------------------


def group_create(*, account: Account, name: str, path: str | None = None) -> Group:
    _name_check(name, member="groupName", longest=128)
    path = _path_check(path)
    try:
        with transaction.atomic():
            return Group.objects.create(account=account, name=name, path=path, unique_id=unique_id("AGPA"))
    except IntegrityError:
        raise EntityAlreadyExists(f"Group with name {name} already exists.") from None


@transaction.atomic
def group_delete(*, group: Group) -> None:
    if group.members.exists():
        raise DeleteConflict("Cannot delete entity, must remove users from group first.")
    if group.attachments.exists() or group.inline_policies.exists():
        raise DeleteConflict("Cannot delete entity, must delete policies first.")
    group.delete()


def group_member_add(*, group: Group, iam_user: IamUser) -> None:
    group.members.add(iam_user)


def group_member_remove(*, group: Group, iam_user: IamUser) -> None:
    group.members.remove(iam_user)


# --- Roles ------------------------------------------------------------------------------------


def _max_session_check(seconds: int | None) -> int:
    if seconds is None:
        return 3600
    if not 3600 <= seconds <= MAX_ROLE_SESSION_SECONDS:
        raise ValidationError(
            f"1 validation error detected: Value '{seconds}' at 'maxSessionDuration' failed to satisfy "
            f"constraint: Member must have value between 3600 and {MAX_ROLE_SESSION_SECONDS}"
        )
    return seconds


def role_create(
    *,
    account: Account,
    name: str,
    trust_policy: str,
    path: str | None = None,
    description: str = "",
    max_session_duration: int | None = None,
) -> Role:
    _name_check(name, member="roleName", longest=64)
    path = _path_check(path)
    policy_document_check(trust_policy, kind="trust")
    try:
        with transaction.atomic():
            return Role.objects.create(
                account=account,
                name=name,
                path=path,
                unique_id=unique_id("AROA"),
                trust_policy=trust_policy,
                description=description,
                max_session_duration=_max_session_check(max_session_duration),
            )
    except IntegrityError:
        raise EntityAlreadyExists(f"Role with name {name} already exists.") from None


def role_trust_update(*, role: Role, trust_policy: str) -> None:
    role.trust_policy = policy_document_check(trust_policy, kind="trust")
    role.save(update_fields=["trust_policy"])


@transaction.atomic
def role_delete(*, role: Role) -> None:
    if role.attachments.exists() or role.inline_policies.exists():
        raise DeleteConflict("Cannot delete entity, must detach all policies first.")
    role.delete()  # and its sessions: their credentials stop working


# --- Managed policies ---------------------------------------------------------------------------


@transaction.atomic
def policy_create(
    *, account: Account, name: str, document: str, path: str | None = None, description: str = ""
) -> ManagedPolicy:
    _name_check(name, member="policyName", longest=128)
    path = _path_check(path)
    policy_document_check(document, longest=MAX_MANAGED_POLICY_CHARS)
    if ManagedPolicy.objects.filter(account=account, name=name).exists():
        raise EntityAlreadyExists(f"A policy called {name} already exists. Duplicate names are not allowed.")
    policy = ManagedPolicy.objects.create(
        account=account,
        name=name,
        path=path,
        description=description,
        unique_id=unique_id("ANPA"),
        last_version_number=1,
    )
    PolicyVersion.objects.create(policy=policy, version_id="v1", document=document, is_default=True)
    return policy


@transaction.atomic
def policy_version_create(*, policy: ManagedPolicy, document: str, set_as_default: bool) -> PolicyVersion:
    policy = ManagedPolicy.objects.select_for_update().get(pk=policy.pk)
    policy_document_check(document, longest=MAX_MANAGED_POLICY_CHARS)
    if policy.versions.count() >= MAX_POLICY_VERSIONS:
        raise LimitExceeded(
            f"A managed policy can have up to {MAX_POLICY_VERSIONS} versions. Before you create a new "
            "version, you must delete an existing version."
        )
    policy.last_version_number += 1
    policy.updated_at = timezone.now()
    policy.save(update_fields=["last_version_number", "updated_at"])
    if set_as_default:
        policy.versions.filter(is_default=True).update(is_default=False)
    return PolicyVersion.objects.create(
        policy=policy,
        version_id=f"v{policy.last_version_number}",
        document=document,
        is_default=set_as_default,
    )


@transaction.atomic
def policy_version_default_set(*, version: PolicyVersion) -> None:
    version.policy.versions.filter(is_default=True).exclude(pk=version.pk).update(is_default=False)
    PolicyVersion.objects.filter(pk=version.pk).update(is_default=True)
    ManagedPolicy.objects.filter(pk=version.policy_id).update(updated_at=timezone.now())
    changed()  # update() sends no signal, and the policy in force just changed


def policy_version_delete(*, version: PolicyVersion) -> None:
    if version.is_default:
        raise DeleteConflict("Cannot delete the default version of a policy.")
    version.delete()


@transaction.atomic
def policy_delete(*, policy: ManagedPolicy) -> None:
    if PolicyAttachment.objects.filter(policy_arn=policy.arn).exists():
        raise DeleteConflict("Cannot delete a policy attached to entities.")
    if policy.versions.filter(is_default=False).exists():
        raise DeleteConflict("Cannot delete a policy with non-default versions; delete them first.")
    policy.delete()


# --- Attachments and inline policies ------------------------------------------------------------


def _attachable_check(*, principal: Principal, policy_arn: str) -> None:
    """AWS's managed policies attach anywhere; a customer's only within its own account."""
    if policy_arn.startswith("arn:aws:iam::aws:"):
        if managed.managed_policy(policy_arn) is None:
            raise NoSuchEntity(f"Policy {policy_arn} does not exist or is not attachable.")
        return
    account_id, _, _ = selectors.arn_split(policy_arn, kind="policy")
    if account_id != principal.account_id:
        raise NoSuchEntity(f"Policy {policy_arn} does not exist or is not attachable.")
    selectors.policy_get(arn=policy_arn)


@transaction.atomic
def policy_attach(*, principal: Principal, policy_arn: str) -> None:
    _attachable_check(principal=principal, policy_arn=policy_arn)
    attached = PolicyAttachment.objects.filter(**_owner(principal))
    if attached.filter(policy_arn=policy_arn).exists():
        return  # attaching twice is not an error on AWS
    if attached.count() >= MAX_ATTACHED_POLICIES:
        raise LimitExceeded(f"Cannot exceed quota for PoliciesPerEntity: {MAX_ATTACHED_POLICIES}")
    PolicyAttachment.objects.create(policy_arn=policy_arn, **_owner(principal))


def policy_detach(*, principal: Principal, policy_arn: str) -> None:
    deleted, _ = PolicyAttachment.objects.filter(policy_arn=policy_arn, **_owner(principal)).delete()
    if not deleted:
        raise NoSuchEntity(f"Policy {policy_arn} was not found.")


def inline_policy_put(*, principal: Principal, name: str, document: str) -> None:
    kind = next(iter(_owner(principal)))
    _name_check(name, member="policyName", longest=128)
    policy_document_check(document, longest=MAX_INLINE_CHARS[kind])
    InlinePolicy.objects.update_or_create(name=name, **_owner(principal), defaults={"document": document})


def inline_policy_get(*, principal: Principal, name: str) -> InlinePolicy:
    found = InlinePolicy.objects.filter(name=name, **_owner(principal)).first()
    if found is None:
        kind = next(iter(_owner(principal)))
        raise NoSuchEntity(f"The {kind} policy with name {name} cannot be found.")
    return found


def inline_policy_delete(*, principal: Principal, name: str) -> None:
    inline_policy_get(principal=principal, name=name).delete()


# --- STS sessions -------------------------------------------------------------------------------


def role_session_issue(
    *,
    role: Role,
    session_name: str,
    duration_seconds: int,
    source_identity: str = "",
    beyond_role_maximum: bool = False,
) -> dict:
    """Temporary credentials for ``role``: ``{AccessKeyId, SecretAccessKey, SessionToken,
    Expiration}`` (Expiration an aware datetime). No trust check here: the caller decides who
    may have them (AssumeRole asks the trust policy; a Lambda execution role is checked to
    trust ``lambda.amazonaws.com`` by whoever wires it)."""
    # A service's session for its own use (Lambda's for an execution role, named for the
    # function) takes any name the service gives it: a function may be named with one letter.
    if not _SESSION_NAME.fullmatch(session_name or "") and not (beyond_role_maximum and session_name):
        raise ValidationError(
            f"1 validation error detected: Value '{session_name}' at 'roleSessionName' failed to satisfy "
            r"constraint: Member must have length between 2 and 64 and match the pattern [\w+=,.@-]*"
        )
    # A service's session for its own use (Lambda's for an execution role) is not bounded by
    # the role's MaxSessionDuration, which bounds what callers of AssumeRole may ask for.
    longest = SERVICE_SESSION_SECONDS if beyond_role_maximum else role.max_session_duration
    if not MIN_SESSION_SECONDS <= duration_seconds <= max(longest, MIN_SESSION_SECONDS):
        raise ValidationError(
            f"The requested DurationSeconds exceeds the MaxSessionDuration set for this role "
            f"({MIN_SESSION_SECONDS} to {role.max_session_duration} seconds)."
        )
    secret = secrets.token_urlsafe(30)[:40]
    token = base64.b64encode(secrets.token_bytes(96)).decode()
    now = timezone.now()
    expires_at = now + timedelta(seconds=duration_seconds)
    StsSession.objects.filter(expires_at__lt=now - EXPIRED_SESSIONS_KEPT).delete()
    session = StsSession.objects.create(
        access_key_id=unique_id("ASIA")[:20],
        secret_ciphertext=secret_encrypt(secret),
        token_sha256=hashlib.sha256(token.encode()).hexdigest(),
        account_id=role.account_id,
        role=role,
        session_name=session_name,
        source_identity=source_identity,
        expires_at=expires_at,
    )
    return {
        "AccessKeyId": session.access_key_id,
        "SecretAccessKey": secret,
        "SessionToken": token,
        "Expiration": expires_at,
    }


def role_assume(*, caller: SignedCaller, role: Role, session_name: str, duration_seconds: int | None) -> dict:
    """STS's AssumeRole for a signed caller: allowed when the role's trust policy lets the
    caller in (with the caller's identity policies where the trust policy names only an
    account, or the caller is in another account). A Django superuser, administrator of every
    account, always may."""
    if not caller.user.is_superuser and not selectors.role_trust_allows(role=role, caller=caller):
        raise AccessDenied(
            f"User: {caller.principal_arn} is not authorized to perform: sts:AssumeRole on resource: {role.arn}"
        )
    return role_session_issue(
        role=role,
        session_name=session_name,
        duration_seconds=3600 if duration_seconds is None else duration_seconds,
        source_identity=caller.principal_arn,
    )


def session_expire(*, session: StsSession, at: datetime | None = None) -> None:
    """End a session's credentials now (or at ``at``)."""
    session.expires_at = at or timezone.now()
    session.save(update_fields=["expires_at"])
