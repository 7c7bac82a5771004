"""The Condition element of AWS's policy language, and the wildcard and variable matching it
shares with Action and Resource.

Everything here is compiled once, when a policy is parsed: operator names are resolved to
a matcher, literal values are turned into sets, numbers, dates, networks or regular
expressions, and wildcard patterns are compiled through a cache. Evaluating a condition
is then a dictionary lookup and a few comparisons, because it runs on every API request.

Semantics follow the IAM User Guide's "Condition operators", "Conditions with multiple
context keys or values" and "Single-valued vs. multivalued context keys" pages:

- several operators in a block, and several keys under one operator, AND together;
- several values for one key OR together, and NOR together under a negated operator;
- a key missing from the request makes a condition false, except that a negated operator
  (``StringNotEquals``, ``ArnNotLike``, ``NotIpAddress``…) is then true, ``...IfExists`` is
  then true, ``ForAllValues:`` is then true and ``ForAnyValue:`` is then false;
- ``Null`` tests presence itself.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, NamedTuple

from iam.errors import MalformedPolicyDocument

SYNTAX_ERROR = "Syntax errors in policy."
LEGACY_PARSING_ERROR = "The policy failed legacy parsing"

# A compiled text is a sequence of (text, wildcards_active) pieces: policy text keeps its
# wildcards, while a substituted variable value, or ${*} written to mean a literal
# asterisk, must match only itself.
Pieces = tuple[tuple[str, bool], ...]


class Variable(NamedTuple):
    """``${key}`` or ``${key, 'default'}`` inside a policy string."""

    key: str  # lower-cased, since context keys compare case-insensitively
    default: str | None


class Unresolved(Exception):
    """A policy variable with no value in the request: AWS then treats the statement as not
    applying, so the evaluator skips it (whether it allows or denies)."""


_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_VARIABLE_BODY = re.compile(r"^\s*([A-Za-z0-9_.:/\-]+)\s*(?:,\s*'((?:[^']|'')*)'\s*)?$")
_SPECIAL_VARIABLES = {"*": "*", "?": "?", "$": "$"}

Template = tuple[str | Variable | tuple[str], ...]


def template_parse(text: str, *, variables: bool) -> Template | str:
    """Split ``text`` into literal text and ``${...}`` variables; plain text comes back as is.

    Variables only exist in policies of version 2012-10-17: in older ones ``${aws:username}``
    is eleven literal characters, as AWS documents."""
    if not variables or "${" not in text:
        return text
    parts: list[str | Variable | tuple[str]] = []
    position = 0
    for match in _VARIABLE.finditer(text):
        if match.start() > position:
            parts.append(text[position : match.start()])
        body = match.group(1).strip()
        if body in _SPECIAL_VARIABLES:
            parts.append((_SPECIAL_VARIABLES[body],))  # a 1-tuple marks literal text
        elif (parsed := _VARIABLE_BODY.match(match.group(1))) is not None:
            default = parsed.group(2)
            parts.append(
                Variable(parsed.group(1).lower(), None if default is None else default.replace("''", "'"))
            )
        else:
            parts.append(match.group(0))
        position = match.end()
    if position < len(text):
        parts.append(text[position:])
    return tuple(parts)


def template_resolve(template: Template | str, keys: Mapping[str, tuple[str, ...]]) -> Pieces:
    """Substitute the request's values; raise ``Unresolved`` for a variable with no value.

    A multivalued key cannot be a policy variable, so it counts as having no value."""
    if isinstance(template, str):
        return ((template, True),)
    pieces: list[tuple[str, bool]] = []
    for part in template:
        if isinstance(part, str):
            pieces.append((part, True))
        elif isinstance(part, Variable):
            values = keys.get(part.key)
            if values is not None and len(values) == 1:
                pieces.append((values[0], False))
            elif part.default is not None:
                pieces.append((part.default, False))
            else:
                raise Unresolved(part.key)
        else:
            pieces.append((part[0], False))
    return tuple(pieces)


def pieces_text(pieces: Pieces) -> str:
    return "".join(text for text, _ in pieces)


@lru_cache(maxsize=8192)
def wildcard_compile(
    pieces: Pieces, *, colon_bounded: bool = False, ignore_case: bool = False
) -> re.Pattern[str]:
    """Compile a pattern with ``*`` (any run of characters) and ``?`` (one character).

    ``colon_bounded`` gives the Resource element's rule: a wildcard stays within one
    colon-separated ARN segment, except that a ``*`` ending a segment "can expand to match
    beyond the colon boundaries" (IAM User Guide, "IAM JSON policy elements: Resource")."""
    chars = [(char, active) for text, active in pieces for char in text]
    source: list[str] = []
    for index, (char, active) in enumerate(chars):
        if active and char == "*":
            following = chars[index + 1][0] if index + 1 < len(chars) else ":"
            source.append("[^:]*" if colon_bounded and following != ":" else ".*")
        elif active and char == "?":
            source.append("[^:]" if colon_bounded else ".")
        else:
            source.append(re.escape(char))
    return re.compile("".join(source), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


# --- typed values -------------------------------------------------------------------------


def _number(text: str) -> float:
    return float(text)


def date_parse(text: str) -> float:
    """An ISO 8601 date or date-time (UTC when no zone is given) or epoch seconds."""
    text = text.strip()
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return float(text)
    moment = datetime.fromisoformat(text.replace("z", "Z"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(text.strip(), strict=False)


def _arn_split(text: str) -> tuple[str, ...] | None:
    parts = text.split(":", 5)
    return tuple(parts) if len(parts) == 6 and parts[0] == "arn" else None


def _arn_pattern(pieces: Pieces) -> tuple[re.Pattern[str], ...] | None:
    """ArnLike checks each of an ARN's six colon-separated components separately; the sixth
    (the resource) keeps any further colons."""
    fields: list[list[tuple[str, bool]]] = [[]]
    for text, active in pieces:
        for char in text:
            if char == ":" and len(fields) < 6:
                fields.append([])
            else:
                fields[-1].append((char, active))
    if len(fields) != 6:
        return None
    return tuple(wildcard_compile(tuple(field)) for field in fields)


class _Family(NamedTuple):
    compile: Any  # (pieces tuple) -> compiled values
    match: Any  # (request value, compiled values) -> bool


def _compile_strings(values: tuple[Pieces, ...]) -> frozenset[str]:
    return frozenset(pieces_text(value) for value in values)


def _compile_folded(values: tuple[Pieces, ...]) -> frozenset[str]:
    return frozenset(pieces_text(value).casefold() for value in values)


def _compile_like(values: tuple[Pieces, ...]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{wildcard_compile(value).pattern})" for value in values), re.DOTALL)


def _compile_numbers(values: tuple[Pieces, ...]) -> tuple[float, ...]:
    return tuple(_number(pieces_text(value)) for value in values)


def _compile_dates(values: tuple[Pieces, ...]) -> tuple[float, ...]:
    return tuple(date_parse(pieces_text(value)) for value in values)


def _compile_bools(values: tuple[Pieces, ...]) -> frozenset[str]:
    return frozenset(pieces_text(value).lower() for value in values)


def _compile_networks(values: tuple[Pieces, ...]) -> tuple:
    return tuple(_network(pieces_text(value)) for value in values)


def _compile_arns(values: tuple[Pieces, ...]) -> tuple:
    return tuple(pattern for value in values if (pattern := _arn_pattern(value)) is not None)


def _numeric(compare):
    def match(request: str, numbers: tuple[float, ...]) -> bool:
        try:
            value = float(request)
        except ValueError:
            return False
        return any(compare(value, number) for number in numbers)

    return match


def _dated(compare):
    def match(request: str, dates: tuple[float, ...]) -> bool:
        try:
            value = date_parse(request)
        except ValueError:
            return False
        return any(compare(value, date) for date in dates)

    return match


def _ip_match(request: str, networks: tuple) -> bool:
    try:
        address = ipaddress.ip_address(request.strip())
    except ValueError:
        return False
    return any(address.version == network.version and address in network for network in networks)


def _arn_match(request: str, patterns: tuple) -> bool:
    fields = _arn_split(request)
    if fields is None:
        return False
    return any(all(p.fullmatch(f) for p, f in zip(pattern, fields, strict=True)) for pattern in patterns)


_STRING = _Family(_compile_strings, lambda request, values: request in values)
_FAMILIES: dict[str, _Family] = {
    "StringEquals": _STRING,
    "StringEqualsIgnoreCase": _Family(_compile_folded, lambda request, values: request.casefold() in values),
    "StringLike": _Family(_compile_like, lambda request, pattern: pattern.fullmatch(request) is not None),
    "NumericEquals": _Family(_compile_numbers, _numeric(lambda a, b: a == b)),
    "NumericLessThan": _Family(_compile_numbers, _numeric(lambda a, b: a < b)),
    "NumericLessThanEquals": _Family(_compile_numbers, _numeric(lambda a, b: a <= b)),
    "NumericGreaterThan": _Family(_compile_numbers, _numeric(lambda a, b: a > b)),
    "NumericGreaterThanEquals": _Family(_compile_numbers, _numeric(lambda a, b: a >= b)),
    "DateEquals": _Family(_compile_dates, _dated(lambda a, b: a == b)),
    "DateLessThan": _Family(_compile_dates, _dated(lambda a, b: a < b)),
    "DateLessThanEquals": _Family(_compile_dates, _dated(lambda a, b: a <= b)),
    "DateGreaterThan": _Family(_compile_dates, _dated(lambda a, b: a > b)),
    "DateGreaterThanEquals": _Family(_compile_dates, _dated(lambda a, b: a >= b)),
    "Bool": _Family(_compile_bools, lambda request, values: request.lower() in values),
    "BinaryEquals": _STRING,
    "IpAddress": _Family(_compile_networks, _ip_match),
    # ArnEquals and ArnLike are the same operator: both accept wildcards in each component.
    "ArnEquals": _Family(_compile_arns, _arn_match),
    "ArnLike": _Family(_compile_arns, _arn_match),
}
# Each negated operator is the NOR of its positive counterpart.
_NEGATIONS = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "NumericNotEquals": "NumericEquals",
    "DateNotEquals": "DateEquals",
    "NotIpAddress": "IpAddress",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
}
_QUALIFIERS = ("ForAnyValue:", "ForAllValues:")


@dataclass(frozen=True, slots=True)
class Condition:
    """One key under one operator: ``{"StringEquals": {"aws:SourceAccount": "1234…"}}``."""

    operator: str  # as written in the policy, for explanations
    key: str  # lower-cased
    qualifier: str | None  # "ForAnyValue" | "ForAllValues" | None
    negated: bool
    if_exists: bool
    family: _Family | None  # None for the Null operator
    templates: tuple[Template | str, ...]
    compiled: Any  # the compiled values, or None when a variable must be substituted first

    def holds(self, keys: Mapping[str, tuple[str, ...]]) -> bool:
        """Whether the condition is true for a request whose context keys are ``keys``.

        Raises ``Unresolved`` when a policy variable in a value has no value."""
        request = keys.get(self.key)
        if self.family is None:  # Null: "true" means the key must be absent
            return ("true" if request is None else "false") in self.compiled
        if request is None:
            if self.if_exists or self.qualifier == "ForAllValues":
                return True
            if self.qualifier == "ForAnyValue":
                return False
            return self.negated
        compiled = self.compiled
        if compiled is None:
            compiled = _values_compile(self.family, tuple(template_resolve(t, keys) for t in self.templates))
            if compiled is None:
                return False
        match = self.family.match
        if self.qualifier is None:
            hit = any(match(value, compiled) for value in request)
            return not hit if self.negated else hit
        outcomes = (
            (not match(value, compiled)) if self.negated else match(value, compiled) for value in request
        )
        return any(outcomes) if self.qualifier == "ForAnyValue" else all(outcomes)


@lru_cache(maxsize=4096)
def _values_compile(family: _Family, values: tuple[Pieces, ...]) -> Any:
    """Compile substituted values; a value that is not of the operator's type matches nothing."""
    try:
        return family.compile(values)
    except ValueError:
        return None


def value_text(value: Any) -> str:
    """Policies and request contexts write booleans and numbers as JSON literals too."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _policy_value_text(value: Any) -> str:
    if not isinstance(value, (bool, int, float, str)):
        raise MalformedPolicyDocument(SYNTAX_ERROR)
    return value_text(value)


def conditions_parse(block: Any, *, variables: bool) -> tuple[Condition, ...]:
    """Parse a statement's Condition block, refusing unknown operators and malformed values."""
    if not isinstance(block, dict):
        raise MalformedPolicyDocument(SYNTAX_ERROR)
    conditions: list[Condition] = []
    for operator, keys in block.items():
        if not isinstance(operator, str) or not isinstance(keys, dict):
            raise MalformedPolicyDocument(SYNTAX_ERROR)
        qualifier, base = None, operator
        for prefix in _QUALIFIERS:
            if base.startswith(prefix):
                qualifier, base = prefix[:-1], base[len(prefix) :]
        if_exists = base.endswith("IfExists") and base != "IfExists"
        if if_exists:
            base = base[: -len("IfExists")]
        negated = base in _NEGATIONS
        family_name = _NEGATIONS.get(base, base)
        if family_name not in _FAMILIES and not (base == "Null" and not if_exists):
            raise MalformedPolicyDocument(SYNTAX_ERROR)
        family = _FAMILIES.get(family_name) if base != "Null" else None
        for key, raw in keys.items():
            raw_values = raw if isinstance(raw, list) else [raw]
            texts = [_policy_value_text(value) for value in raw_values]
            if family is None:
                conditions.append(
                    Condition(
                        operator,
                        key.lower(),
                        qualifier,
                        False,
                        False,
                        None,
                        (),
                        frozenset(t.lower() for t in texts),
                    )
                )
                continue
            templates = tuple(template_parse(text, variables=variables) for text in texts)
            compiled = None
            if all(isinstance(t, str) for t in templates):
                try:
                    compiled = family.compile(tuple(((text, True),) for text in texts))
                except ValueError:
                    raise MalformedPolicyDocument(LEGACY_PARSING_ERROR) from None
            conditions.append(
                Condition(operator, key.lower(), qualifier, negated, if_exists, family, templates, compiled)
            )
    return tuple(conditions)


def context_keys_normalize(keys: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """Lower-case the keys and make every value a tuple of strings; an empty list is absent."""
    normalized: dict[str, tuple[str, ...]] = {}
    for key, value in keys.items():
        values = value if isinstance(value, (list, tuple, set, frozenset)) else [value]
        if values:
            normalized[key.lower()] = tuple(value_text(item) for item in values)
    return normalized
