"""The two services this package serves, as ``dashboard.aws_dispatch`` routes to them."""

from __future__ import annotations

from functions_app.api.sigv4 import SignedCaller
from iam.api import policies, reports, sts, users
from iam.api.wire import QueryService
from iam.models import iam_arn

IAM_API_VERSION = "2010-05-08"
STS_API_VERSION = "2011-06-15"

# The entity a call names, in the order AWS's IAM resource types are looked for.
_ENTITIES = (("UserName", "user"), ("RoleName", "role"), ("GroupName", "group"))


def _iam_resource(caller: SignedCaller, action: str, params: dict) -> str:
    """The ARN of the user, group, role or policy an IAM call acts on, else ``*``.

    (Entities are named at the root path here; a policy scoped to a path such as
    ``user/division/*`` does not match them yet.)"""
    # Attaching a policy acts on the user, group or role it is attached to, as AWS has it.
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


IAM = QueryService(
    model_name="iam",
    signing_name="iam",
    operations={**users.OPERATIONS, **policies.OPERATIONS, **reports.OPERATIONS},
    resource_of=_iam_resource,
)
STS = QueryService(model_name="sts", signing_name="sts", operations=sts.OPERATIONS)
