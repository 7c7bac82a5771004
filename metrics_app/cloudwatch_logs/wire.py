"""CloudWatch Logs' wire protocol, JSON 1.1: request bodies in, answers and errors out.

A request body is checked against botocore's own model of the operation's input — member
types, required members, lengths, ranges, patterns and enums — so what the server accepts is
what an SDK with its parameter validation on would send. A wrong JSON type is a
``SerializationException``; a broken constraint is an ``InvalidParameterException`` worded as
AWS words it (``1 validation error detected: Value '0' at 'limit' failed to satisfy …``).
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from botocore.loaders import Loader
from botocore.model import ServiceModel, Shape
from django.http import HttpRequest, HttpResponse

from metrics_app.cloudwatch_logs.errors import InvalidParameter, LogsError, SerializationFailed

TARGET_PREFIX = "Logs_20140328."
CONTENT_TYPE = "application/x-amz-json-1.1"


@functools.cache
def _service_model() -> ServiceModel:
    return ServiceModel(Loader().load_service_model("logs", "service-2"), service_name="logs")


@functools.cache
def _pattern(source: str) -> re.Pattern | None:
    try:
        return re.compile(source)
    except re.error:  # a Java-only construct: leave that constraint to the operation
        return None


def _type_error(path: str, expected: str) -> SerializationFailed:
    return SerializationFailed(f"The member {path or 'body'} must be {expected}.")


def _constraint(path: str, value: Any, rule: str) -> str:
    shown = "null" if value is None else f"'{value}'"
    return f"Value {shown} at '{path}' failed to satisfy constraint: Member must {rule}"


def _bounds(shape: Shape, path: str, value: Any, measure: int, unit: str, problems: list[str]) -> None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and measure < low:
        problems.append(_constraint(path, value, f"have {unit} greater than or equal to {low}"))
    if high is not None and measure > high:
        problems.append(_constraint(path, value, f"have {unit} less than or equal to {high}"))


def shape_check(shape: Shape, value: Any, path: str, problems: list[str]) -> None:
    """Check ``value`` against a botocore ``shape``: wrong JSON types raise, broken constraints
    are added to ``problems`` in AWS's words (Kinesis's API uses it too)."""
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            raise _type_error(path, "an object")
        for name in shape.required_members:
            if value.get(name) is None:
                problems.append(_constraint(f"{path}.{name}" if path else name, None, "not be null"))
        for name, member in shape.members.items():
            if value.get(name) is not None:
                shape_check(member, value[name], f"{path}.{name}" if path else name, problems)
    elif kind == "list":
        if not isinstance(value, list):
            raise _type_error(path, "a list")
        _bounds(shape, path, value, len(value), "length", problems)
        for index, item in enumerate(value, 1):
            shape_check(shape.member, item, f"{path}.{index}.member", problems)
    elif kind == "map":
        if not isinstance(value, dict):
            raise _type_error(path, "an object")
        _bounds(shape, path, value, len(value), "length", problems)
        for key, item in value.items():
            shape_check(shape.key, key, f"{path}.key", problems)
            shape_check(shape.value, item, f"{path}.{key}", problems)
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


def operation_known(name: str) -> bool:
    return name in _service_model().operation_names


def request_decode(request: HttpRequest, operation: str) -> dict[str, Any]:
    """The request's members, checked against the model of ``operation``'s input."""
    try:
        document = json.loads(request.body) if request.body.strip() else {}
    except (ValueError, UnicodeDecodeError):
        raise SerializationFailed("The request body is not valid JSON.") from None
    problems: list[str] = []
    input_shape = _service_model().operation_model(operation).input_shape
    if input_shape is not None:
        shape_check(input_shape, document, "", problems)
    if problems:
        count = len(problems)
        raise InvalidParameter(
            f"{count} validation error{'s' if count > 1 else ''} detected: {'; '.join(problems)}"
        )
    return {name: value for name, value in document.items() if value is not None}


def success(result: dict[str, Any], request_id: str) -> HttpResponse:
    response = HttpResponse(json.dumps(result, separators=(",", ":")), content_type=CONTENT_TYPE)
    response["x-amzn-RequestId"] = request_id
    return response


def failure(error: LogsError, request_id: str) -> HttpResponse:
    body = {"__type": error.type_name, "message": error.message}
    response = HttpResponse(json.dumps(body), content_type=CONTENT_TYPE, status=error.status)
    response["x-amzn-RequestId"] = request_id
    response["x-amzn-ErrorType"] = error.type_name  # for the request log
    return response
