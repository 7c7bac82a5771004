"""CloudWatch's wire protocols: requests into plain values, results and errors into responses.

Each protocol turns a request body into a dict keyed by the model's member names, with Python
values (``str``, ``int``, ``float``, ``bool``, aware ``datetime``, lists, dicts), and turns an
operation's result of the same kind back into bytes. Names, nesting and types come from
botocore's own CloudWatch model, so whatever an SDK serializes from that model decodes here.

- ``query``: ``Action=…&Version=2010-08-01&Dimensions.member.1.Name=…`` in, XML out.
- ``json`` (1.0): ``X-Amz-Target: GraniteServiceVersion20100801.<Op>``, JSON both ways.
- ``smithy-rpc-v2-cbor``: ``POST /service/GraniteServiceVersion20100801/operation/<Op>``.

JSON and CBOR errors carry ``__type`` and ``message`` plus the ``x-amzn-query-error`` header
that CloudWatch (an ``awsQueryCompatible`` service) sends, so botocore reports the same error
code in every protocol.
"""

from __future__ import annotations

import functools
import json
import math
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl
from xml.etree.ElementTree import Element, SubElement, tostring

import cbor2
from botocore.loaders import Loader
from botocore.model import OperationModel, ServiceModel, Shape
from django.http import HttpRequest, HttpResponse

from metrics_app.cloudwatch.errors import CloudWatchError, InvalidParameterValue

API_VERSION = "2010-08-01"
TARGET_PREFIX = "GraniteServiceVersion20100801"
XML_NAMESPACE = "http://monitoring.amazonaws.com/doc/2010-08-01/"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


@functools.cache
def _service_model() -> ServiceModel:
    return ServiceModel(Loader().load_service_model("cloudwatch", "service-2"), service_name="cloudwatch")


def operation_model(name: str) -> OperationModel:
    return _service_model().operation_model(name)


# --- Reading values -------------------------------------------------------------------------


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
    raise InvalidParameterValue(
        f"The parameter {path} must be a time in ISO 8601 or epoch seconds, not {value!r}."
    )


def _invalid_type(path: str, expected: str, value: Any) -> InvalidParameterValue:
    return InvalidParameterValue(f"The parameter {path} must be {expected}, not {value!r}.")


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


def _from_document(shape: Shape, value: Any, path: str) -> Any:
    """A value from a decoded JSON or CBOR document, checked against its shape."""
    if value is None:
        return None
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            raise _invalid_type(path or "the request body", "a structure", value)
        out = {}
        for name, member in shape.members.items():
            item = _from_document(
                member, value.get(member.serialization.get("name", name)), f"{path}.{name}" if path else name
            )
            if item is not None:
                out[name] = item
        return out
    if kind == "list":
        if not isinstance(value, list):
            raise _invalid_type(path, "a list", value)
        items = (_from_document(shape.member, item, f"{path}.{i}") for i, item in enumerate(value, 1))
        return [item for item in items if item is not None]
    if kind == "map":
        if not isinstance(value, dict):
            raise _invalid_type(path, "a map", value)
        return {
            _from_document(shape.key, key, path): _from_document(shape.value, item, f"{path}.{key}")
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


class _QueryReader:
    """Reads the query protocol's flattened keys (``Dimensions.member.1.Name``) back into values."""

    def __init__(self, params: dict[str, str]) -> None:
        self.params = params
        # Every dotted prefix of every key, so presence checks are set lookups.
        self.prefixes = set()
        for key in params:
            parts = key.split(".")
            for end in range(1, len(parts) + 1):
                self.prefixes.add(".".join(parts[:end]))

    def read(self, shape: Shape, key: str) -> Any:
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


def query_form(request: HttpRequest) -> dict[str, str] | None:
    """The form fields of a query-protocol request body, or None if the body is not a form."""
    content_type = request.headers.get("Content-Type", "")
    if content_type and not content_type.lower().startswith(FORM_CONTENT_TYPE):
        return None
    try:
        text = request.body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    fields: dict[str, str] = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        fields.setdefault(key, value)
    return fields


# --- Writing values -------------------------------------------------------------------------


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
    """Write ``value`` under ``parent`` as the query protocol shapes it (CloudWatch, SNS)."""
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


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_none(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_none(item) for item in value]
    return value


def _epoch(moment: datetime) -> int | float:
    seconds = moment.timestamp()
    return int(seconds) if seconds.is_integer() else seconds


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return _epoch(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


# --- The protocols --------------------------------------------------------------------------


def _response(body: bytes, *, status: int, content_type: str, request_id: str) -> HttpResponse:
    response = HttpResponse(body, status=status, content_type=content_type)
    response["x-amzn-RequestId"] = request_id
    return response


class QueryProtocol:
    name = "query"

    def decode(self, request: HttpRequest, operation: OperationModel) -> dict:
        return _QueryReader(query_form(request) or {}).read(operation.input_shape, "")

    def success(self, operation: OperationModel, result: dict, request_id: str) -> HttpResponse:
        root = Element(f"{operation.name}Response", {"xmlns": XML_NAMESPACE})
        shape = operation.output_shape
        xml_write(root, shape.serialization["resultWrapper"], shape, _without_none(result))
        metadata = SubElement(root, "ResponseMetadata")
        SubElement(metadata, "RequestId").text = request_id
        return _response(
            tostring(root, encoding="utf-8"), status=200, content_type="text/xml", request_id=request_id
        )

    def failure(self, error: CloudWatchError, request_id: str) -> HttpResponse:
        root = Element("ErrorResponse", {"xmlns": XML_NAMESPACE})
        detail = SubElement(root, "Error")
        SubElement(detail, "Type").text = error.fault
        SubElement(detail, "Code").text = error.code
        SubElement(detail, "Message").text = error.message
        SubElement(root, "RequestId").text = request_id
        response = _response(
            tostring(root, encoding="utf-8"),
            status=error.status,
            content_type="text/xml",
            request_id=request_id,
        )
        response["x-amzn-ErrorType"] = error.code
        return response


class _DocumentProtocol:
    """What JSON 1.0 and RPC v2 CBOR share: a document body and ``__type`` errors."""

    name = ""
    content_type = ""

    def loads(self, body: bytes) -> Any:
        raise NotImplementedError

    def dumps(self, document: dict) -> bytes:
        raise NotImplementedError

    def headers(self, response: HttpResponse) -> None:
        pass

    def decode(self, request: HttpRequest, operation: OperationModel) -> dict:
        if not request.body:
            return {}
        try:
            document = self.loads(request.body)
        except Exception:
            raise InvalidParameterValue(f"The request body is not valid {self.name}.") from None
        return _from_document(operation.input_shape, document, "")

    def success(self, operation: OperationModel, result: dict, request_id: str) -> HttpResponse:
        response = _response(
            self.dumps(_without_none(result)),
            status=200,
            content_type=self.content_type,
            request_id=request_id,
        )
        self.headers(response)
        return response

    def failure(self, error: CloudWatchError, request_id: str) -> HttpResponse:
        response = _response(
            self.dumps({"__type": error.type_name, "message": error.message}),
            status=error.status,
            content_type=self.content_type,
            request_id=request_id,
        )
        response["x-amzn-query-error"] = f"{error.code};{error.fault}"
        response["x-amzn-ErrorType"] = error.code
        self.headers(response)
        return response


class JsonProtocol(_DocumentProtocol):
    name = "JSON"
    content_type = "application/x-amz-json-1.0"

    def loads(self, body: bytes) -> Any:
        return json.loads(body)

    def dumps(self, document: dict) -> bytes:
        return json.dumps(document, default=_json_default, separators=(",", ":")).encode()


class CborProtocol(_DocumentProtocol):
    name = "CBOR"
    content_type = "application/cbor"

    def loads(self, body: bytes) -> Any:
        return cbor2.loads(body)

    def dumps(self, document: dict) -> bytes:
        # Times as tag 1 (epoch seconds), the only date tag botocore reads.
        return cbor2.dumps(document, datetime_as_timestamp=True)

    def headers(self, response: HttpResponse) -> None:
        response["smithy-protocol"] = "rpc-v2-cbor"


WireProtocol = QueryProtocol | JsonProtocol | CborProtocol

QUERY = QueryProtocol()
JSON = JsonProtocol()
CBOR = CborProtocol()
