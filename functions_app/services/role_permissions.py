"""What a function's execution role lets Lambda do on the function's behalf.

Lambda reads an event source and sends to a destination with the function's role, so AWS
refuses an SQS or Kinesis event source mapping whose role may not read the source, and an
asynchronous destination the role may not send to, with ``InvalidParameterValueException``
naming the missing call. The pollers ask again before each batch: a role that loses a
permission stops the mapping's reads (its LastProcessingResult says why) until it is given
back. The decision is AWS's evaluation for the role's session, with the resource's own policy
(a queue's or topic's) where it has one, from the same per-process policy cache as the APIs.
"""

from __future__ import annotations

from functions_app.errors import InvalidParameterValue
from functions_app.models import Function
from functions_app.selectors import qualifier_resolve
from functions_app.triggers.arns import queue_arn_parse
from functions_app.triggers.queues import queue_policy
from functions_app.triggers.topics import topic_policy
from iam.authorization import authorization_enabled, identity_policies_cached
from iam.models import Role, assumed_role_arn
from iam.policy import Policy, RequestContext, evaluate
from iam.selectors import role_by_arn, role_trusts_service

LAMBDA_SERVICE = "lambda.amazonaws.com"

# What Lambda calls to read each kind of event source, in the order AWS checks them.
SOURCE_ACTIONS = {
    "sqs": ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"),
    "stream": (
        "kinesis:GetRecords",
        "kinesis:GetShardIterator",
        "kinesis:DescribeStream",
        "kinesis:ListShards",
    ),
}
_SERVICE_NAMES = {"sqs": "SQS", "kinesis": "Kinesis"}
# What Lambda calls to deliver to each kind of destination, by the ARN's service.
DESTINATION_ACTIONS = {"sqs": "sqs:SendMessage", "sns": "sns:Publish", "lambda": "lambda:InvokeFunction"}


def _role(role_arn: str) -> Role | None:
    try:
        role = role_by_arn(role_arn)
    except Exception:  # no such role, or an ARN that names none
        return None
    return role if role_trusts_service(role, LAMBDA_SERVICE) else None


def _resource_policy(resource: str) -> Policy | None:
    service = resource.split(":")[2] if resource.count(":") >= 5 else ""
    if service == "sqs":
        ref = queue_arn_parse(resource)
        return queue_policy(ref.name, account=ref.account) if ref else None
    if service == "sns":
        return topic_policy(resource)
    return None


def function_role(function: Function, qualifier: str | None) -> str:
    """The execution role of the version ``qualifier`` names ($LATEST when none): the role
    Lambda acts with for that function."""
    return qualifier_resolve(function, qualifier or None).version.role


def role_may(*, role_arn: str, function_name: str, action: str, resource: str) -> bool:
    """Whether the function's role, as the session Lambda makes of it, may do ``action`` on
    ``resource``."""
    if not authorization_enabled():
        return True
    role = _role(role_arn)
    if role is None:
        return False
    context = RequestContext(
        principal_arn=assumed_role_arn(role.account_id, role.name, function_name),
        principal_account=role.account_id,
        action=action,
        resource=resource,
    )
    return evaluate(
        context, identity_policies=identity_policies_cached(role), resource_policy=_resource_policy(resource)
    ).allowed


def source_denial(*, role_arn: str, function_name: str, kind: str, source: str) -> str | None:
    """None when the role may read the event source, else AWS's reason it may not."""
    for action in SOURCE_ACTIONS.get(kind, ()):
        if not role_may(role_arn=role_arn, function_name=function_name, action=action, resource=source):
            service, call = action.split(":")
            return (
                f"The provided execution role does not have permissions to call {call} on "
                f"{_SERVICE_NAMES[service]}"
            )
    return None


def source_check(*, role_arn: str, function_name: str, kind: str, source: str) -> None:
    denial = source_denial(role_arn=role_arn, function_name=function_name, kind=kind, source=source)
    if denial is not None:
        raise InvalidParameterValue(denial)


def destination_check(*, role_arn: str, function_name: str, destination: str) -> None:
    """Refuse a destination the function's role may not deliver to, as AWS does."""
    parts = destination.split(":")
    action = DESTINATION_ACTIONS.get(parts[2]) if len(parts) > 5 and parts[0] == "arn" else None
    if action is None:
        return  # not a destination kind a role decides (the destination check refuses it)
    if not role_may(role_arn=role_arn, function_name=function_name, action=action, resource=destination):
        raise InvalidParameterValue(
            f"The function execution role does not have permissions to call {action.split(':')[1]} on "
            f"{destination}"
        )
