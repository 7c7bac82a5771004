"""The audit log: every change made through an AWS API and every refused call, recorded.

Who (principal and key or session), when, what (the IAM action and resource), whether it
was allowed and what was answered. Reads and invocations are not recorded, as CloudTrail
records management events by default and not data events. Kept in the database; search it
in the Django admin (by principal, action, resource, key) or at ``/api/v1/audit-events``.
"""

from __future__ import annotations

import logging

from django.db import DatabaseError

from iam.callers import SignedCaller
from iam.models import AuditEvent

logger = logging.getLogger("stratus.audit")

# Operations that only read, by their name's start: never recorded unless refused.
_READS = ("Get", "List", "Describe", "Simulate", "Test", "Receive", "Filter", "Lookup")
# Data events: as common as requests, never recorded unless refused.
_DATA = {
    "lambda:InvokeFunction",
    "lambda:InvokeAsync",
    "sqs:SendMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sns:Publish",
    "kinesis:PutRecord",
    "kinesis:PutRecords",
    "logs:PutLogEvents",
    "sts:AssumeRole",
}


_DATA_LOWER = {action.lower() for action in _DATA}


def audit_worthy(action: str) -> bool:
    """Whether an allowed call of ``action`` (IAM's names are case-insensitive: SNS writes
    ``SNS:Publish``) is a change worth recording."""
    operation = action.split(":", 1)[-1]
    return action.lower() not in _DATA_LOWER and not operation.startswith(_READS)


def audit_record(
    caller: SignedCaller,
    *,
    action: str,
    resource: str,
    allowed: bool,
    status: int | None = None,
    request=None,
) -> None:
    """Record one call; a failure to record is logged, never raised into the caller's answer."""
    try:
        AuditEvent.objects.create(
            account_id=caller.account_id,
            principal_arn=caller.principal_arn,
            access_key_id=caller.access_key_id,
            action=action,
            resource=resource[:2048],
            allowed=allowed,
            status=status,
            request_id=str(getattr(request, "aws_request_id", "") or "")[:64],
            source_ip=(request.META.get("REMOTE_ADDR", "") if request is not None else "")[:64],
        )
    except DatabaseError:
        logger.exception("could not record %s by %s in the audit log", action, caller.principal_arn)
