"""STS's operations: who am I (GetCallerIdentity), and become a role (AssumeRole)."""

from __future__ import annotations

from iam import selectors, services
from iam.api.wire import required
from iam.callers import SignedCaller
from iam.errors import AccessDenied, NoSuchEntity
from iam.models import assumed_role_arn
from iam.policy import policy_parse


def get_caller_identity(caller: SignedCaller, params: dict) -> dict:
    if caller.session is not None:
        user_id = caller.session.assumed_role_id
    else:
        iam_user = getattr(caller.user, "iam_user", None)
        user_id = iam_user.unique_id if iam_user is not None else caller.account_id
    return {"UserId": user_id, "Account": caller.account_id, "Arn": caller.principal_arn}


def assume_role(caller: SignedCaller, params: dict) -> dict:
    role_arn = required(params, "RoleArn")
    session_name = required(params, "RoleSessionName")
    if params.get("Policy"):
        # Session policies are checked but not yet applied to the session.
        policy_parse(params["Policy"], kind="identity")
    refusal = (
        f"User: {caller.principal_arn} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"
    )
    try:
        role = selectors.role_by_arn(role_arn)
    except NoSuchEntity:
        raise AccessDenied(refusal) from None  # whether a role exists is not the caller's to learn
    credentials = services.role_assume(
        caller=caller, role=role, session_name=session_name, duration_seconds=params.get("DurationSeconds")
    )
    return {
        "Credentials": credentials,
        "AssumedRoleUser": {
            "AssumedRoleId": f"{role.unique_id}:{session_name}",
            "Arn": assumed_role_arn(role.account_id, role.name, session_name),
        },
        "PackedPolicySize": 0 if params.get("Policy") else None,
    }


OPERATIONS = {
    "GetCallerIdentity": get_caller_identity,
    "AssumeRole": assume_role,
}
