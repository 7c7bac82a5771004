"""The ARNs of queues, topics and streams: built in an account, read back as (account, name).

A resource's ARN names its own account. Given no account, an ARN is built in the request's
(``iam.tenancy.current_account``), else in the install's (``STRATUS_ACCOUNT_ID``), as
``functions_app.arns.function_arn`` does. Any account's ARN is read back; another region's
names nothing here.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from django.conf import settings

from iam.tenancy import current_account

_QUEUE_ARN = re.compile(r"^arn:aws:sqs:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):(?P<name>[^:/]+)$")
_STREAM_ARN = re.compile(
    r"^arn:aws:kinesis:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):stream/(?P<name>[A-Za-z0-9_.-]+)$"
)
ACCOUNT_ID = re.compile(r"^\d{12}$")


class ResourceRef(NamedTuple):
    """A resource as an ARN or a queue URL names it: its account and its name."""

    account: str
    name: str


def arn_account(account: str | None) -> str:
    """The account an ARN is built in: ``account``, else the request's, else the install's."""
    return account or current_account() or settings.STRATUS_ACCOUNT_ID


def queue_arn(name: str, *, account: str | None = None) -> str:
    return f"arn:aws:sqs:{settings.STRATUS_REGION}:{arn_account(account)}:{name}"


def queue_arn_parse(arn: str) -> ResourceRef | None:
    match = _QUEUE_ARN.fullmatch(arn) if isinstance(arn, str) else None
    if match is None or match["region"] != settings.STRATUS_REGION:
        return None
    return ResourceRef(match["account"], match["name"])


def topic_arn(name: str, *, account: str | None = None) -> str:
    return f"arn:aws:sns:{settings.STRATUS_REGION}:{arn_account(account)}:{name}"


def stream_arn(name: str, *, account: str | None = None) -> str:
    return f"arn:aws:kinesis:{settings.STRATUS_REGION}:{arn_account(account)}:stream/{name}"


def stream_arn_parse(arn: str) -> ResourceRef | None:
    match = _STREAM_ARN.fullmatch(arn) if isinstance(arn, str) else None
    if match is None or match["region"] != settings.STRATUS_REGION:
        return None
    return ResourceRef(match["account"], match["name"])
