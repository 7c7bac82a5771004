"""The query protocol as IAM and STS speak it: a form body in, XML in the service's namespace
out, with the service's error codes and HTTP statuses.

Requests are read against botocore's own model of the service with CloudWatch's query reader
and results written with its XML writer, so whatever boto3 or the AWS CLI sends decodes here
and whatever is answered parses there. Every operation is a function ``(caller, params) ->
result``, the result a dict shaped like the operation's output in botocore's model.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote
from xml.etree.ElementTree import Element, SubElement, tostring

import botocore.session
from botocore.model import OperationModel, ServiceModel
from django.conf import settings
from django.http import HttpRequest, HttpResponse

from functions_app.api.sigv4 import SignedCaller, caller_verify
from functions_app.errors import LambdaError
from iam import selectors, services
from iam.audit import audit_record, audit_worthy
from iam.authorization import operation_denial
from iam.errors import AccessDenied, IamError, InvalidAction, SignatureFailure, ValidationError
from iam.models import Account
from metrics_app.cloudwatch.errors import SIGNATURE_CODES, CloudWatchError
from metrics_app.cloudwatch.protocols import QUERY, xml_write

logger = logging.getLogger("stratus.api")

Operation = Callable[[SignedCaller, dict], dict]

DEFAULT_MAX_ITEMS = 100


@functools.cache
def service_model(name: str) -> ServiceModel:
    return botocore.session.get_session().get_service_model(name)


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


# --- The service --------------------------------------------------------------------------------


class QueryService:
    """One query-protocol AWS service: its botocore model, its signing name and its operations."""

    def __init__(
        self,
        *,
        model_name: str,
        signing_name: str,
        operations: dict[str, Operation],
        resource_of: Callable[[SignedCaller, str, dict], str] | None = None,
    ) -> None:
        """``resource_of(caller, action, params)`` names the resource each call is authorized
        on (as ``<signing name>:<Action>``); None leaves authorization to the operations."""
        self.model_name = model_name
        self.signing_name = signing_name
        self.operations = operations
        self.resource_of = resource_of

    @property
    def model(self) -> ServiceModel:
        return service_model(self.model_name)

    def dispatch(self, request: HttpRequest, form: dict[str, str]) -> HttpResponse:
        """Serve the operation the form body's ``Action`` names."""
        request_id = str(uuid.uuid4())
        action = form.get("Action", "")
        try:
            try:
                caller = caller_verify(request, service=self.signing_name)
            except LambdaError as error:
                code = SIGNATURE_CODES.get(error.code)
                if code is None:
                    raise
                raise SignatureFailure(error.message, code=code) from None
            request.access_key_id = caller.access_key_id  # for the request log
            handler = self.operations.get(action)
            if handler is None:
                raise InvalidAction(f"Stratus's {self.model.service_id} does not serve {action!r}.")
            operation = self.model.operation_model(action)
            try:
                params = QUERY.decode(request, operation)
            except CloudWatchError as error:
                raise ValidationError(error.message) from None
            if self.resource_of is not None:
                iam_action = f"{self.signing_name}:{action}"
                # IAM's entities are the caller's account's own; AWS managed policies
                # (account "aws") are attached there too.
                resource = self.resource_of(caller, action, params)
                denied = operation_denial(
                    caller,
                    action=iam_action,
                    resource=resource,
                    resource_account=caller.account_id,
                    record=False,
                )
                if denied:
                    audit_record(caller, action=iam_action, resource=resource, allowed=False, status=403)
                    raise AccessDenied(denied)
                if audit_worthy(iam_action):
                    try:
                        result = handler(caller, params)
                    except IamError as error:
                        audit_record(
                            caller, action=iam_action, resource=resource, allowed=True, status=error.status
                        )
                        raise
                    audit_record(caller, action=iam_action, resource=resource, allowed=True, status=200)
                    return self._success(operation, result, request_id)
            return self._success(operation, handler(caller, params), request_id)
        except IamError as error:
            return self._failure(error, request_id)
        except Exception:
            logger.exception("%s %s failed", self.model.service_id, action)
            error = IamError("An internal error occurred; the server log has the details.")
            return self._failure(error, request_id)

    def _response(self, root: Element, *, status: int, request_id: str) -> HttpResponse:
        response = HttpResponse(tostring(root, encoding="utf-8"), status=status, content_type="text/xml")
        response["x-amzn-RequestId"] = request_id
        return response

    def _success(self, operation: OperationModel, result: dict, request_id: str) -> HttpResponse:
        root = Element(f"{operation.name}Response", {"xmlns": self.model.metadata["xmlNamespace"]})
        shape = operation.output_shape
        if shape is not None:
            xml_write(root, shape.serialization["resultWrapper"], shape, result)
        SubElement(SubElement(root, "ResponseMetadata"), "RequestId").text = request_id
        return self._response(root, status=200, request_id=request_id)

    def _failure(self, error: IamError, request_id: str) -> HttpResponse:
        root = Element("ErrorResponse", {"xmlns": self.model.metadata["xmlNamespace"]})
        detail = SubElement(root, "Error")
        SubElement(detail, "Type").text = error.fault
        SubElement(detail, "Code").text = error.code
        SubElement(detail, "Message").text = error.message
        SubElement(root, "RequestId").text = request_id
        response = self._response(root, status=error.status, request_id=request_id)
        response["x-amzn-ErrorType"] = error.code
        return response
