"""Event source mapping FilterCriteria: validate patterns and match records the way AWS Lambda does.

Lambda's filters follow Amazon EventBridge's event pattern rules: every key of a pattern must be
satisfied by the event, a leaf is a list of alternatives, and matchers (prefix, numeric, exists,
anything-but, ...) are one-key objects. `filter_criteria_validate` runs once when a mapping is
created or updated, so `pattern_matches` can trust the patterns it is given.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import math
import operator
import re
from collections.abc import Callable
from typing import Any

MAX_FILTERS = 5
MAX_PATTERN_LENGTH = 4096

_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


class FilterPatternError(ValueError):
    """A FilterCriteria value that AWS would refuse; the message says what to fix."""


def _invalid(reason: str) -> FilterPatternError:
    return FilterPatternError(f"Invalid filter pattern definition: {reason}")


def filter_criteria_validate(criteria: dict | None) -> list[dict]:
    """Check a Lambda `FilterCriteria` value and return its patterns, parsed; no criteria gives []."""
    if criteria is None:
        return []
    if not isinstance(criteria, dict):
        raise _invalid("FilterCriteria must be an object with a Filters list")
    filters = criteria.get("Filters")
    if filters is None:
        return []
    if not isinstance(filters, list):
        raise _invalid("FilterCriteria.Filters must be a list")
    if len(filters) > MAX_FILTERS:
        raise _invalid(f"at most {MAX_FILTERS} filters are allowed, got {len(filters)}")
    patterns = []
    for index, entry in enumerate(filters):
        where = f"Filters[{index}].Pattern"
        text = entry.get("Pattern") if isinstance(entry, dict) else None
        if not isinstance(text, str):
            raise _invalid(f"{where} is required and must be a JSON string")
        if len(text) > MAX_PATTERN_LENGTH:
            raise _invalid(f"{where} is longer than {MAX_PATTERN_LENGTH} characters")
        try:
            pattern = json.loads(text, parse_constant=_reject_constant)
        except ValueError as error:
            raise _invalid(f"{where} is not valid JSON ({error})") from None
        if not isinstance(pattern, dict):
            raise _invalid(f"{where} must be a JSON object")
        _validate_object(pattern, where="pattern")
        patterns.append(pattern)
    return patterns


def _reject_constant(name: str) -> None:
    # json.loads accepts NaN and Infinity, which are not JSON and cannot be compared meaningfully.
    raise ValueError(f"{name} is not a JSON number")


def _validate_object(pattern: Any, *, where: str) -> None:
    if not isinstance(pattern, dict) or not pattern:
        raise _invalid(f"{where} must be a non-empty object")
    for key, expected in pattern.items():
        path = f"{where}.{key}"
        if key == "$or":
            if not isinstance(expected, list) or len(expected) < 2:
                raise _invalid(f"{path} must be a list of at least 2 patterns")
            for index, branch in enumerate(expected):
                _validate_object(branch, where=f"{path}[{index}]")
        elif isinstance(expected, dict):
            _validate_object(expected, where=path)
        elif isinstance(expected, list) and expected:
            for alternative in expected:
                _validate_alternative(alternative, where=path)
        else:
            raise _invalid(f"{path} must be an object or a non-empty list of values")


def _validate_alternative(alternative: Any, *, where: str) -> None:
    if alternative is None or isinstance(alternative, str | bool) or _is_number(alternative):
        return
    if not isinstance(alternative, dict):
        raise _invalid(f"{where} holds {json.dumps(alternative)}, which is neither a value nor a matcher")
    if len(alternative) != 1:
        raise _invalid(f"{where}: a matcher must have exactly one key, got {sorted(alternative)}")
    ((name, operand),) = alternative.items()
    check = _OPERAND_CHECKS.get(name)
    if check is None:
        raise _invalid(f"{where}: unknown matcher {name!r}")
    check(operand, f"{where}: {name}")


def _check_string(operand: Any, where: str) -> None:
    if not isinstance(operand, str):
        raise _invalid(f"{where} takes a string")


def _check_affix(operand: Any, where: str) -> None:
    # prefix and suffix also take {"equals-ignore-case": "..."} for a case-insensitive comparison.
    if isinstance(operand, dict) and list(operand) == ["equals-ignore-case"]:
        operand = operand["equals-ignore-case"]
    _check_string(operand, where)


def _check_wildcard(operand: Any, where: str) -> None:
    _check_string(operand, where)
    _wildcard_regex(operand)


def _check_numeric(operand: Any, where: str) -> None:
    if not isinstance(operand, list) or len(operand) not in (2, 4):
        raise _invalid(f"{where} takes one or two [operator, number] comparisons")
    operators, bounds = operand[::2], operand[1::2]
    if not all(isinstance(op, str) and op in _COMPARISONS for op in operators):
        raise _invalid(f"{where} operators must be one of {', '.join(_COMPARISONS)}")
    if not all(_is_number(bound) and math.isfinite(bound) for bound in bounds):
        raise _invalid(f"{where} bounds must be numbers")
    if len(operand) == 4:
        if operators[0] not in (">", ">=") or operators[1] not in ("<", "<="):
            raise _invalid(f"{where} range needs a lower bound (> or >=) then an upper bound (< or <=)")
        if bounds[0] >= bounds[1]:
            raise _invalid(f"{where} range lower bound must be less than its upper bound")


def _check_exists(operand: Any, where: str) -> None:
    if not isinstance(operand, bool):
        raise _invalid(f"{where} takes true or false")


def _check_anything_but(operand: Any, where: str) -> None:
    if isinstance(operand, dict):
        if len(operand) != 1 or next(iter(operand)) not in ("prefix", "suffix", "equals-ignore-case"):
            raise _invalid(f"{where} takes one of prefix, suffix or equals-ignore-case")
        ((name, inner),) = operand.items()
        values = inner if name == "equals-ignore-case" and isinstance(inner, list) and inner else [inner]
        for value in values:
            _check_string(value, f"{where} {name}")
        return
    values = operand if isinstance(operand, list) and operand else [operand]
    if not all(isinstance(value, str) or _is_number(value) for value in values):
        raise _invalid(f"{where} takes a string, a number, a non-empty list of them, or a matcher")


def _check_cidr(operand: Any, where: str) -> None:
    _check_string(operand, where)
    try:
        _network(operand)
    except ValueError:
        raise _invalid(f"{where} {operand!r} is not a valid CIDR block") from None


_OPERAND_CHECKS: dict[str, Callable[[Any, str], None]] = {
    "prefix": _check_affix,
    "suffix": _check_affix,
    "equals-ignore-case": _check_string,
    "wildcard": _check_wildcard,
    "numeric": _check_numeric,
    "exists": _check_exists,
    "anything-but": _check_anything_but,
    "cidr": _check_cidr,
}


def patterns_match(patterns: list[dict], event: dict) -> bool:
    """True when any of the patterns matches the event; no patterns means no filtering."""
    return not patterns or any(pattern_matches(pattern, event) for pattern in patterns)


def pattern_matches(pattern: dict, event: dict) -> bool:
    """True when the event satisfies every key of a pattern already checked by filter_criteria_validate."""
    for key, expected in pattern.items():
        if key == "$or":
            if not any(pattern_matches(branch, event) for branch in expected):
                return False
            continue
        present = key in event
        value = event.get(key)
        if isinstance(expected, dict):
            # A list of objects matches when one of its objects does; a missing field or a plain
            # value has no nested fields, which only {"exists": false} can be satisfied by.
            candidates = [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []
            if isinstance(value, dict):
                candidates = [value]
            if not any(pattern_matches(expected, candidate) for candidate in candidates or [{}]):
                return False
        elif not _leaf_matches(expected, _leaf_values(present, value)):
            return False
    return True


def _leaf_values(present: bool, value: Any) -> list[Any]:
    # Only scalars (null included) are leaves; an object or an empty list leaves the path without one.
    if not present or isinstance(value, dict):
        return []
    if isinstance(value, list):
        return [item for item in value if not isinstance(item, dict | list)]
    return [value]


def _leaf_matches(alternatives: list[Any], leaves: list[Any]) -> bool:
    for alternative in alternatives:
        if isinstance(alternative, dict) and "exists" in alternative:
            if alternative["exists"] == bool(leaves):
                return True
        elif any(_value_matches(alternative, leaf) for leaf in leaves):
            return True
    return False


def _value_matches(alternative: Any, value: Any) -> bool:
    if isinstance(alternative, dict):
        ((name, operand),) = alternative.items()
        return _MATCHERS[name](operand, value)
    return _equal(alternative, value)


def _is_number(value: Any) -> bool:
    # bool is an int in Python, but true must never equal 1 in a pattern.
    return isinstance(value, int | float) and not isinstance(value, bool)


def _equal(expected: Any, value: Any) -> bool:
    if _is_number(expected) and _is_number(value):
        return expected == value
    return type(expected) is type(value) and expected == value


def _affix_matches(operand: Any, value: Any, *, at_start: bool) -> bool:
    if not isinstance(value, str):
        return False
    if isinstance(operand, dict):
        operand, value = operand["equals-ignore-case"].casefold(), value.casefold()
    return value.startswith(operand) if at_start else value.endswith(operand)


def _equals_ignore_case_matches(operand: str | list[str], value: Any) -> bool:
    targets = operand if isinstance(operand, list) else [operand]
    return isinstance(value, str) and any(value.casefold() == target.casefold() for target in targets)


def _numeric_matches(operand: list[Any], value: Any) -> bool:
    if not _is_number(value):
        return False
    return all(_COMPARISONS[op](value, bound) for op, bound in zip(operand[::2], operand[1::2], strict=True))


def _anything_but_matches(operand: Any, value: Any) -> bool:
    if isinstance(operand, dict):
        return isinstance(value, str) and not _value_matches(operand, value)
    excluded = operand if isinstance(operand, list) else [operand]
    return not any(_equal(item, value) for item in excluded)


def _cidr_matches(operand: str, value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return ipaddress.ip_address(value) in _network(operand)
    except ValueError:
        return False


@functools.lru_cache(maxsize=256)
def _network(cidr: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(cidr, strict=False)


def _wildcard_matches(operand: str, value: Any) -> bool:
    return isinstance(value, str) and _wildcard_regex(operand).fullmatch(value) is not None


@functools.lru_cache(maxsize=256)
def _wildcard_regex(wildcard: str) -> re.Pattern[str]:
    pieces, index, after_star = [], 0, False
    while index < len(wildcard):
        char = wildcard[index]
        if char == "*":
            if after_star:
                raise _invalid(f"wildcard {wildcard!r} has consecutive * characters")
            pieces.append(".*")
            index, after_star = index + 1, True
            continue
        if char == "\\":
            char = wildcard[index + 1 : index + 2]
            if char not in ("*", "\\"):
                raise _invalid(f"wildcard {wildcard!r} may only escape * and \\")
            index += 1
        pieces.append(re.escape(char))
        index, after_star = index + 1, False
    return re.compile("".join(pieces), re.DOTALL)


_MATCHERS: dict[str, Callable[[Any, Any], bool]] = {
    "prefix": functools.partial(_affix_matches, at_start=True),
    "suffix": functools.partial(_affix_matches, at_start=False),
    "equals-ignore-case": _equals_ignore_case_matches,
    "wildcard": _wildcard_matches,
    "numeric": _numeric_matches,
    "anything-but": _anything_but_matches,
    "cidr": _cidr_matches,
}


def sqs_filter_view(record: dict) -> dict:
    """The SQS record as a filter sees it: `body` parsed when it holds a JSON object, else the plain string."""
    view = dict(record)
    parsed = _json_object(record.get("body"))
    if parsed is not None:
        view["body"] = parsed
    return view


def stream_filter_view(record: dict, data: bytes) -> dict:
    """A stream record as a filter sees it: `data` is the decoded JSON object, the text, or absent."""
    view = dict(record)
    view.pop("data", None)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return view
    parsed = _json_object(text)
    view["data"] = text if parsed is None else parsed
    return view


def _json_object(text: Any) -> dict | None:
    if not isinstance(text, str):
        return None
    try:
        parsed = json.loads(text, parse_constant=_reject_constant)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None
