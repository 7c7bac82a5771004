"""What IAM's and STS's operations share: required members, IAM's paging, the caller's account.

Every operation is a function ``(caller, params) -> result``, the result a dict shaped like
the operation's output in botocore's model; ``iam.api.front`` puts them in the front door's
tables.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote

from django.conf import settings

from iam import selectors, services
from iam.callers import SignedCaller
from iam.errors import ValidationError
from iam.models import Account

Operation = Callable[[SignedCaller, dict], dict]

DEFAULT_MAX_ITEMS = 100


# --- Helpers the operations share ---------------------------------------------------------------


def required(params: dict, name: str) -> Any:
    value = params.get(name)
    if value is None or value == "":
        raise ValidationError(
            f"1 validation error detected: Value null at '{name[0].lower()}{name[1:]}' failed to satisfy "
            "constraint: Member must not be null"
        )
    return value


def quoted(document: str) -> str:
    """A policy document as IAM answers it: URL-encoded JSON (botocore decodes it back)."""
    return quote(document, safe="")


def caller_account(caller: SignedCaller) -> Account:
    if caller.account_id == settings.STRATUS_ACCOUNT_ID:
        return services.account_default()
    return selectors.account_get(account_id=caller.account_id)


def page(items: Sequence, params: dict, key: str, *, shape: Callable[[Any], Any] = lambda item: item) -> dict:
    """One page of ``items`` under ``key`` with IAM's ``Marker``/``MaxItems``/``IsTruncated``.

    ``items`` may be a queryset: only the page (and one more, to tell if there is more) is read.
    """
    marker = params.get("Marker") or "0"
    if not marker.isdigit():
        raise ValidationError(f"Invalid Marker {marker!r}.")
    start = int(marker)
    size = params.get("MaxItems") or DEFAULT_MAX_ITEMS
    if not 1 <= size <= 1000:
        raise ValidationError("MaxItems must be between 1 and 1000.")
    window = list(items[start : start + size + 1])
    result: dict = {key: [shape(item) for item in window[:size]], "IsTruncated": len(window) > size}
    if result["IsTruncated"]:
        result["Marker"] = str(start + size)
    return result
