"""IAM's operations that look across an account: GetAccountAuthorizationDetails, and
SimulatePrincipalPolicy (a principal's identity policies, evaluated by ``iam.policy``)."""

from __future__ import annotations

from django.db.models import Q

from iam import selectors
from iam.api.policies import aws_policy_shape, policy_shape, role_shape
from iam.api.users import group_shape, user_shape
from iam.api.wire import quoted, required
from iam.callers import SignedCaller
from iam.errors import InvalidInput, NoSuchEntity
from iam.models import Group, IamUser, ManagedPolicy, PolicyAttachment, Role
from iam.policy import policy_parse

_FILTERS = ("User", "Role", "Group", "LocalManagedPolicy", "AWSManagedPolicy")
_EVAL_DECISIONS = {"allowed": "allowed", "explicit_deny": "explicitDeny", "implicit_deny": "implicitDeny"}


def _inline_list(policies) -> list[dict]:
    return [{"PolicyName": policy.name, "PolicyDocument": quoted(policy.document)} for policy in policies]


def _attached_list(attachments) -> list[dict]:
    return [
        {"PolicyName": attachment.policy_arn.rsplit("/", 1)[-1], "PolicyArn": attachment.policy_arn}
        for attachment in attachments
    ]


def get_account_authorization_details(caller: SignedCaller, params: dict) -> dict:
    """Everything at once; Stratus answers in one page (IsTruncated is always false)."""
    wanted = set(params.get("Filter") or _FILTERS)
    account_id = caller.account_id
    result: dict = {"UserDetailList": [], "GroupDetailList": [], "RoleDetailList": [], "Policies": []}
    if "User" in wanted:
        users = IamUser.objects.filter(account_id=account_id).prefetch_related(
            "inline_policies", "attachments", "groups"
        )
        result["UserDetailList"] = [
            {
                **user_shape(iam_user),
                "UserPolicyList": _inline_list(iam_user.inline_policies.all()),
                "GroupList": [group.name for group in iam_user.groups.all()],
                "AttachedManagedPolicies": _attached_list(iam_user.attachments.all()),
            }
            for iam_user in users
        ]
    if "Group" in wanted:
        groups = Group.objects.filter(account_id=account_id).prefetch_related(
            "inline_policies", "attachments"
        )
        result["GroupDetailList"] = [
            {
                **group_shape(group),
                "GroupPolicyList": _inline_list(group.inline_policies.all()),
                "AttachedManagedPolicies": _attached_list(group.attachments.all()),
            }
            for group in groups
        ]
    if "Role" in wanted:
        roles = Role.objects.filter(account_id=account_id).prefetch_related("inline_policies", "attachments")
        result["RoleDetailList"] = [
            {
                **role_shape(role),
                "InstanceProfileList": [],
                "RolePolicyList": _inline_list(role.inline_policies.all()),
                "AttachedManagedPolicies": _attached_list(role.attachments.all()),
            }
            for role in roles
        ]
    if "LocalManagedPolicy" in wanted:
        for policy in ManagedPolicy.objects.filter(account_id=account_id).prefetch_related("versions"):
            versions = [
                {
                    "Document": quoted(version.document),
                    "VersionId": version.version_id,
                    "IsDefaultVersion": version.is_default,
                    "CreateDate": version.created_at,
                }
                for version in policy.versions.all()
            ]
            result["Policies"].append({**policy_shape(policy), "PolicyVersionList": versions})
    if "AWSManagedPolicy" in wanted:
        # AWS's managed policies that something in the account uses.
        in_use = (
            PolicyAttachment.objects.filter(policy_arn__startswith="arn:aws:iam::aws:")
            .filter(_in_account(account_id))
            .values_list("policy_arn", flat=True)
            .distinct()
        )
        for arn in sorted(in_use):
            shape = aws_policy_shape(arn)
            version = {
                "Document": quoted(selectors.aws_managed_document(arn) or "{}"),
                "VersionId": shape["DefaultVersionId"],
                "IsDefaultVersion": True,
                "CreateDate": shape["CreateDate"],
            }
            result["Policies"].append({**shape, "PolicyVersionList": [version]})
    result["IsTruncated"] = False
    return result


def _in_account(account_id: str) -> Q:
    return Q(user__account_id=account_id) | Q(group__account_id=account_id) | Q(role__account_id=account_id)


# --- SimulatePrincipalPolicy --------------------------------------------------------------------


def _source(caller: SignedCaller, arn: str) -> IamUser | Group | Role:
    """The user, group or role ``PolicySourceArn`` names, in the caller's account."""
    for kind, lookup in (
        ("user", selectors.user_get),
        ("group", selectors.group_get),
        ("role", selectors.role_get),
    ):
        if f":{kind}/" not in arn:
            continue
        account_id, path, name = selectors.arn_split(arn, kind=kind)
        if account_id != caller.account_id:
            break
        found = lookup(account_id=account_id, name=name)
        if found.path == path:
            return found
        break
    raise NoSuchEntity(f"The principal {arn} cannot be found.")


def _source_type(label: str, source: IamUser | Group | Role) -> str:
    """IAM's PolicySourceType for the policy ``label`` names (an ARN, or an inline name)."""
    if label.startswith("arn:aws:iam::aws:"):
        return "aws-managed"
    if label.startswith("arn:"):
        return "user-managed"
    if label.startswith("PolicyInputList."):
        return "none"
    return {IamUser: "user", Group: "group", Role: "role"}[type(source)]


def _context_keys(entries: list[dict]) -> dict:
    keys: dict = {}
    for entry in entries:
        name, values = entry.get("ContextKeyName"), entry.get("ContextKeyValues") or []
        if not name:
            raise InvalidInput("Each ContextEntry needs a ContextKeyName.")
        keys[name] = values if len(values) != 1 else values[0]
    return keys


def simulate_principal_policy(caller: SignedCaller, params: dict) -> dict:
    source = _source(caller, required(params, "PolicySourceArn"))
    policies = selectors.identity_policies(source)
    for index, document in enumerate(params.get("PolicyInputList") or [], 1):
        policies.append(policy_parse(document, kind="identity", label=f"PolicyInputList.{index}"))
    condition_keys = _context_keys(params.get("ContextEntries") or [])
    results = []
    for action in required(params, "ActionNames"):
        for resource in params.get("ResourceArns") or ["*"]:
            decision = selectors.identity_decision(
                policies=policies,
                principal_arn=source.arn,
                principal_account=source.account_id,
                action=action,
                resource=resource,
                condition_keys=condition_keys,
            )
            results.append(
                {
                    "EvalActionName": action,
                    "EvalResourceName": resource,
                    "EvalDecision": _EVAL_DECISIONS[decision.reason],
                    "MatchedStatements": [
                        {"SourcePolicyId": ref.policy, "SourcePolicyType": _source_type(ref.policy, source)}
                        for ref in decision.statements
                    ],
                    "MissingContextValues": [],
                }
            )
    return {"EvaluationResults": results, "IsTruncated": False}


OPERATIONS = {
    "GetAccountAuthorizationDetails": get_account_authorization_details,
    "SimulatePrincipalPolicy": simulate_principal_policy,
}
