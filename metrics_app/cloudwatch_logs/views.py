"""The entry point of CloudWatch Logs' API: ``POST /`` with ``X-Amz-Target: Logs_20140328.<Op>``.

``dashboard.aws_dispatch`` routes such requests here. Every request is SigV4-signed for the
``logs`` service; a failed check is a 403 in JSON 1.1's error shape.
"""

from __future__ import annotations

import logging
import uuid

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from functions_app.api.sigv4 import caller_verify
from functions_app.errors import LambdaError
from metrics_app.cloudwatch_logs import wire
from metrics_app.cloudwatch_logs.errors import (
    InvalidParameter,
    LogsError,
    UnknownOperation,
    auth_failure,
)
from metrics_app.cloudwatch_logs.operations import OPERATIONS

logger = logging.getLogger("stratus.api")


def _caller_check(request: HttpRequest) -> None:
    try:
        caller = caller_verify(request, service="logs")
    except LambdaError as error:
        raise auth_failure(error) from None
    request.access_key_id = caller.key.access_key_id  # for the request log


@csrf_exempt
def dispatch(request: HttpRequest) -> HttpResponse:
    """Serve one CloudWatch Logs operation, named by the request's ``X-Amz-Target``."""
    request_id = str(uuid.uuid4())
    operation = request.headers.get("X-Amz-Target", "").removeprefix(wire.TARGET_PREFIX)
    try:
        _caller_check(request)
        handler = OPERATIONS.get(operation)
        if handler is None:
            served = f"Stratus serves {', '.join(OPERATIONS)}."
            if wire.operation_known(operation):
                raise UnknownOperation(f"Stratus does not serve CloudWatch Logs' {operation}; {served}")
            raise UnknownOperation(f"{operation!r} is not a CloudWatch Logs operation; {served}")
        return wire.success(handler(wire.request_decode(request, operation)), request_id)
    except LogsError as error:
        return wire.failure(error, request_id)
    except RequestDataTooBig:
        return wire.failure(InvalidParameter("The request body is too large."), request_id)
    except Exception:
        logger.exception("CloudWatch Logs %s failed", operation)
        return wire.failure(
            LogsError("An internal error occurred; the server log has the details."), request_id
        )
