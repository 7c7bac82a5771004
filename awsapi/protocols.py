"""AWS's wire protocols: a request into the operation's members, a result or an error into an
answer, with names, nesting and types from botocore's model of the service.

- ``QUERY``: a form body ``Action=…&Version=…&Dimensions.member.1.Name=…`` in, XML in the
  service's namespace out (CloudWatch, SNS, IAM, STS).
- ``JSON_1_0`` / ``JSON_1_1``: ``X-Amz-Target: <prefix>.<Op>``, JSON both ways (SQS, CloudWatch;
  Kinesis, CloudWatch Logs).
- ``CBOR``: smithy-rpc-v2-cbor, ``POST /service/<prefix>/operation/<Op>`` (CloudWatch).
- ``REST_JSON``: the operation is in the method and path (Lambda); Django's URLs route it, so
  only its errors are written here.

Errors in JSON and CBOR carry ``__type`` and ``message``; for a service its model marks
``awsQueryCompatible`` (SQS, CloudWatch) also ``x-amzn-query-error``, so botocore reports the
same code in every protocol.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl
from xml.etree.ElementTree import Element, SubElement, tostring

import cbor2
from botocore.model import OperationModel
from django.http import HttpRequest, HttpResponse

from awsapi.errors import AwsError
from awsapi.shapes import (
    QueryReader,
    SerializationException,
    document_read,
    shape_check,
    without_none,
    xml_write,
)

if TYPE_CHECKING:
    from awsapi.front import Service

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


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


def _response(
    body: bytes, *, status: int, content_type: str, request_id: str, error: AwsError | None = None
) -> HttpResponse:
    response = HttpResponse(body, status=status, content_type=content_type)
    response["x-amzn-RequestId"] = request_id
    if error is not None:
        for name, value in error.headers().items():
            response[name] = value
    return response


class QueryProtocol:
    name = "query"

    def decode(self, request: HttpRequest, operation: OperationModel, service: Service) -> dict:
        if operation.input_shape is None:
            return {}
        return QueryReader(query_form(request) or {}).read(operation.input_shape)

    def success(
        self, service: Service, operation: OperationModel, result: dict, request_id: str
    ) -> HttpResponse:
        root = Element(f"{operation.name}Response", {"xmlns": service.model.metadata["xmlNamespace"]})
        shape = operation.output_shape
        if shape is not None:
            xml_write(root, shape.serialization["resultWrapper"], shape, without_none(result))
        SubElement(SubElement(root, "ResponseMetadata"), "RequestId").text = request_id
        return _response(
            tostring(root, encoding="utf-8"), status=200, content_type="text/xml", request_id=request_id
        )

    def failure(self, service: Service, error: AwsError, request_id: str) -> HttpResponse:
        root = Element("ErrorResponse", {"xmlns": service.model.metadata["xmlNamespace"]})
        detail = SubElement(root, "Error")
        SubElement(detail, "Type").text = error.fault
        SubElement(detail, "Code").text = error.query_code or error.code
        SubElement(detail, "Message").text = error.message
        SubElement(root, "RequestId").text = request_id
        response = _response(
            tostring(root, encoding="utf-8"),
            status=error.status,
            content_type="text/xml",
            request_id=request_id,
            error=error,
        )
        response["x-amzn-ErrorType"] = error.query_code or error.code  # for the request log
        return response


def _epoch(moment: datetime) -> int | float:
    seconds = moment.timestamp()
    return int(seconds) if seconds.is_integer() else seconds


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return _epoch(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


class _DocumentProtocol:
    """What the JSON protocols and RPC v2 CBOR share: a document body and ``__type`` errors."""

    name = ""
    content_type = ""

    def loads(self, body: bytes) -> Any:
        raise NotImplementedError

    def dumps(self, document: dict) -> bytes:
        raise NotImplementedError

    def decorate(self, response: HttpResponse) -> HttpResponse:
        return response

    def decode(self, request: HttpRequest, operation: OperationModel, service: Service) -> dict:
        """The request's members: checked against the model unless the service checks its own,
        typed (times as ``datetime``) when the service asks for it."""
        if not request.body.strip():
            document: Any = {}
        else:
            try:
                document = self.loads(request.body)
            except Exception:
                raise SerializationException(f"The request body is not valid {self.name}.") from None
        if not isinstance(document, dict):
            raise SerializationException(f"The request body must be a {self.name} object.")
        if service.shapes_checked:
            shape_check(operation.input_shape, document)
        if service.typed and operation.input_shape is not None:
            return document_read(operation.input_shape, document)
        return {name: value for name, value in document.items() if value is not None}

    def success(
        self, service: Service, operation: OperationModel, result: dict, request_id: str
    ) -> HttpResponse:
        response = _response(
            self.dumps(without_none(result)),
            status=200,
            content_type=self.content_type,
            request_id=request_id,
        )
        return self.decorate(response)

    def failure(self, service: Service, error: AwsError, request_id: str) -> HttpResponse:
        body = {"__type": error.type_name or service.type_prefix + error.code, "message": error.message}
        body.update(error.members)
        response = _response(
            self.dumps(body),
            status=error.status,
            content_type=self.content_type,
            request_id=request_id,
            error=error,
        )
        if service.query_compatible:
            response["x-amzn-query-error"] = f"{error.query_code or error.code};{error.fault}"
        # What botocore reports (the query code for a query-compatible service), for the request log.
        query_code = error.query_code or error.code
        response["x-amzn-ErrorType"] = query_code if service.query_compatible else error.code
        return self.decorate(response)


class JsonProtocol(_DocumentProtocol):
    name = "JSON"

    def __init__(self, version: str) -> None:
        self.content_type = f"application/x-amz-json-{version}"

    def decode(self, request: HttpRequest, operation: OperationModel, service: Service) -> dict:
        if "cbor" in request.content_type:
            raise SerializationException(
                f"Stratus speaks {service.model.service_id}'s JSON protocol here, not CBOR: turn the SDK's CBOR off."
            )
        return super().decode(request, operation, service)

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

    def decorate(self, response: HttpResponse) -> HttpResponse:
        response["smithy-protocol"] = "rpc-v2-cbor"
        return response


class RestJsonProtocol:
    """Lambda's errors: ``x-amzn-ErrorType`` names the error, the body says whose fault it is."""

    name = "rest-json"

    def failure(self, error: AwsError, request_id: str | None = None) -> HttpResponse:
        body: dict = {"Type": "User" if error.status < 500 else "Service", error.message_key: error.message}
        body.update(error.members)
        response = _response(
            json.dumps(body).encode(),
            status=error.status,
            content_type="application/json",
            request_id=request_id or "",
            error=error,
        )
        response["x-amzn-ErrorType"] = error.code
        if not request_id:
            del response["x-amzn-RequestId"]
        return response


Protocol = QueryProtocol | JsonProtocol | CborProtocol

QUERY = QueryProtocol()
JSON_1_0 = JsonProtocol("1.0")
JSON_1_1 = JsonProtocol("1.1")
CBOR = CborProtocol()
REST_JSON = RestJsonProtocol()
