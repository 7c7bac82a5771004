"""Requests read, checked and written against botocore's own service models.

- ``service_model(name)``: botocore's model of a service, loaded once.
- ``shape_check``: the one request-shape checker. Wrong JSON types raise
  ``SerializationException``; broken constraints (required members, lengths, ranges, patterns,
  enums) are collected in AWS's words (``1 validation error detected: Value '0' at 'limit'
  failed to satisfy constraint: …``) and raised together as ``ValidationException``.
- ``document_read``: a decoded JSON or CBOR document into Python values of the model's types
  (aware ``datetime`` for timestamps).
- ``QueryReader``: the query protocol's flattened keys (``Dimensions.member.1.Name``) back
  into the same values; ``xml_write`` writes values out as the query protocol shapes them.
"""

from __future__ import annotations

import functools
import math
import re
from datetime import UTC, datetime
from typing import Any
from xml.etree.ElementTree import Element, SubElement

import botocore.session
from botocore.model import ServiceModel, Shape

from awsapi.errors import AwsError


class SerializationException(AwsError):
    """A body that is not what the protocol says, or a member of the wrong type."""

    code = "SerializationException"
    status = 400


class ValidationException(AwsError):
    """Members that break the model's constraints, all of them in one message."""

    code = "ValidationException"
    status = 400


@functools.cache
def service_model(name: str) -> ServiceModel:
    return botocore.session.get_session().get_service_model(name)


# --- The checker --------------------------------------------------------------------------------


@functools.cache
def _pattern(source: str) -> re.Pattern | None:
    try:
        return re.compile(source)
    except re.error:  # a Java-only construct: leave that constraint to the operation
        return None


def _type_error(path: str, expected: str) -> SerializationException:
    return SerializationException(f"The member {path or 'body'} must be {expected}.")


def _constraint(path: str, value: Any, rule: str) -> str:
    shown = "null" if value is None else f"'{value}'"
    return f"Value {shown} at '{path}' failed to satisfy constraint: Member must {rule}"


def _bounds(shape: Shape, path: str, value: Any, measure: int, unit: str, problems: list[str]) -> None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and measure < low:
        problems.append(_constraint(path, value, f"have {unit} greater than or equal to {low}"))
    if high is not None and measure > high:
        problems.append(_constraint(path, value, f"have {unit} less than or equal to {high}"))


def _check(shape: Shape, value: Any, path: str, problems: list[str]) -> None:
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            raise _type_error(path, "an object")
        for name in shape.required_members:
            if value.get(name) is None:
                problems.append(_constraint(f"{path}.{name}" if path else name, None, "not be null"))
        for name, member in shape.members.items():
            if value.get(name) is not None:
                _check(member, value[name], f"{path}.{name}" if path else name, problems)
    elif kind == "list":
        if not isinstance(value, list):
            raise _type_error(path, "a list")
        _bounds(shape, path, value, len(value), "length", problems)
        for index, item in enumerate(value, 1):
            _check(shape.member, item, f"{path}.{index}.member", problems)
    elif kind == "map":
        if not isinstance(value, dict):
            raise _type_error(path, "an object")
        _bounds(shape, path, value, len(value), "length", problems)
        for key, item in value.items():
            _check(shape.key, key, f"{path}.key", problems)
            _check(shape.value, item, f"{path}.{key}", problems)
    elif kind == "string":
        if not isinstance(value, str):
            raise _type_error(path, "a string")
        _bounds(shape, path, value, len(value), "length", problems)
        pattern = shape.metadata.get("pattern")
        compiled = _pattern(pattern) if pattern else None
        if compiled is not None and not compiled.fullmatch(value):
            problems.append(_constraint(path, value, f"satisfy regular expression pattern: {pattern}"))
        if shape.enum and value not in shape.enum:
            problems.append(_constraint(path, value, f"satisfy enum value set: [{', '.join(shape.enum)}]"))
    elif kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            raise _type_error(path, "an integer")
        _bounds(shape, path, value, value, "value", problems)
    elif kind == "boolean" and not isinstance(value, bool):
        raise _type_error(path, "true or false")
    elif kind in ("double", "float") and (not isinstance(value, int | float) or isinstance(value, bool)):
        raise _type_error(path, "a number")


def shape_check(shape: Shape | None, value: Any) -> None:
    """Raise unless ``value`` (a decoded request document) satisfies ``shape``."""
    if shape is None:
        return
    problems: list[str] = []
    _check(shape, value, "", problems)
    if problems:
        count = len(problems)
        raise ValidationException(
            f"{count} validation error{'s' if count > 1 else ''} detected: {'; '.join(problems)}"
        )


# --- Reading values -----------------------------------------------------------------------------


def _timestamp(value: Any, path: str) -> datetime:
    """A time sent as a datetime (CBOR tag 1), epoch seconds or ISO 8601 text."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, UTC)
        if isinstance(value, str):
            try:
                return datetime.fromtimestamp(float(value), UTC)
            except ValueError:
                moment = datetime.fromisoformat(value)
                return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        pass
    raise SerializationException(
        f"The parameter {path} must be a time in ISO 8601 or epoch seconds, not {value!r}."
    )


def _invalid_type(path: str, expected: str, value: Any) -> SerializationException:
    return SerializationException(f"The parameter {path} must be {expected}, not {value!r}.")


def _from_text(shape: Shape, raw: str, path: str) -> Any:
    """A scalar from the query protocol's text form."""
    kind = shape.type_name
    if kind in ("integer", "long"):
        try:
            return int(raw)
        except ValueError:
            raise _invalid_type(path, "an integer", raw) from None
    if kind in ("double", "float"):
        try:
            value = float(raw)
        except ValueError:
            raise _invalid_type(path, "a number", raw) from None
        if not math.isfinite(value):
            raise _invalid_type(path, "a finite number", raw)
        return value
    if kind == "boolean":
        if raw not in ("true", "false"):
            raise _invalid_type(path, "true or false", raw)
        return raw == "true"
    if kind == "timestamp":
        return _timestamp(raw, path)
    return raw


def document_read(shape: Shape, value: Any, path: str = "") -> Any:
    """A value from a decoded JSON or CBOR document, as the model types it."""
    if value is None:
        return None
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            raise _invalid_type(path or "the request body", "a structure", value)
        out = {}
        for name, member in shape.members.items():
            item = document_read(
                member, value.get(member.serialization.get("name", name)), f"{path}.{name}" if path else name
            )
            if item is not None:
                out[name] = item
        return out
    if kind == "list":
        if not isinstance(value, list):
            raise _invalid_type(path, "a list", value)
        items = (document_read(shape.member, item, f"{path}.{i}") for i, item in enumerate(value, 1))
        return [item for item in items if item is not None]
    if kind == "map":
        if not isinstance(value, dict):
            raise _invalid_type(path, "a map", value)
        return {
            document_read(shape.key, key, path): document_read(shape.value, item, f"{path}.{key}")
            for key, item in value.items()
        }
    if kind == "timestamp":
        return _timestamp(value, path)
    if kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            raise _invalid_type(path, "an integer", value)
        return value
    if kind in ("double", "float"):
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise _invalid_type(path, "a number", value)
        return float(value)
    if kind == "boolean":
        if not isinstance(value, bool):
            raise _invalid_type(path, "true or false", value)
        return value
    if not isinstance(value, str):
        raise _invalid_type(path, "a string", value)
    return value


class QueryReader:
    """Reads the query protocol's flattened keys (``Dimensions.member.1.Name``) back into values."""

    def __init__(self, params: dict[str, str]) -> None:
        self.params = params
        # Every dotted prefix of every key, so presence checks are set lookups.
        self.prefixes = set()
        for key in params:
            parts = key.split(".")
            for end in range(1, len(parts) + 1):
                self.prefixes.add(".".join(parts[:end]))

    def read(self, shape: Shape, key: str = "") -> Any:
        kind = shape.type_name
        if kind == "structure":
            if key and key not in self.prefixes:
                return None
            out = {}
            for name, member in shape.members.items():
                wire = member.serialization.get("name", name)
                value = self.read(member, f"{key}.{wire}" if key else wire)
                if value is not None:
                    out[name] = value
            return out
        if kind == "list":
            if self.params.get(key) == "":
                return []  # how the query protocol says "an empty list"
            if key not in self.prefixes:
                return None
            name = shape.member.serialization.get("name", "member")
            items, index = [], 1
            while f"{key}.{name}.{index}" in self.prefixes:
                items.append(self.read(shape.member, f"{key}.{name}.{index}"))
                index += 1
            return items
        if kind == "map":
            if key not in self.prefixes:
                return None
            key_name = shape.key.serialization.get("name", "key")
            value_name = shape.value.serialization.get("name", "value")
            entries, index = {}, 1
            while f"{key}.entry.{index}" in self.prefixes:
                entry = f"{key}.entry.{index}"
                entries[self.read(shape.key, f"{entry}.{key_name}")] = self.read(
                    shape.value, f"{entry}.{value_name}"
                )
                index += 1
            return entries
        raw = self.params.get(key)
        return None if raw is None else _from_text(shape, raw, key)


# --- Writing values -----------------------------------------------------------------------------


def _xml_text(shape: Shape, value: Any) -> str:
    kind = shape.type_name
    if kind == "timestamp":
        moment = value.astimezone(UTC)
        if moment.microsecond:
            return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    if kind == "boolean":
        return "true" if value else "false"
    if kind in ("double", "float"):
        return repr(float(value))
    return str(value)


def xml_write(parent: Element, tag: str, shape: Shape, value: Any) -> None:
    """Write ``value`` under ``parent`` as the query protocol shapes it."""
    element = SubElement(parent, tag)
    kind = shape.type_name
    if kind == "structure":
        for name, member in shape.members.items():
            if value.get(name) is not None:
                xml_write(element, member.serialization.get("name", name), member, value[name])
    elif kind == "list":
        name = shape.member.serialization.get("name", "member")
        for item in value:
            xml_write(element, name, shape.member, item)
    elif kind == "map":
        key_name = shape.key.serialization.get("name", "key")
        value_name = shape.value.serialization.get("name", "value")
        for key, item in value.items():
            entry = SubElement(element, "entry")
            xml_write(entry, key_name, shape.key, key)
            xml_write(entry, value_name, shape.value, item)
    else:
        element.text = _xml_text(shape, value)


def without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: without_none(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [without_none(item) for item in value]
    return value
