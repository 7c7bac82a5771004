"""Which IAM action and resource each Lambda API operation is, and the check itself.

Each Lambda API view declares its action as AWS names it (``@lambda_action("lambda:GetFunction",
FUNCTION)``); ``methods()`` asks ``iam.authorization.authorize`` before calling it. A view
reached by a signed request without a declared action is refused: deny by default.

For a function's own actions, the function's resource-based policy (AddPermission) is
consulted when the caller's identity policies do not allow the call. AddPermission writes
only Allow statements, so a caller whose identity policies allow needs no second look.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from django.conf import settings
from django.http import HttpRequest

from functions_app.arns import function_arn, function_ref_parse
from functions_app.errors import AccessDenied
from functions_app.models import Function
from functions_app.services.policy import function_resource_policy
from iam.audit import audit_record, audit_worthy
from iam.authorization import authorize, operation_denial
from iam.tenancy import current_account

ALL = "all"  # the resource is "*" (listing, account settings, creating)
FUNCTION = "function"  # the function, qualified when the call names a version or alias
FUNCTION_UNQUALIFIED = "function-unqualified"  # the function itself, whatever the qualifier
NEW_FUNCTION = "new-function"  # the function a CreateFunction body names
MAPPING = "mapping"  # an event source mapping
TAGGED = "tagged"  # the ARN in the path (TagResource and friends)


def lambda_action(action: str | Callable[[HttpRequest], str], resource: str) -> Callable:
    """Declare the IAM ``action`` a view performs (or a function of the request that names it,
    for a view that serves two operations) and on which kind of ``resource``."""

    def declare(view: Callable) -> Callable:
        view.iam_action = (action, resource)  # type: ignore[attr-defined]
        return view

    return declare


def _resource_arn(request: HttpRequest, kind: str, kwargs: dict[str, Any]) -> tuple[str, str | None]:
    """(resource ARN, function name when the resource is a function)."""
    if kind == ALL:
        return "*", None
    if kind in (FUNCTION, FUNCTION_UNQUALIFIED):
        ref = function_ref_parse(unquote(kwargs["function_name"]), qualifier=request.GET.get("Qualifier"))
        qualifier = ref.qualifier if kind == FUNCTION else None
        return function_arn(ref.name, qualifier, account=ref.account), ref.name
    if kind == NEW_FUNCTION:
        try:
            name = json.loads(request.body or b"{}").get("FunctionName")
        except (ValueError, AttributeError):
            name = None
        if not isinstance(name, str):
            return "*", None  # the operation itself refuses the body
        ref = function_ref_parse(name)
        return function_arn(ref.name, account=ref.account), None
    if kind == MAPPING:
        region, account = settings.STRATUS_REGION, current_account() or settings.STRATUS_ACCOUNT_ID
        return f"arn:aws:lambda:{region}:{account}:event-source-mapping:{kwargs['mapping_id']}", None
    if kind == TAGGED:
        return unquote(kwargs["resource"]), None
    raise ValueError(f"unknown resource kind {kind!r}")


def request_authorize(request: HttpRequest, view: Callable, kwargs: dict[str, Any]) -> tuple[str, str] | None:
    """Raise AccessDenied unless the signed caller may do what ``view`` does; returns the
    (action, resource) it was allowed, or None for a request that is not signed."""
    caller = getattr(request, "signed_caller", None)
    if caller is None:
        return None  # not a signed API request (the routes below /_stratus/ sign their own links)
    declared = getattr(view, "iam_action", None)
    if declared is None:
        raise AccessDenied(f"User: {caller.principal_arn} is not authorized to perform this operation")
    action, kind = declared
    if callable(action):
        action = action(request)
    resource, function_name = _resource_arn(request, kind, kwargs)
    decision = authorize(caller, action=action, resource=resource)
    if decision is None or decision.allowed:
        return action, resource
    # Not allowed by the caller's own policies: the function's policy may allow it.
    resource_policy = None
    if decision.reason != "explicit_deny" and function_name is not None:
        function = Function.objects.filter(name=function_name, account_id=resource.split(":")[4]).first()
        if function is not None:
            resource_policy = function_resource_policy(function, request.GET.get("Qualifier") or "")
    denial = operation_denial(
        caller, action=action, resource=resource, request=request, resource_policy=resource_policy
    )
    if denial is not None:
        raise AccessDenied(denial)
    return action, resource


def request_audit(request: HttpRequest, allowed: tuple[str, str] | None, status: int) -> None:
    """Record an allowed change (not a read, not an invocation) with what it answered."""
    caller = getattr(request, "signed_caller", None)
    if caller is None or allowed is None or not audit_worthy(allowed[0]):
        return
    action, resource = allowed
    audit_record(caller, action=action, resource=resource, allowed=True, status=status, request=request)
