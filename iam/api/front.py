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
from iam import selectors
from iam.api import policies, reports, sts, users
from iam.api.wire import Operation
from iam.callers import SignedCaller
from iam.errors import AccessDenied, IamError, InvalidAction, NoSuchEntity, ValidationError
from iam.models import iam_arn

# The entity a call names, in the order AWS's IAM resource types are looked for.
_ENTITIES = (("UserName", "user"), ("RoleName", "role"), ("GroupName", "group"))


def iam_resource(caller: SignedCaller, action: str, params: dict) -> str:
    """The ARN of the user, group, role or policy an IAM call acts on, else ``*``.

    A named user, group or role is found in the caller's account (one indexed query) so that
    its ARN carries its real path, and a policy scoped to ``user/division/*`` matches a user
    created with ``Path="/division/"``. A name not found (CreateUser, or a call about to fail
    with NoSuchEntity) is placed at the root path, ``/``."""
    # Group membership acts on the group; attaching a policy on the user, group or role it is
    # attached to, as AWS has it.
    if action in ("AddUserToGroup", "RemoveUserFromGroup") and params.get("GroupName"):
        named = ("group", str(params["GroupName"]))
    else:
        named = next(((kind, str(params[member])) for member, kind in _ENTITIES if params.get(member)), None)
    if named is not None:
        kind, name = named
        lookup = {"user": selectors.user_get, "group": selectors.group_get, "role": selectors.role_get}
        try:
            path = lookup[kind](account_id=caller.account_id, name=name).path
        except NoSuchEntity:
            path = "/"
        return iam_arn(caller.account_id, kind, path, name)
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
    family=IamError,
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
    family=IamError,
    operations={name: partial(_on_caller, handler) for name, handler in sts.OPERATIONS.items()},
    resource=lambda call: "*",
    authorizes_itself=True,
    denied=AccessDenied,
    unknown=_unknown("STS"),
    malformed=_malformed,
    internal=_internal,
)
