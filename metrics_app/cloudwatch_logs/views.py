"""The entry point of CloudWatch Logs' API: ``POST /`` with ``X-Amz-Target: Logs_20140328.<Op>``.

``dashboard.aws_dispatch`` routes such requests here. Every request is SigV4-signed for the
``logs`` service; a failed check is a 403 in JSON 1.1's error shape. Every operation is then
authorized as ``logs:<Operation>`` on the log group it names, written as CloudWatch Logs writes
it in a refusal (``…:log-group:NAME:log-stream:``, the stream's name after it when one is
given); a refusal is ``AccessDeniedException``, HTTP 400.
"""

from __future__ import annotations

import logging
import uuid

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from functions_app.api.sigv4 import SignedCaller, caller_verify
from functions_app.errors import LambdaError
from iam.authorization import operation_denial
from metrics_app.cloudwatch_logs import wire
from metrics_app.cloudwatch_logs.errors import (
    AccessDenied,
    InvalidParameter,
    LogsError,
    UnknownOperation,
    auth_failure,
)
from metrics_app.cloudwatch_logs.operations import OPERATIONS, group_arn

logger = logging.getLogger("stratus.api")


def _caller_check(request: HttpRequest) -> SignedCaller:
    try:
        caller = caller_verify(request, service="logs")
    except LambdaError as error:
        raise auth_failure(error) from None
    request.access_key_id = caller.access_key_id  # for the request log
    return caller


def _resource(params: dict) -> str:
    """The log group (and stream) the request names; with no group, the account's groups as
    AWS writes them (``log-group::log-stream:``), which only a policy on every group matches."""
    group = params.get("logGroupName") or params.get("logGroupIdentifier") or ""
    arn = group.removesuffix(":*") if group.startswith("arn:") else group_arn(group)
    return f"{arn}:log-stream:{params.get('logStreamName') or ''}"


def _authorize(caller: SignedCaller, operation: str, params: dict) -> None:
    denial = operation_denial(caller, action=f"logs:{operation}", resource=_resource(params))
    if denial is not None:
        raise AccessDenied(denial)


@csrf_exempt
def dispatch(request: HttpRequest) -> HttpResponse:
    """Serve one CloudWatch Logs operation, named by the request's ``X-Amz-Target``."""
    request_id = str(uuid.uuid4())
    operation = request.headers.get("X-Amz-Target", "").removeprefix(wire.TARGET_PREFIX)
    try:
        caller = _caller_check(request)
        handler = OPERATIONS.get(operation)
        if handler is None:
            served = f"Stratus serves {', '.join(OPERATIONS)}."
            if wire.operation_known(operation):
                raise UnknownOperation(f"Stratus does not serve CloudWatch Logs' {operation}; {served}")
            raise UnknownOperation(f"{operation!r} is not a CloudWatch Logs operation; {served}")
        params = wire.request_decode(request, operation)
        _authorize(caller, operation, params)
        return wire.success(handler(params), request_id)
    except LogsError as error:
        return wire.failure(error, request_id)
    except RequestDataTooBig:
        return wire.failure(InvalidParameter("The request body is too large."), request_id)
    except Exception:
        logger.exception("CloudWatch Logs %s failed", operation)
        return wire.failure(
            LogsError("An internal error occurred; the server log has the details."), request_id
        )
