"""Dashboard permissions answered by IAM: a dashboard user is an IAM user.

The dashboard's pages, ``/api/v1/`` and the live websockets ask Django's ``has_perm`` for
``functions_app.view_function`` (seeing functions) and ``functions_app.change_function``
(changing them). This backend answers from the user's IAM policies with AWS's evaluation of
``lambda:GetFunction`` and ``lambda:UpdateFunctionConfiguration``, on what ``obj`` names:

- a ``Function``: that function's ARN, with its resource-based policy (AddPermission) as the
  Lambda API consults it. So a user allowed on ``function:hello`` only sees hello, and an
  explicit Deny on one function hides it from a user allowed everything else.
- ``EVERY_FUNCTION``: the account-wide pages (the overview's charts, the account's live feed,
  queues, streams and topics, creating functions) need the permission on ``function:*`` and
  on each of the account's functions, so a user denied even one function does not see them.
- ``None``: "may this user see (or change) anything in the Functions section at all": allowed
  on ``function:*``, or on at least one of the account's functions. Pages then show and allow
  only the functions a ``Function`` check lets through.

"The account" is the one the request acts in (``iam.tenancy``; the user's own, for an IAM
user). A function's ARN names its own account, so a user reaches another account's function
only where that function's resource-based policy names them, as on the Lambda API.

Django's own model permissions (groups in the admin) still count and hold for every function
(Django's ``ModelBackend`` answers only without ``obj``; this backend extends its grant to each
function), and superusers have every permission (Django answers that before any backend).
``caller_permitted`` asks the same questions about a SigV4-signed caller (``/api/v1/``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.contrib.auth.backends import BaseBackend, ModelBackend

from functions_app.arns import function_arn
from functions_app.models import Function
from functions_app.selectors import functions_of_account
from functions_app.services.policy import function_resource_policy
from iam.authorization import authorization_enabled, caller_policies, identity_policies_cached
from iam.callers import SignedCaller
from iam.models import IamUser
from iam.policy import Decision, Policy, RequestContext, evaluate

DASHBOARD_ACTIONS = {
    "functions_app.view_function": "lambda:GetFunction",
    "functions_app.change_function": "lambda:UpdateFunctionConfiguration",
}


class _EveryFunction:
    def __repr__(self) -> str:
        return "EVERY_FUNCTION"


EVERY_FUNCTION = _EveryFunction()
"""``has_perm``'s ``obj`` for what spans the account: the permission on every function."""


@dataclass(frozen=True)
class _Principal:
    arn: str
    account: str
    policies: Sequence[Policy]


def _allowed(principal: _Principal, action: str, resource: str, policy: Policy | None = None) -> Decision:
    context = RequestContext(
        principal_arn=principal.arn, principal_account=principal.account, action=action, resource=resource
    )
    return evaluate(context, identity_policies=principal.policies, resource_policy=policy)


def _function_allowed(principal: _Principal, action: str, function: Function) -> bool:
    arn = function.arn()
    decision = _allowed(principal, action, arn)
    if decision.allowed or decision.reason == "explicit_deny":
        return decision.allowed
    # AddPermission writes only Allow statements: the function's policy matters only now.
    policy = function_resource_policy(function)
    return policy is not None and _allowed(principal, action, arn, policy).allowed


def _permitted(principal: _Principal, action: str, obj: object) -> bool:
    if isinstance(obj, Function):
        return _function_allowed(principal, action, obj)
    if obj is not None and obj is not EVERY_FUNCTION:
        return False
    on_wildcard = _allowed(principal, action, function_arn("*")).allowed
    if obj is None and on_wildcard:
        return True
    if obj is EVERY_FUNCTION and not on_wildcard:
        return False
    functions = functions_of_account().only("pk", "name", "account_id").prefetch_related("policy_statements")
    allowed = (_function_allowed(principal, action, function) for function in functions)
    return all(allowed) if obj is EVERY_FUNCTION else any(allowed)


def caller_permitted(caller: SignedCaller, perm: str, obj: object = None) -> bool:
    """``has_perm(perm, obj)``'s answer for a SigV4-signed caller: a user's key may what the
    user's dashboard session may; a role session is judged on the role's policies."""
    if not authorization_enabled():
        return True
    if caller.session is None:
        return caller.user.has_perm(perm, obj)
    action = DASHBOARD_ACTIONS.get(perm)
    if action is None:
        return False
    principal = _Principal(caller.principal_arn, caller.account_id, caller_policies(caller))
    return _permitted(principal, action, obj)


class IamPolicyBackend(BaseBackend):
    def has_perm(self, user_obj, perm: str, obj=None) -> bool:
        action = DASHBOARD_ACTIONS.get(perm)
        if action is None or not user_obj.is_active or user_obj.is_anonymous:
            return False
        if obj is not None and ModelBackend().has_perm(user_obj, perm):
            return True  # a permission given in the admin holds for every function
        try:
            iam_user = user_obj.iam_user
        except IamUser.DoesNotExist:
            return False
        principal = _Principal(iam_user.arn, iam_user.account_id, identity_policies_cached(iam_user))
        return _permitted(principal, action, obj)
