"""What the function page's Configuration tab shows of a function's permissions: the role it
runs as (a link when that role is in IAM) and its resource-based policy, read-only."""

from __future__ import annotations

import json

from functions_app.models import Function, FunctionVersion
from functions_app.services.policy import policy_document
from iam import selectors
from iam.errors import IamError


def function_permissions(function: Function, version: FunctionVersion) -> dict:
    """``execution_role_arn``, ``execution_role`` (the Role, or None when IAM has no such role)
    and ``resource_policy`` (the function's policy as GetPolicy answers it, as JSON text, or
    empty when it has no statement)."""
    try:
        role = selectors.role_by_arn(version.role)
    except IamError:
        role = None
    document = policy_document(function, "")
    return {
        "execution_role_arn": version.role,
        "execution_role": role,
        "resource_policy": json.dumps(document, indent=2) if document["Statement"] else "",
    }
