"""IAM's operations on roles, managed policies and their versions, attachments, and inline
policies."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from datetime import UTC, datetime

from django.db.models import Count, Q

from iam import managed, selectors, services
from iam.api.wire import caller_account, page, quoted, required
from iam.callers import SignedCaller
from iam.errors import NoSuchEntity, ValidationError
from iam.models import Group, IamUser, InlinePolicy, ManagedPolicy, PolicyAttachment, Role

# AWS does not publish when each managed policy was made; one date stands for all of them.
AWS_MANAGED_CREATED = datetime(2015, 2, 6, 18, 39, 46, tzinfo=UTC)
AWS_MANAGED_VERSION = "v1"


def role_shape(role: Role) -> dict:
    return {
        "Path": role.path,
        "RoleName": role.name,
        "RoleId": role.unique_id,
        "Arn": role.arn,
        "CreateDate": role.created_at,
        "AssumeRolePolicyDocument": quoted(role.trust_policy),
        "Description": role.description or None,
        "MaxSessionDuration": role.max_session_duration,
    }


def _attachment_counts(arns: list[str]) -> dict[str, int]:
    rows = PolicyAttachment.objects.filter(policy_arn__in=arns).values("policy_arn").annotate(n=Count("id"))
    return {row["policy_arn"]: row["n"] for row in rows}


def policy_shape(policy: ManagedPolicy, *, attachments: int | None = None) -> dict:
    default = next((v for v in policy.versions.all() if v.is_default), None)
    if attachments is None:
        attachments = PolicyAttachment.objects.filter(policy_arn=policy.arn).count()
    return {
        "PolicyName": policy.name,
        "PolicyId": policy.unique_id,
        "Arn": policy.arn,
        "Path": policy.path,
        "DefaultVersionId": default.version_id if default else None,
        "AttachmentCount": attachments,
        "PermissionsBoundaryUsageCount": 0,
        "IsAttachable": True,
        "Description": policy.description or None,
        "CreateDate": policy.created_at,
        "UpdateDate": policy.updated_at,
    }


def _aws_policy_id(arn: str) -> str:
    """A stable PolicyId for an AWS managed policy (AWS's own are not published)."""
    return "ANPA" + base64.b32encode(hashlib.sha256(arn.encode()).digest()).decode()[:17]


def aws_policy_shape(arn: str, *, attachments: int | None = None) -> dict:
    found = managed.managed_policy(arn)
    if found is None:
        raise NoSuchEntity(f"Policy {arn} does not exist or is not attachable.")
    if attachments is None:
        attachments = PolicyAttachment.objects.filter(policy_arn=arn).count()
    return {
        "PolicyName": found["PolicyName"],
        "PolicyId": _aws_policy_id(arn),
        "Arn": arn,
        "Path": found["Path"],
        "DefaultVersionId": AWS_MANAGED_VERSION,
        "AttachmentCount": attachments,
        "PermissionsBoundaryUsageCount": 0,
        "IsAttachable": True,
        "Description": found["Description"],
        "CreateDate": AWS_MANAGED_CREATED,
        "UpdateDate": AWS_MANAGED_CREATED,
    }


def attached_shape(arn: str) -> dict:
    return {"PolicyName": arn.rsplit("/", 1)[-1], "PolicyArn": arn}


# --- Roles ------------------------------------------------------------------------------------


def _role(caller: SignedCaller, params: dict) -> Role:
    return selectors.role_get(account_id=caller.account_id, name=required(params, "RoleName"))


def create_role(caller: SignedCaller, params: dict) -> dict:
    role = services.role_create(
        account=caller_account(caller),
        name=required(params, "RoleName"),
        trust_policy=required(params, "AssumeRolePolicyDocument"),
        path=params.get("Path"),
        description=params.get("Description") or "",
        max_session_duration=params.get("MaxSessionDuration"),
    )
    return {"Role": role_shape(role)}


def get_role(caller: SignedCaller, params: dict) -> dict:
    return {"Role": role_shape(_role(caller, params))}


def list_roles(caller: SignedCaller, params: dict) -> dict:
    found = Role.objects.filter(account_id=caller.account_id).order_by("name")
    if params.get("PathPrefix"):
        found = found.filter(path__startswith=params["PathPrefix"])
    return page(found, params, "Roles", shape=role_shape)


def delete_role(caller: SignedCaller, params: dict) -> dict:
    services.role_delete(role=_role(caller, params))
    return {}


def update_assume_role_policy(caller: SignedCaller, params: dict) -> dict:
    services.role_trust_update(role=_role(caller, params), trust_policy=required(params, "PolicyDocument"))
    return {}


# --- Managed policies ---------------------------------------------------------------------------


def _policy(caller: SignedCaller, params: dict) -> ManagedPolicy:
    """The caller's account's policy ``PolicyArn`` names (another account's is not visible)."""
    arn = required(params, "PolicyArn")
    account_id, _, _ = selectors.arn_split(arn, kind="policy")
    if account_id != caller.account_id:
        raise NoSuchEntity(f"Policy {arn} does not exist or is not attachable.")
    return selectors.policy_get(arn=arn)


def create_policy(caller: SignedCaller, params: dict) -> dict:
    policy = services.policy_create(
        account=caller_account(caller),
        name=required(params, "PolicyName"),
        document=required(params, "PolicyDocument"),
        path=params.get("Path"),
        description=params.get("Description") or "",
    )
    return {"Policy": policy_shape(policy, attachments=0)}


def get_policy(caller: SignedCaller, params: dict) -> dict:
    arn = required(params, "PolicyArn")
    if arn.startswith("arn:aws:iam::aws:"):
        return {"Policy": aws_policy_shape(arn)}
    return {"Policy": policy_shape(_policy(caller, params))}


def _version_shape(*, document: str, version_id: str, is_default: bool, created: datetime) -> dict:
    return {
        "Document": quoted(document),
        "VersionId": version_id,
        "IsDefaultVersion": is_default,
        "CreateDate": created,
    }


def get_policy_version(caller: SignedCaller, params: dict) -> dict:
    arn, version_id = required(params, "PolicyArn"), required(params, "VersionId")
    if arn.startswith("arn:aws:iam::aws:"):
        document = selectors.aws_managed_document(arn)
        if document is None or version_id != AWS_MANAGED_VERSION:
            raise NoSuchEntity(f"Policy {arn} version {version_id} does not exist or is not attachable.")
        return {
            "PolicyVersion": _version_shape(
                document=document, version_id=version_id, is_default=True, created=AWS_MANAGED_CREATED
            )
        }
    version = selectors.policy_version_get(policy=_policy(caller, params), version_id=version_id)
    return {
        "PolicyVersion": _version_shape(
            document=version.document,
            version_id=version.version_id,
            is_default=version.is_default,
            created=version.created_at,
        )
    }


def create_policy_version(caller: SignedCaller, params: dict) -> dict:
    version = services.policy_version_create(
        policy=_policy(caller, params),
        document=required(params, "PolicyDocument"),
        set_as_default=bool(params.get("SetAsDefault")),
    )
    return {
        "PolicyVersion": {
            "VersionId": version.version_id,
            "IsDefaultVersion": version.is_default,
            "CreateDate": version.created_at,
        }
    }


def list_policy_versions(caller: SignedCaller, params: dict) -> dict:
    def shape(version) -> dict:
        return {
            "VersionId": version.version_id,
            "IsDefaultVersion": version.is_default,
            "CreateDate": version.created_at,
        }

    return page(
        _policy(caller, params).versions.order_by("-created_at", "-id"), params, "Versions", shape=shape
    )


def set_default_policy_version(caller: SignedCaller, params: dict) -> dict:
    version = selectors.policy_version_get(
        policy=_policy(caller, params), version_id=required(params, "VersionId")
    )
    services.policy_version_default_set(version=version)
    return {}


def delete_policy_version(caller: SignedCaller, params: dict) -> dict:
    version = selectors.policy_version_get(
        policy=_policy(caller, params), version_id=required(params, "VersionId")
    )
    services.policy_version_delete(version=version)
    return {}


def delete_policy(caller: SignedCaller, params: dict) -> dict:
    services.policy_delete(policy=_policy(caller, params))
    return {}


def list_policies(caller: SignedCaller, params: dict) -> dict:
    scope = params.get("Scope") or "All"
    if scope not in ("All", "AWS", "Local"):
        raise ValidationError(f"Scope must be All, AWS or Local, not {scope!r}.")
    prefix = params.get("PathPrefix") or "/"
    arns: list[str] = []
    if scope in ("All", "AWS"):
        arns += [arn for arn, found in managed.MANAGED_POLICIES.items() if found["Path"].startswith(prefix)]
    local = ManagedPolicy.objects.filter(account_id=caller.account_id, path__startswith=prefix).order_by(
        "name"
    )
    if scope in ("All", "Local"):
        arns += [policy.arn for policy in local]
    counts = _attachment_counts(arns)
    if params.get("OnlyAttached"):
        arns = [arn for arn in arns if counts.get(arn)]
    by_arn = {policy.arn: policy for policy in local.prefetch_related("versions")} if scope != "AWS" else {}

    def shape(arn: str) -> dict:
        if arn in by_arn:
            return policy_shape(by_arn[arn], attachments=counts.get(arn, 0))
        return aws_policy_shape(arn, attachments=counts.get(arn, 0))

    return page(arns, params, "Policies", shape=shape)


# --- Attachments and inline policies, the same for users, groups and roles ------------------------

_KINDS: dict[str, Callable[[SignedCaller, dict], IamUser | Group | Role]] = {
    "User": lambda caller, params: selectors.user_get(
        account_id=caller.account_id, name=required(params, "UserName")
    ),
    "Group": lambda caller, params: selectors.group_get(
        account_id=caller.account_id, name=required(params, "GroupName")
    ),
    "Role": lambda caller, params: selectors.role_get(
        account_id=caller.account_id, name=required(params, "RoleName")
    ),
}


def _attach(kind: str):
    def attach(caller: SignedCaller, params: dict) -> dict:
        services.policy_attach(
            principal=_KINDS[kind](caller, params), policy_arn=required(params, "PolicyArn")
        )
        return {}

    return attach


def _detach(kind: str):
    def detach(caller: SignedCaller, params: dict) -> dict:
        services.policy_detach(
            principal=_KINDS[kind](caller, params), policy_arn=required(params, "PolicyArn")
        )
        return {}

    return detach


def _list_attached(kind: str):
    def list_attached(caller: SignedCaller, params: dict) -> dict:
        arns = selectors.attached_arns(_KINDS[kind](caller, params))
        prefix = params.get("PathPrefix")
        if prefix:
            arns = [arn for arn in arns if arn.split(":policy", 1)[-1].startswith(prefix)]
        return page(arns, params, "AttachedPolicies", shape=attached_shape)

    return list_attached


def _put_inline(kind: str):
    def put_inline(caller: SignedCaller, params: dict) -> dict:
        services.inline_policy_put(
            principal=_KINDS[kind](caller, params),
            name=required(params, "PolicyName"),
            document=required(params, "PolicyDocument"),
        )
        return {}

    return put_inline


def _get_inline(kind: str):
    def get_inline(caller: SignedCaller, params: dict) -> dict:
        principal = _KINDS[kind](caller, params)
        found = services.inline_policy_get(principal=principal, name=required(params, "PolicyName"))
        return {
            f"{kind}Name": principal.name,
            "PolicyName": found.name,
            "PolicyDocument": quoted(found.document),
        }

    return get_inline


def _delete_inline(kind: str):
    def delete_inline(caller: SignedCaller, params: dict) -> dict:
        services.inline_policy_delete(
            principal=_KINDS[kind](caller, params), name=required(params, "PolicyName")
        )
        return {}

    return delete_inline


def _list_inline(kind: str):
    def list_inline(caller: SignedCaller, params: dict) -> dict:
        principal = _KINDS[kind](caller, params)
        names = InlinePolicy.objects.filter(Q(**{kind.lower(): principal})).order_by("name")
        return page(names.values_list("name", flat=True), params, "PolicyNames")

    return list_inline


def _for_each_kind() -> dict:
    table = {}
    for kind in _KINDS:
        table[f"Attach{kind}Policy"] = _attach(kind)
        table[f"Detach{kind}Policy"] = _detach(kind)
        table[f"ListAttached{kind}Policies"] = _list_attached(kind)
        table[f"Put{kind}Policy"] = _put_inline(kind)
        table[f"Get{kind}Policy"] = _get_inline(kind)
        table[f"Delete{kind}Policy"] = _delete_inline(kind)
        table[f"List{kind}Policies"] = _list_inline(kind)
    return table


OPERATIONS = {
    "CreateRole": create_role,
    "GetRole": get_role,
    "ListRoles": list_roles,
    "DeleteRole": delete_role,
    "UpdateAssumeRolePolicy": update_assume_role_policy,
    "CreatePolicy": create_policy,
    "GetPolicy": get_policy,
    "GetPolicyVersion": get_policy_version,
    "CreatePolicyVersion": create_policy_version,
    "ListPolicyVersions": list_policy_versions,
    "SetDefaultPolicyVersion": set_default_policy_version,
    "DeletePolicyVersion": delete_policy_version,
    "DeletePolicy": delete_policy,
    "ListPolicies": list_policies,
    **_for_each_kind(),
}
