"""A function's resource-based policy: AddPermission, RemovePermission, GetPolicy."""

from __future__ import annotations

import json
import re
from typing import Any

from django.db import IntegrityError, transaction

from functions_app import validation
from functions_app.errors import (
    InvalidParameterValue,
    PolicyLengthExceeded,
    PreconditionFailed,
    ResourceConflict,
    ResourceNotFound,
)
from functions_app.models import Function, PolicyStatement, new_revision_id
from functions_app.selectors import qualifier_exists_check
from iam.policy import Policy, policy_parse

POLICY_MAX_BYTES = 20 * 1024
_ACTION = re.compile(r"^(lambda:[*]|lambda:[a-zA-Z]+|[*])$")
_PRINCIPAL = re.compile(r"^[^\s]+$")


def _principal(principal: str) -> Any:
    if principal == "*":
        return "*"
    if re.fullmatch(r"\d{12}", principal):
        return {"AWS": f"arn:aws:iam::{principal}:root"}
    if principal.startswith("arn:"):
        return {"AWS": principal}
    return {"Service": principal}


def _conditions(fields: dict[str, Any]) -> dict[str, dict[str, str]]:
    conditions: dict[str, dict[str, str]] = {}
    if fields.get("SourceArn"):
        conditions.setdefault("ArnLike", {})["AWS:SourceArn"] = fields["SourceArn"]
    if fields.get("SourceAccount"):
        conditions.setdefault("StringEquals", {})["AWS:SourceAccount"] = fields["SourceAccount"]
    if fields.get("PrincipalOrgID"):
        conditions.setdefault("StringEquals", {})["aws:PrincipalOrgID"] = fields["PrincipalOrgID"]
    if fields.get("EventSourceToken"):
        conditions.setdefault("StringEquals", {})["lambda:EventSourceToken"] = fields["EventSourceToken"]
    if fields.get("InvokedViaFunctionUrl"):
        # AWS's second statement for function URLs: InvokeFunction, but only through a URL.
        conditions.setdefault("Bool", {})["lambda:InvokedViaFunctionUrl"] = "true"
    if fields.get("FunctionUrlAuthType"):
        if fields["FunctionUrlAuthType"] not in ("NONE", "AWS_IAM"):
            raise InvalidParameterValue("FunctionUrlAuthType must be NONE or AWS_IAM.")
        conditions.setdefault("StringEquals", {})["lambda:FunctionUrlAuthType"] = fields[
            "FunctionUrlAuthType"
        ]
    return conditions


def _revision_check(function: Function, revision_id: str | None) -> None:
    if revision_id and revision_id != function.policy_revision_id:
        raise PreconditionFailed(
            "The Revision Id provided does not match the latest Revision Id. Call the GetPolicy API to retrieve "
            "the latest Revision Id"
        )


def policy_document(function: Function, qualifier: str) -> dict:
    """The function's (or one qualifier's) resource-based policy, as GetPolicy shows it."""
    statements = [row.statement for row in function.policy_statements.filter(qualifier=qualifier)]
    return {"Version": "2012-10-17", "Id": "default", "Statement": statements}


def function_resource_policy(function: Function, qualifier: str = "") -> Policy | None:
    """The function's (or one qualifier's) resource-based policy, parsed for the evaluator;
    None when it has no statement. Reads ``function.policy_statements.all()``, so a
    ``prefetch_related("policy_statements")`` serves a whole list of functions in one query."""
    statements = [row.statement for row in function.policy_statements.all() if row.qualifier == qualifier]
    if not statements:
        return None
    document = {"Version": "2012-10-17", "Id": "default", "Statement": statements}
    return policy_parse(document, kind="resource", label=function.arn())


def permission_add(*, function: Function, qualifier: str | None, fields: dict[str, Any]) -> dict:
    sid = validation.statement_id_check(fields.get("StatementId"))
    action = fields.get("Action")
    if not isinstance(action, str) or not _ACTION.match(action):
        raise InvalidParameterValue(
            f"Action {action!r} is not valid; use lambda:InvokeFunction, lambda:<Operation> or lambda:*."
        )
    principal = fields.get("Principal")
    if not isinstance(principal, str) or not _PRINCIPAL.match(principal):
        raise InvalidParameterValue(
            "Principal is required: a service (s3.amazonaws.com), an account id, an ARN or *."
        )
    qualifier = qualifier or ""
    if qualifier:
        qualifier_exists_check(function, qualifier)
    statement: dict[str, Any] = {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": _principal(principal),
        "Action": action,
        "Resource": function.arn(qualifier or None),
    }
    conditions = _conditions(fields)
    if conditions:
        statement["Condition"] = conditions
    try:
        with transaction.atomic():
            locked = Function.objects.select_for_update().get(pk=function.pk)
            _revision_check(locked, fields.get("RevisionId"))
            PolicyStatement.objects.create(function=locked, qualifier=qualifier, sid=sid, statement=statement)
            if len(json.dumps(policy_document(locked, qualifier)).encode()) > POLICY_MAX_BYTES:
                raise PolicyLengthExceeded("The final policy size is bigger than the limit (20480 bytes).")
            locked.policy_revision_id = new_revision_id()
            locked.save(update_fields=["policy_revision_id"])
    except IntegrityError:
        raise ResourceConflict(
            f"The statement id ({sid}) provided already exists. Please provide a new statement id, or remove the "
            "existing statement."
        ) from None
    return statement


def permission_remove(
    *, function: Function, qualifier: str | None, sid: str, revision_id: str | None
) -> None:
    with transaction.atomic():
        locked = Function.objects.select_for_update().get(pk=function.pk)
        _revision_check(locked, revision_id)
        deleted, _ = locked.policy_statements.filter(qualifier=qualifier or "", sid=sid).delete()
        if not deleted:
            raise ResourceNotFound(f"Statement {sid} is not found in resource policy.")
        locked.policy_revision_id = new_revision_id()
        locked.save(update_fields=["policy_revision_id"])


def policy_get(*, function: Function, qualifier: str | None) -> tuple[dict, str]:
    if qualifier:
        qualifier_exists_check(function, qualifier)
    document = policy_document(function, qualifier or "")
    if not document["Statement"]:
        raise ResourceNotFound("The resource you requested does not exist.")
    return document, function.policy_revision_id


def function_url_public_statements_add(*, function: Function, qualifier: str | None) -> None:
    """The two statements AWS's console adds for a public (AuthType NONE) function URL:
    anyone may call lambda:InvokeFunctionUrl on a NONE URL, and lambda:InvokeFunction through
    a function URL. Statements already there are kept."""
    for sid, fields in (
        (
            "FunctionURLAllowPublicAccess",
            {"Action": "lambda:InvokeFunctionUrl", "Principal": "*", "FunctionUrlAuthType": "NONE"},
        ),
        (
            "FunctionURLAllowInvokeAction",
            {"Action": "lambda:InvokeFunction", "Principal": "*", "InvokedViaFunctionUrl": True},
        ),
    ):
        if not function.policy_statements.filter(qualifier=qualifier or "", sid=sid).exists():
            permission_add(function=function, qualifier=qualifier, fields={"StatementId": sid, **fields})
