"""Reads of IAM's data: lookups that raise AWS's NoSuchEntity, the identity policies that apply
to a principal, and the questions asked of trust policies."""

from __future__ import annotations

import functools
import json
import re

from django.db.models import Q

from functions_app.models import AccessKey
from iam import managed
from iam.callers import SignedCaller
from iam.errors import NoSuchEntity, ValidationError
from iam.models import (
    Account,
    Group,
    IamUser,
    InlinePolicy,
    ManagedPolicy,
    PolicyAttachment,
    PolicyVersion,
    Role,
)
from iam.policy import Decision, Policy, RequestContext, evaluate, policy_parse

_IAM_ARN = re.compile(
    r"^arn:aws:iam::(?P<account>\d{12}|aws):(?P<kind>user|group|role|policy)(?P<path>/(?:.*/)?)(?P<name>[^/]+)$"
)


def arn_split(arn: str, *, kind: str) -> tuple[str, str, str]:
    """``(account, path, name)`` of an IAM ARN of ``kind``, or AWS's complaint about it."""
    match = _IAM_ARN.match(arn or "")
    if match is None or match["kind"] != kind:
        raise ValidationError(f"ARN {arn} is not valid.")
    return match["account"], match["path"], match["name"]


# --- Entities ---------------------------------------------------------------------------------


def account_get(*, account_id: str) -> Account:
    account = Account.objects.filter(id=account_id).first()
    if account is None:
        raise NoSuchEntity(f"The account {account_id} cannot be found.")
    return account


def user_get(*, account_id: str, name: str) -> IamUser:
    found = IamUser.objects.select_related("user").filter(account_id=account_id, name=name).first()
    if found is None:
        raise NoSuchEntity(f"The user with name {name} cannot be found.")
    return found


def group_get(*, account_id: str, name: str) -> Group:
    found = Group.objects.filter(account_id=account_id, name=name).first()
    if found is None:
        raise NoSuchEntity(f"The group with name {name} cannot be found.")
    return found


def role_get(*, account_id: str, name: str) -> Role:
    found = Role.objects.filter(account_id=account_id, name=name).first()
    if found is None:
        raise NoSuchEntity(f"The role with name {name} cannot be found.")
    return found


def role_by_arn(arn: str) -> Role:
    account_id, path, name = arn_split(arn, kind="role")
    role = Role.objects.filter(account_id=account_id, name=name, path=path).first()
    if role is None:
        raise NoSuchEntity(f"The role with name {name} cannot be found.")
    return role


def policy_get(*, arn: str) -> ManagedPolicy:
    """The customer managed policy at ``arn``."""
    account_id, path, name = arn_split(arn, kind="policy")
    found = ManagedPolicy.objects.filter(account_id=account_id, name=name, path=path).first()
    if found is None:
        raise NoSuchEntity(f"Policy {arn} does not exist or is not attachable.")
    return found


def policy_version_get(*, policy: ManagedPolicy, version_id: str) -> PolicyVersion:
    found = policy.versions.filter(version_id=version_id).first()
    if found is None:
        raise NoSuchEntity(f"Policy {policy.arn} version {version_id} does not exist or is not attachable.")
    return found


def policy_default_document(arn: str) -> str | None:
    """The default version's document of the managed policy at ``arn`` (AWS's or a customer's),
    or None if there is no such policy."""
    if arn.startswith("arn:aws:iam::aws:"):
        return aws_managed_document(arn)
    try:
        account_id, path, name = arn_split(arn, kind="policy")
    except ValidationError:
        return None
    version = PolicyVersion.objects.filter(
        policy__account_id=account_id, policy__name=name, policy__path=path, is_default=True
    ).first()
    return None if version is None else version.document


@functools.cache
def aws_managed_document(arn: str) -> str | None:
    """The document of AWS's managed policy at ``arn`` as JSON text, or None."""
    aws_policy = managed.managed_policy(arn)
    return None if aws_policy is None else json.dumps(aws_policy["Document"], indent=4)


def access_key_get(*, iam_user: IamUser, access_key_id: str) -> AccessKey:
    key = AccessKey.objects.filter(user_id=iam_user.user_id, access_key_id=access_key_id).first()
    if key is None:
        raise NoSuchEntity(f"The Access Key with id {access_key_id} cannot be found.")
    return key


# --- Policies that apply ------------------------------------------------------------------------


def _owner(principal: IamUser | Group | Role) -> dict:
    kind = {IamUser: "user", Group: "group", Role: "role"}[type(principal)]
    return {kind: principal}


def attached_arns(principal: IamUser | Group | Role) -> list[str]:
    return list(PolicyAttachment.objects.filter(**_owner(principal)).values_list("policy_arn", flat=True))


def identity_documents(principal: IamUser | Group | Role) -> list[tuple[str, str]]:
    """``(label, document)`` of every identity policy that applies to a user (its own and its
    groups'), a group or a role: inline documents (labelled by name) and the default versions
    of attached managed policies (labelled by ARN)."""
    if isinstance(principal, IamUser):
        owners = Q(user=principal) | Q(group__members=principal)
    else:
        owners = Q(**{"group" if isinstance(principal, Group) else "role": principal})
    documents = list(InlinePolicy.objects.filter(owners).values_list("name", "document").distinct())
    for arn in PolicyAttachment.objects.filter(owners).values_list("policy_arn", flat=True).distinct():
        document = policy_default_document(arn)
        if document is not None:
            documents.append((arn, document))
    return documents


def identity_policies(principal: IamUser | Group | Role | None) -> list[Policy]:
    """The parsed identity policies of a user, group or role (none for no IAM identity)."""
    if principal is None:
        return []
    return [
        policy_parse(document, kind="identity", label=label)
        for label, document in identity_documents(principal)
    ]


def caller_identity(caller: SignedCaller) -> IamUser | Role | None:
    """The IAM identity behind a signed caller: the key's user, or the session's role."""
    if caller.session is not None:
        return caller.session.role
    return getattr(caller.user, "iam_user", None)


def identity_decision(
    *,
    policies: list[Policy],
    principal_arn: str,
    principal_account: str,
    action: str,
    resource: str,
    condition_keys: dict | None = None,
) -> Decision:
    """What identity ``policies`` decide for ``principal_arn`` doing one action on one resource."""
    context = RequestContext(
        principal_arn=principal_arn,
        principal_account=principal_account,
        action=action,
        resource=resource,
        condition_keys=condition_keys or {},
    )
    return evaluate(context, identity_policies=policies)


def role_trust_allows(*, role: Role, caller: SignedCaller) -> bool:
    """Whether the role's trust policy lets ``caller`` call sts:AssumeRole on it."""
    context = RequestContext(
        principal_arn=caller.principal_arn,
        principal_account=caller.account_id,
        action="sts:AssumeRole",
        resource=role.arn,
    )
    trust = policy_parse(role.trust_policy, kind="trust", label=role.arn)
    return evaluate(
        context, identity_policies=identity_policies(caller_identity(caller)), resource_policy=trust
    ).allowed


def role_trusts_service(role: Role, service: str) -> bool:
    """Whether the role's trust policy lets the AWS service ``service`` (``lambda.amazonaws.com``)
    assume it."""
    context = RequestContext(
        principal_arn=service, principal_account="", action="sts:AssumeRole", resource=role.arn
    )
    return evaluate(
        context, resource_policy=policy_parse(role.trust_policy, kind="trust", label=role.arn)
    ).allowed
