"""CloudWatch Logs' filter patterns for unstructured events, as a database condition.

What Stratus understands, matched case-sensitively anywhere in the message:

- ``ERROR timeout``: every term must appear;
- ``"Task timed out"``: a quoted phrase appears exactly as written (``\\"`` for a quote);
- ``?ERROR ?WARN``: at least one of the ``?`` terms appears (with plain terms, those too);
- ``ERROR -retrying``: a ``-`` term must not appear;
- an empty pattern matches every event.

JSON (``{ $.level = … }``), space-delimited (``[ip, user, …]``) and regular-expression
(``%…%``) patterns are refused with ``InvalidParameterException`` rather than half-matched.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Q, Value
from django.db.models.functions import StrIndex
from django.db.models.lookups import Exact, GreaterThan

from metrics_app.cloudwatch_logs.errors import InvalidParameter


@dataclass(frozen=True)
class FilterPattern:
    required: tuple[str, ...] = ()
    alternatives: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()

    def condition(self) -> Q:
        """A condition on ``LogEvent`` rows: the events whose message this pattern matches."""
        condition = Q()
        for term in self.required:
            condition &= Q(GreaterThan(_position(term), 0))
        if self.alternatives:
            any_of = Q()
            for term in self.alternatives:
                any_of |= Q(GreaterThan(_position(term), 0))
            condition &= any_of
        for term in self.excluded:
            condition &= Q(Exact(_position(term), 0))
        return condition


def _position(term: str) -> StrIndex:
    # INSTR (SQLite) and STRPOS (PostgreSQL) are case-sensitive, as CloudWatch's matching is;
    # LIKE, behind Django's ``contains``, is not on SQLite.
    return StrIndex("message", Value(term))


def _phrase(pattern: str, start: int) -> tuple[str, int]:
    """The quoted phrase opening at ``pattern[start]``, and the index just past its closing quote."""
    chars: list[str] = []
    index = start + 1
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            chars.append(pattern[index + 1])
            index += 2
            continue
        if char == '"':
            return "".join(chars), index + 1
        chars.append(char)
        index += 1
    raise InvalidParameter(f"Invalid filter pattern {pattern!r}: a quoted phrase is not closed.")


@dataclass
class _Terms:
    required: list[str] = field(default_factory=list)
    alternatives: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)


def filter_pattern_parse(pattern: str) -> FilterPattern:
    """Parse a filter pattern, or raise ``InvalidParameterException`` for one Stratus cannot match."""
    text = pattern.strip()
    if text[:1] in ("{", "[", "%"):
        raise InvalidParameter(
            f'Unsupported filter pattern {pattern!r}: Stratus matches terms, "quoted phrases", '
            "?alternatives and -exclusions, not JSON, space-delimited or regular-expression patterns."
        )
    terms = _Terms()
    index = 0
    while index < len(text):
        if text[index].isspace():
            index += 1
            continue
        bucket = terms.required
        if text[index] in "?-" and index + 1 < len(text) and not text[index + 1].isspace():
            bucket = terms.alternatives if text[index] == "?" else terms.excluded
            index += 1
        if text[index] == '"':
            term, index = _phrase(text, index)
        else:
            end = index
            while end < len(text) and not text[end].isspace():
                end += 1
            term, index = text[index:end], end
        if term:
            bucket.append(term)
    return FilterPattern(tuple(terms.required), tuple(terms.alternatives), tuple(terms.excluded))
