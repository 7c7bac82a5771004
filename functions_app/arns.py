"""Function ARNs and the identifiers the Lambda API accepts for a function."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.conf import settings

from functions_app.errors import InvalidParameterValue, ResourceNotFound, ValidationFailed
from iam.tenancy import current_account

_FULL_ARN = re.compile(
    r"^arn:aws[a-zA-Z-]*:lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):function:"
    r"(?P<name>[a-zA-Z0-9-_]+)(?::(?P<qualifier>[a-zA-Z0-9-_$]+))?$"
)
_PARTIAL_ARN = re.compile(
    r"^(?P<account>\d{12}):function:(?P<name>[a-zA-Z0-9-_]+)(?::(?P<qualifier>[a-zA-Z0-9-_$]+))?$"
)
_NAME = re.compile(r"^(?P<name>[a-zA-Z0-9-_]+)(?::(?P<qualifier>[a-zA-Z0-9-_$]+))?$")


@dataclass(frozen=True)
class FunctionRef:
    name: str
    qualifier: str | None
    account: str | None = None  # the account an ARN named; None for a bare name


def function_arn(name: str, qualifier: str | None = None, *, account: str | None = None) -> str:
    """A function's ARN in ``account``: the request's (iam.tenancy), else the install's."""
    account = account or current_account() or settings.STRATUS_ACCOUNT_ID
    arn = f"arn:aws:lambda:{settings.STRATUS_REGION}:{account}:function:{name}"
    return f"{arn}:{qualifier}" if qualifier else arn


def function_ref_parse(identifier: str, *, qualifier: str | None = None) -> FunctionRef:
    """Parse a name, partial ARN or full ARN, each optionally carrying ``:qualifier``.

    A ``Qualifier`` given separately must agree with one inside the identifier.
    """
    if len(identifier) > 256:
        raise ValidationFailed(
            f"1 validation error detected: Value '{identifier[:64]}…' at 'functionName' failed to satisfy "
            "constraint: Member must have length less than or equal to 256"
        )
    match = _FULL_ARN.match(identifier) or _PARTIAL_ARN.match(identifier) or _NAME.match(identifier)
    if not match:
        raise ValidationFailed(
            f"1 validation error detected: Value '{identifier}' at 'functionName' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: "
            "(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?"
            "([a-zA-Z0-9-_\\.]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?"
        )
    groups = match.groupdict()
    account, region = groups.get("account"), groups.get("region")
    # Another region's function is not one of these, whatever its name.
    if region and region != settings.STRATUS_REGION:
        raise ResourceNotFound(f"Function not found: {identifier}")
    name = groups["name"]
    if len(name) > 64:
        raise ValidationFailed(
            f"1 validation error detected: Value '{name}' at 'functionName' failed to satisfy constraint: "
            "Member must have length less than or equal to 64"
        )
    embedded = groups.get("qualifier")
    if embedded and qualifier and embedded != qualifier:
        raise InvalidParameterValue(
            "The derived qualifier from the function name does not match the specified qualifier."
        )
    return FunctionRef(name=name, qualifier=embedded or qualifier or None, account=account)
