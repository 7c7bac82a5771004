"""IAM and STS as the front door (``awsapi``) serves them, in the query protocol.

Every IAM call is authorized as ``iam:<Action>`` on the user, group, role or policy it names,
in the caller's own account (AWS managed policies, account ``aws``, are attached there too);
a refusal is ``AccessDenied``, HTTP 403. STS's GetCallerIdentity needs no permission, as on
AWS; AssumeRole is decided by the role's trust policy and the caller's policies, in the
operation itself.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from awsapi.errors import AwsError
from awsapi.front import Call, Service
from awsapi.sigv4 import SignedCaller
from iam.api import policies, reports, sts, users
from iam.api.wire import Operation
from iam.errors import AccessDenied, IamError, InvalidAction, ValidationError
from iam.models import iam_arn

# The entity a call names, in the order AWS's IAM resource types are looked for.
_ENTITIES = (("UserName", "user"), ("RoleName", "role"), ("GroupName", "group"))


def iam_resource(caller: SignedCaller, action: str, params: dict) -> str:
    """The ARN of the user, group, role or policy an IAM call acts on, else ``*``.

    (Entities are named at the root path here; a policy scoped to a path such as
    ``user/division/*`` does not match them yet.)"""
    # Group membership acts on the group; attaching a policy on the user, group or role it is
    # attached to, as AWS has it.
    if action in ("AddUserToGroup", "RemoveUserFromGroup") and params.get("GroupName"):
        return iam_arn(caller.account_id, "group", "/", str(params["GroupName"]))
    for member, kind in _ENTITIES:
        if params.get(member):
            return iam_arn(caller.account_id, kind, "/", str(params[member]))
    if params.get("PolicyArn"):
        return str(params["PolicyArn"])
    if (
        action in {"GetUser", "ListAccessKeys", "CreateAccessKey", "ListGroupsForUser"}
        and caller.session is None
    ):
        return caller.principal_arn  # no UserName: the caller's own user
    return "*"


def _on_caller(handler: Operation, call: Call) -> dict:
    return handler(call.caller, call.params)


def _unknown(service: str) -> Callable[[str], IamError]:
    def unknown(action: str) -> IamError:
        return InvalidAction(f"Stratus's {service} does not serve {action!r}.")

    return unknown


def _malformed(error: AwsError) -> IamError:
    return ValidationError(error.message)


def _internal() -> IamError:
    return IamError("An internal error occurred; the server log has the details.")


IAM = Service(
    model_name="iam",
    signing_name="iam",
    operations={
        name: partial(_on_caller, handler)
        for name, handler in {**users.OPERATIONS, **policies.OPERATIONS, **reports.OPERATIONS}.items()
    },
    resource=lambda call: iam_resource(call.caller, call.operation, call.params),
    resource_account=lambda call: call.caller.account_id,
    denied=AccessDenied,
    unknown=_unknown("IAM"),
    malformed=_malformed,
    internal=_internal,
)
STS = Service(
    model_name="sts",
    signing_name="sts",
    operations={name: partial(_on_caller, handler) for name, handler in sts.OPERATIONS.items()},
    resource=lambda call: None,
    denied=AccessDenied,
    unknown=_unknown("STS"),
    malformed=_malformed,
    internal=_internal,
)
