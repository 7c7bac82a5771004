"""Who is asking, and whom a policy's Principal or NotPrincipal element names.

The caller is described by its ARN, as AWS writes it in a request context: an account's
root user, an IAM user, an assumed-role session, a service principal or the anonymous ``*``.
A resource-based policy's Principal can name it in several ways, and which way matters to
the evaluator (IAM User Guide, "AWS JSON policy elements: Principal" and "Policy evaluation
for requests within a single account"): an account ID or ``arn:aws:iam::ACCT:root`` names
the whole account and only delegates to that account's identity-based policies, while a
user, role or session ARN, a service or ``*`` grants by itself. A role's ARN also names the
role's sessions, whose ARNs (``arn:aws:sts::ACCT:assumed-role/ROLE/SESSION``) drop the path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

from iam.conditions import SYNTAX_ERROR
from iam.errors import MalformedPolicyDocument

_PRINCIPAL_TYPES = {"AWS", "Service", "Federated", "CanonicalUser"}
_ACCOUNT_ID = re.compile(r"^\d{12}$")

# How a resource-based policy's Principal names the caller, weakest first. Only the account
# (DELEGATED) is not a grant of its own within that account.
NONE, DELEGATED, NAMED, SESSION = 0, 1, 2, 3


class Caller(NamedTuple):
    """The requester, parsed once from its ARN."""

    kind: str  # root | user | role | assumed-role | federated-user | service | anonymous | other
    arn: str
    account: str
    role_name: str | None = None  # of an assumed-role session
    user_name: str | None = None


@lru_cache(maxsize=4096)
def caller_parse(principal_arn: str, principal_account: str) -> Caller:
    """Classify a principal ARN; the account in the ARN wins over ``principal_account``."""
    if principal_arn == "*":
        return Caller("anonymous", "*", "")
    if not principal_arn.startswith("arn:"):
        return Caller("service", principal_arn.lower(), "")
    parts = principal_arn.split(":", 5)
    if len(parts) < 6:
        return Caller("other", principal_arn, principal_account)
    account, resource = parts[4] or principal_account, parts[5]
    if parts[2] == "iam" and resource == "root":
        return Caller("root", principal_arn, account)
    kind, _, path = resource.partition("/")
    if parts[2] == "iam" and kind == "user":
        return Caller("user", principal_arn, account, user_name=path.rsplit("/", 1)[-1])
    if parts[2] == "iam" and kind == "role":
        return Caller("role", principal_arn, account, role_name=path.rsplit("/", 1)[-1])
    if parts[2] == "sts" and kind == "assumed-role":
        return Caller("assumed-role", principal_arn, account, role_name=path.split("/", 1)[0])
    if parts[2] == "sts" and kind == "federated-user":
        return Caller("federated-user", principal_arn, account)
    return Caller("other", principal_arn, account)


_PRINCIPAL_TYPE_KEY = {
    "root": "Account", "user": "User", "role": "AssumedRole", "assumed-role": "AssumedRole",
    "federated-user": "FederatedUser", "anonymous": "Anonymous",
}  # fmt: skip


def derived_keys(caller: Caller, resource_account: str | None) -> dict[str, tuple[str, ...]]:
    """The global condition keys AWS puts in every request context for this caller."""
    keys: dict[str, tuple[str, ...]] = {}
    if caller.kind == "service":
        keys["aws:principalservicename"] = (caller.arn,)
    elif caller.kind != "anonymous":
        keys["aws:principalaccount"] = (caller.account,)
        principal_arn = caller.arn
        if caller.kind == "assumed-role":  # aws:PrincipalArn of a session is its role's ARN
            principal_arn = f"arn:aws:iam::{caller.account}:role/{caller.role_name}"
        keys["aws:principalarn"] = (principal_arn,)
    if caller.kind in _PRINCIPAL_TYPE_KEY:
        keys["aws:principaltype"] = (_PRINCIPAL_TYPE_KEY[caller.kind],)
    if caller.user_name is not None:
        keys["aws:username"] = (caller.user_name,)
    if resource_account:
        keys["aws:resourceaccount"] = (resource_account,)
    return keys


@dataclass(frozen=True, slots=True)
class Principals:
    """A compiled Principal or NotPrincipal element."""

    everyone: bool = False
    accounts: frozenset[str] = frozenset()
    arns: frozenset[str] = frozenset()
    roles: frozenset[tuple[str, str]] = frozenset()  # (account, role name): matches its sessions
    services: frozenset[str] = frozenset()
    others: frozenset[str] = frozenset()  # Federated and CanonicalUser, matched exactly

    def strength(self, caller: Caller) -> int:
        """How this Principal element names the caller (NONE … SESSION)."""
        if caller.arn in self.arns:
            return SESSION if caller.kind == "assumed-role" else NAMED
        if self.everyone:
            return NAMED
        if caller.kind == "assumed-role" and (caller.account, caller.role_name) in self.roles:
            return NAMED
        if caller.arn in self.services or caller.arn in self.others:
            return NAMED
        if caller.account and caller.account in self.accounts:
            return DELEGATED
        return NONE

    def excludes(self, caller: Caller) -> bool:
        """NotPrincipal: AWS exempts a principal only when both it and its account are listed."""
        if self.everyone:
            return True
        listed = self.strength(caller) >= NAMED
        if caller.kind == "root":
            return caller.account in self.accounts
        if caller.kind in ("service", "anonymous"):
            return listed
        return listed and caller.account in self.accounts


def strings_check(value: Any) -> list[str]:
    """A policy element that is a string or a list of strings, as a list."""
    values = value if isinstance(value, list) else [value]
    if not all(isinstance(item, str) for item in values):
        raise MalformedPolicyDocument(SYNTAX_ERROR)
    return values


def principals_parse(element: Any) -> Principals:
    """Compile ``"*"`` or ``{"AWS" | "Service" | "Federated" | "CanonicalUser": str | [str]}``."""
    if element == "*":
        return Principals(everyone=True)
    if not isinstance(element, dict) or not element or not set(element) <= _PRINCIPAL_TYPES:
        raise MalformedPolicyDocument(SYNTAX_ERROR)
    found: dict[str, set] = {name: set() for name in ("accounts", "arns", "roles", "services", "others")}
    everyone = False
    for principal_type, value in element.items():
        for item in strings_check(value):
            if item == "*":
                everyone = True
            elif principal_type == "Service":
                found["services"].add(item.lower())
            elif principal_type != "AWS":
                found["others"].add(item)
            elif _ACCOUNT_ID.match(item):
                found["accounts"].add(item)
            else:
                _aws_principal_add(item, found)
    return Principals(everyone, **{name: frozenset(values) for name, values in found.items()})


def _aws_principal_add(item: str, found: dict[str, set]) -> None:
    parts = item.split(":", 5)
    invalid = MalformedPolicyDocument(f'Invalid principal in policy: "AWS":"{item}"')
    if len(parts) != 6 or parts[0] != "arn" or parts[3] or not _ACCOUNT_ID.match(parts[4]) or "*" in item:
        raise invalid
    service, account, resource = parts[2], parts[4], parts[5]
    kind, _, path = resource.partition("/")
    if service == "iam" and resource == "root":
        found["accounts"].add(account)
    elif service == "iam" and kind == "user" and path:
        found["arns"].add(item)
    elif service == "iam" and kind == "role" and path:
        found["arns"].add(item)
        # A session's ARN drops the role's path, so a role matches its sessions by name.
        found["roles"].add((account, path.rsplit("/", 1)[-1]))
    elif service == "sts" and kind in ("assumed-role", "federated-user") and path:
        found["arns"].add(item)
    else:
        raise invalid
