"""HTTP entry points of the CloudWatch API, one per wire protocol, all serving the same operations.

``cbor_operation`` has its own URL; ``json_dispatch`` and ``query_dispatch`` are reached through
``dashboard.aws_dispatch``, which shares ``POST /`` between the AWS protocols that use it.
Every request is SigV4-signed; a failed check is a 403 in the protocol's own error shape. Every
operation is then authorized as ``cloudwatch:<Operation>`` on ``*`` (CloudWatch's metric
operations have no resource-level permissions); a refusal is ``AccessDenied``, HTTP 403.
"""

from __future__ import annotations

import logging
import uuid

from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.views.decorators.csrf import csrf_exempt

from functions_app.api.sigv4 import caller_verify
from functions_app.errors import LambdaError
from iam.authorization import operation_denial
from metrics_app.cloudwatch.errors import AccessDenied, CloudWatchError, UnknownOperation, auth_failure
from metrics_app.cloudwatch.operations import OPERATIONS
from metrics_app.cloudwatch.protocols import CBOR, JSON, QUERY, TARGET_PREFIX, WireProtocol, operation_model

logger = logging.getLogger("stratus.api")


def _serve(request: HttpRequest, protocol: WireProtocol, operation: str) -> HttpResponse:
    request_id = str(uuid.uuid4())
    try:
        try:
            caller = caller_verify(request, service="monitoring")
        except LambdaError as error:
            raise auth_failure(error) from None
        request.access_key_id = caller.key.access_key_id  # for the request log
        handler = OPERATIONS.get(operation)
        if handler is None:
            raise UnknownOperation(
                f"Stratus's CloudWatch does not implement {operation!r}; it serves "
                f"{', '.join(OPERATIONS)} for the AWS/Lambda namespace."
            )
        denial = operation_denial(caller, action=f"cloudwatch:{operation}", resource="*")
        if denial is not None:
            # CloudWatch's refusal names no resource when the action takes none.
            raise AccessDenied(denial.replace(" on resource: *", "", 1))
        model = operation_model(operation)
        result = handler(protocol.decode(request, model))
        return protocol.success(model, result, request_id)
    except CloudWatchError as error:
        return protocol.failure(error, request_id)
    except Exception:
        logger.exception("CloudWatch %s failed", operation)
        return protocol.failure(
            CloudWatchError("An internal error occurred; the server log has the details."), request_id
        )


@csrf_exempt
def cbor_operation(request: HttpRequest, operation: str) -> HttpResponse:
    """``POST /service/GraniteServiceVersion20100801/operation/<Op>`` (smithy-rpc-v2-cbor)."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    return _serve(request, CBOR, operation)


def json_dispatch(request: HttpRequest) -> HttpResponse:
    """``POST /`` with ``X-Amz-Target: GraniteServiceVersion20100801.<Op>`` (JSON 1.0)."""
    target = request.headers.get("X-Amz-Target", "")
    return _serve(request, JSON, target.removeprefix(f"{TARGET_PREFIX}."))


def query_dispatch(request: HttpRequest, form: dict[str, str]) -> HttpResponse:
    """``POST /`` with a form body ``Action=<Op>&Version=2010-08-01&…`` (query)."""
    return _serve(request, QUERY, form.get("Action", ""))
