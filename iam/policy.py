"""AWS's IAM policy language: parse a policy document once, then evaluate requests against it.

This is the one authorization decision every Stratus surface asks for (the AWS APIs, the
dashboard, function URLs), so it speaks AWS's semantics rather than an approximation, from
the IAM User Guide's "Policy evaluation logic", "Cross-account policy evaluation logic",
"IAM JSON policy elements" (Principal, Action, Resource, Condition) and "Session policies":

- any applicable explicit Deny, in an identity-based, session or resource-based policy, wins;
- within one account, an Allow in an identity-based policy or in the resource-based policy
  is enough, but a resource-based policy that names only the account (``"AWS": "ACCT"`` or
  ``...:root``) delegates to that account's identity-based policies and grants nothing alone;
- across accounts, the caller's identity-based policy and the resource-based policy must
  both allow; a role trust policy must allow even within its own account;
- the account root user is allowed whatever its own account's policies do not deny;
- session policies cap identity-based permissions and resource grants to the role's ARN, but
  not a resource grant naming the session's own ARN.

Parsing validates AWS's grammar and raises ``MalformedPolicyDocument`` with IAM's messages.
Everything a request is matched against is compiled at parse time, so a ``Policy`` is cheap
to evaluate over and over.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from iam.conditions import (
    LEGACY_PARSING_ERROR,
    SYNTAX_ERROR,
    Condition,
    Template,
    Unresolved,
    conditions_parse,
    context_keys_normalize,
    template_parse,
    template_resolve,
    wildcard_compile,
)
from iam.errors import MalformedPolicyDocument
from iam.principals import (
    NAMED,
    NONE,
    SESSION,
    Caller,
    Principals,
    caller_parse,
    derived_keys,
    principals_parse,
    strings_check,
)

__all__ = [
    "Decision",
    "MalformedPolicyDocument",
    "Policy",
    "PolicyKind",
    "RequestContext",
    "Statement",
    "StatementRef",
    "evaluate",
    "policy_parse",
]

PolicyKind = Literal["identity", "resource", "trust"]
Reason = Literal["explicit_deny", "allowed", "implicit_deny"]

VERSIONS = ("2012-10-17", "2008-10-17")
_TOP_ELEMENTS = {"Version", "Id", "Statement"}
_STATEMENT_ELEMENTS = {
    "Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Principal", "NotPrincipal", "Condition",
}  # fmt: skip
_VENDOR = re.compile(r"^[A-Za-z0-9\-.*?]+$")
_NO_KEYS: Mapping[str, tuple[str, ...]] = {}


# --- statements and policies ---------------------------------------------------------------


class _Patterns(NamedTuple):
    """A compiled Action or Resource list: ``any`` for a bare ``*``, then exact strings, then
    one alternation of the wildcard patterns, then (resources only) templates with variables."""

    any: bool
    exact: frozenset[str]
    pattern: re.Pattern[str] | None
    templates: tuple[Template, ...] = ()

    def matches(self, value: str, keys: Mapping[str, tuple[str, ...]]) -> bool:
        if self.any or value in self.exact:
            return True
        if self.pattern is not None and self.pattern.fullmatch(value) is not None:
            return True
        for template in self.templates:
            try:
                pieces = template_resolve(template, keys)
            except Unresolved:
                continue  # a Resource whose variable has no value names nothing
            if wildcard_compile(pieces, colon_bounded=True).fullmatch(value) is not None:
                return True
        return False


def _patterns_compile(values: Iterable[str | Template], *, resource: bool) -> _Patterns:
    exact: set[str] = set()
    wild: list[str] = []
    templates: list[Template] = []
    for value in values:
        if not isinstance(value, str):
            templates.append(value)
        elif value == "*":
            return _Patterns(True, frozenset(), None)
        elif "*" in value or "?" in value:
            wild.append(wildcard_compile(((value, True),), colon_bounded=resource).pattern)
        else:
            exact.add(value)
    pattern = re.compile("|".join(f"(?:{w})" for w in wild), re.DOTALL) if wild else None
    return _Patterns(False, frozenset(exact), pattern, tuple(templates))


@dataclass(frozen=True, slots=True)
class StatementRef:
    """Which statement decided: the policy's label, the statement's Sid and its position."""

    policy: str
    sid: str | None
    index: int


@dataclass(frozen=True, slots=True)
class Statement:
    """One compiled statement of a policy."""

    ref: StatementRef
    effect: Literal["Allow", "Deny"]
    actions: _Patterns  # lower-cased: actions compare case-insensitively
    not_action: bool
    resources: _Patterns | None  # None: no Resource element (the policy's own resource)
    not_resource: bool
    principals: Principals | None
    not_principal: bool
    conditions: tuple[Condition, ...]

    def applies(self, request: RequestContext) -> bool:
        """Whether Action, Resource and Condition match; Principal is checked by the caller."""
        if self.actions.matches(request.action_key, _NO_KEYS) == self.not_action:
            return False
        keys = request.keys
        if self.resources is not None and self.resources.matches(request.resource, keys) == self.not_resource:
            return False
        try:
            return all(condition.holds(keys) for condition in self.conditions)
        except Unresolved:
            return False

    def principal_strength(self, caller: Caller) -> int:
        if self.principals is None:
            return NAMED  # identity-based statements apply to whoever holds the policy
        if self.not_principal:
            return NONE if self.principals.excludes(caller) else NAMED
        return self.principals.strength(caller)


@dataclass(frozen=True, slots=True)
class Policy:
    """A parsed policy document; ``label`` names it in decisions (an ARN or a policy name)."""

    label: str
    kind: PolicyKind
    version: str | None
    id: str | None
    statements: tuple[Statement, ...]
    document: Mapping[str, Any] = field(repr=False, compare=False)
    allows: tuple[Statement, ...] = field(init=False, repr=False, compare=False)
    denies: tuple[Statement, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "allows", tuple(s for s in self.statements if s.effect == "Allow"))
        object.__setattr__(self, "denies", tuple(s for s in self.statements if s.effect == "Deny"))


def policy_parse(
    document: str | Mapping[str, Any], *, kind: PolicyKind = "identity", label: str = "policy"
) -> Policy:
    """Validate a policy document against AWS's grammar and compile it for ``evaluate``.

    ``kind`` is "identity" (attached to a user, group or role: no Principal, Resource
    required), "resource" (attached to a function, queue, topic…: Principal required,
    Resource optional) or "trust" (a role's assume-role policy: Principal required, no
    Resource). Raises ``MalformedPolicyDocument`` with IAM's wording."""
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError:
            raise MalformedPolicyDocument(SYNTAX_ERROR) from None
    if not isinstance(document, Mapping) or not set(document) <= _TOP_ELEMENTS:
        raise MalformedPolicyDocument(SYNTAX_ERROR)
    version = document.get("Version")
    if version is not None and version not in VERSIONS:
        raise MalformedPolicyDocument(SYNTAX_ERROR)
    policy_id = document.get("Id")
    raw = document.get("Statement")
    raw_statements = [raw] if isinstance(raw, dict) else raw
    if (
        not isinstance(raw_statements, list)
        or not raw_statements
        or policy_id is not None
        and not isinstance(policy_id, str)
    ):
        raise MalformedPolicyDocument(SYNTAX_ERROR)
    for statement in raw_statements:
        _statement_check(statement, kind)
    sids = [s["Sid"] for s in raw_statements if s.get("Sid")]
    if len(sids) != len(set(sids)):
        raise MalformedPolicyDocument("Statement IDs (SID) in a single policy must be unique.")
    variables = version == "2012-10-17"  # policy variables exist only in the current grammar
    statements = tuple(
        _statement_compile(statement, index, label=label, variables=variables)
        for index, statement in enumerate(raw_statements)
    )
    return Policy(label, kind, version, policy_id, statements, document)


def _statement_check(statement: Any, kind: PolicyKind) -> None:
    if not isinstance(statement, dict) or not set(statement) <= _STATEMENT_ELEMENTS:
        raise MalformedPolicyDocument(SYNTAX_ERROR)
    for left, right in (("Action", "NotAction"), ("Resource", "NotResource"), ("Principal", "NotPrincipal")):
        if left in statement and right in statement:
            raise MalformedPolicyDocument(SYNTAX_ERROR)
    effect = statement.get("Effect")
    if not isinstance(effect, str) or effect.lower() not in ("allow", "deny"):
        raise MalformedPolicyDocument(SYNTAX_ERROR)
    if effect not in ("Allow", "Deny"):
        raise MalformedPolicyDocument(LEGACY_PARSING_ERROR)
    if "Sid" in statement and not isinstance(statement["Sid"], str):
        raise MalformedPolicyDocument(SYNTAX_ERROR)
    for element in ("Action", "NotAction", "Resource", "NotResource"):
        if element in statement:
            strings_check(statement[element])
    has_principal = "Principal" in statement or "NotPrincipal" in statement
    has_resource = "Resource" in statement or "NotResource" in statement
    if kind == "identity" and has_principal:
        raise MalformedPolicyDocument("Policy document should not specify a principal.")
    if kind == "trust" and has_resource:
        raise MalformedPolicyDocument("Has prohibited field Resource")
    if not statement.get("Action") and not statement.get("NotAction"):
        raise MalformedPolicyDocument("Policy statement must contain actions.")
    if kind == "identity" and not (statement.get("Resource") or statement.get("NotResource")):
        raise MalformedPolicyDocument("Policy statement must contain resources.")
    if kind != "identity" and not has_principal:
        raise MalformedPolicyDocument("Missing required field Principal")


def _action_check(action: str) -> str:
    if action == "*":
        return action
    vendor, colon, _ = action.partition(":")
    if not colon:
        raise MalformedPolicyDocument(
            "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
        )
    if action.count(":") > 1:
        raise MalformedPolicyDocument("Actions/Condition can contain only one colon.")
    if not _VENDOR.match(vendor):
        raise MalformedPolicyDocument(f"Vendor {vendor} is not valid")
    return action.lower()


def _resource_check(resource: str) -> str:
    if resource != "*" and ":" not in resource:
        raise MalformedPolicyDocument(f'Resource {resource} must be in ARN format or "*".')
    return resource


def _statement_compile(statement: dict, index: int, *, label: str, variables: bool) -> Statement:
    not_action = "NotAction" in statement
    actions = [_action_check(a) for a in strings_check(statement["NotAction" if not_action else "Action"])]
    not_resource = "NotResource" in statement
    resources = None
    if "Resource" in statement or not_resource:
        raw = [
            _resource_check(r)
            for r in strings_check(statement["NotResource" if not_resource else "Resource"])
        ]
        resources = _patterns_compile((template_parse(r, variables=variables) for r in raw), resource=True)
    not_principal = "NotPrincipal" in statement
    principals = None
    if "Principal" in statement or not_principal:
        principals = principals_parse(statement["NotPrincipal" if not_principal else "Principal"])
    return Statement(
        ref=StatementRef(label, statement.get("Sid") or None, index),
        effect=statement["Effect"],
        actions=_patterns_compile(actions, resource=False),
        not_action=not_action,
        resources=resources,
        not_resource=not_resource,
        principals=principals,
        not_principal=not_principal,
        conditions=conditions_parse(statement.get("Condition", {}), variables=variables),
    )


# --- evaluation ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RequestContext:
    """Who asks to do what to which resource, and the request's condition keys.

    ``principal_arn`` is ``arn:aws:iam::ACCT:root``, ``arn:aws:iam::ACCT:user/[path/]NAME``,
    ``arn:aws:sts::ACCT:assumed-role/ROLE/SESSION``, a service principal such as
    ``lambda.amazonaws.com``, or ``*`` for an anonymous caller. ``resource_account`` defaults
    to the account in ``resource``'s ARN. ``condition_keys`` (compared case-insensitively)
    add to and override the keys derived from the principal: aws:PrincipalArn,
    aws:PrincipalAccount, aws:PrincipalType, aws:username, aws:ResourceAccount.
    ``principal_account`` is used when the principal's ARN carries no account."""

    principal_arn: str
    principal_account: str
    action: str
    resource: str
    resource_account: str | None = None
    condition_keys: Mapping[str, str | list[str]] = field(default_factory=dict)
    caller: Caller = field(init=False, repr=False, compare=False)
    keys: dict[str, tuple[str, ...]] = field(init=False, repr=False, compare=False)
    action_key: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.resource_account is None:
            parts = self.resource.split(":", 5)
            if len(parts) == 6 and parts[4]:
                object.__setattr__(self, "resource_account", parts[4])
        caller = caller_parse(self.principal_arn, self.principal_account)
        keys = derived_keys(caller, self.resource_account)
        keys.update(context_keys_normalize(self.condition_keys))
        object.__setattr__(self, "caller", caller)
        object.__setattr__(self, "keys", keys)
        object.__setattr__(self, "action_key", self.action.lower())


@dataclass(frozen=True, slots=True)
class Decision:
    """The verdict, why, and the statements that decided it (empty for an implicit deny)."""

    allowed: bool
    reason: Reason
    statements: tuple[StatementRef, ...] = ()
    detail: str = ""

    @property
    def statement(self) -> StatementRef | None:
        return self.statements[0] if self.statements else None


_ROOT = StatementRef("account root user", None, -1)


def _first(policies: Iterable[Policy], effect: str, request: RequestContext) -> StatementRef | None:
    for policy in policies:
        for statement in policy.allows if effect == "Allow" else policy.denies:
            if statement.applies(request):
                return statement.ref
    return None


def evaluate(
    context: RequestContext,
    *,
    identity_policies: Sequence[Policy] = (),
    resource_policy: Policy | None = None,
    session_policies: Sequence[Policy] | None = None,
) -> Decision:
    """Decide a request as AWS does (see the module's docstring for the rules).

    ``identity_policies`` are every policy attached to the caller (directly, through its
    groups, or its role's); ``resource_policy`` is the target's resource-based or trust
    policy; ``session_policies`` are those passed when the session was created — ``None``
    when there were none, which is not the same as an empty list (that allows nothing)."""
    caller = context.caller
    action = f"{context.action} on {context.resource}"
    for policy in (*identity_policies, *(session_policies or ())):
        if (ref := _first((policy,), "Deny", context)) is not None:
            return Decision(False, "explicit_deny", (ref,), f"{policy.label} denies {action}")
    if resource_policy is not None:
        for statement in resource_policy.denies:
            if statement.principal_strength(caller) > NONE and statement.applies(context):
                return Decision(
                    False, "explicit_deny", (statement.ref,), f"{resource_policy.label} denies {action}"
                )

    session_allows = session_policies is None or _first(session_policies, "Allow", context) is not None
    identity_ref = _ROOT if caller.kind == "root" else _first(identity_policies, "Allow", context)
    if not session_allows:
        identity_ref = None
    same_account = context.resource_account in (None, "", caller.account)
    trust = resource_policy is not None and resource_policy.kind == "trust"
    if identity_ref is not None and same_account and not trust:
        return Decision(True, "allowed", (identity_ref,))

    resource_ref, strength = None, NONE
    for statement in resource_policy.allows if resource_policy is not None else ():
        found = statement.principal_strength(caller)
        if found > strength and statement.applies(context):
            resource_ref, strength = statement.ref, found
            if strength == SESSION:
                break
    # A session policy caps a grant to the role's ARN, but not one naming the session itself.
    grants_alone = strength == SESSION or (strength == NAMED and session_allows)

    if caller.kind in ("service", "anonymous"):
        # Neither has identity-based policies: only a resource-based policy can let them in.
        if strength >= NAMED:
            return Decision(True, "allowed", (resource_ref,))
        return Decision(
            False, "implicit_deny", (), f"no resource-based policy allows {caller.arn} to {action}"
        )
    if trust:
        # A role's trust policy must allow, even within its own account; one naming only the
        # account, or another account's principal, also needs an identity-based Allow.
        if strength == NONE:
            return Decision(
                False,
                "implicit_deny",
                (),
                f"the trust policy {resource_policy.label} does not allow {action}",
            )
        if same_account and grants_alone:
            return Decision(True, "allowed", (resource_ref,))
        if identity_ref is None:
            return Decision(False, "implicit_deny", (), f"no identity-based policy allows {action}")
        return Decision(True, "allowed", (identity_ref, resource_ref))
    if same_account:
        if grants_alone:
            return Decision(True, "allowed", (resource_ref,))
        return Decision(False, "implicit_deny", (), f"no policy allows {action}")
    if identity_ref is None:
        return Decision(
            False,
            "implicit_deny",
            (),
            f"cross-account: no identity-based policy in {caller.account} allows {action}",
        )
    if strength == NONE:
        return Decision(
            False,
            "implicit_deny",
            (),
            f"cross-account: no resource-based policy in {context.resource_account} allows {caller.arn} to {action}",
        )
    return Decision(True, "allowed", (identity_ref, resource_ref))
