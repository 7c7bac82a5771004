"""What every request to an AWS-compatible API goes through before its view.

Paths that start with an API date (``/2015-03-31/…``) get a request id, AWS's body-size
limits, SigV4 authentication and AWS-shaped errors. Other paths pass untouched.
"""

from __future__ import annotations

import logging
import re
import uuid
from datetime import datetime

from django.http import HttpResponse
from django.utils import timezone

from awsapi.errors import AwsError, SignatureError
from awsapi.sigv4 import caller_verify
from functions_app.api.http import error_response
from functions_app.errors import LambdaError, RequestTooLarge, ServiceFault
from functions_app.models import AccessKey
from iam.tenancy import acting_in

logger = logging.getLogger("stratus.api")

API_PATH = re.compile(r"^/\d{4}-\d{2}-\d{2}/")
# Largest body each kind of request may carry. CreateFunction/UpdateFunctionCode carry a
# base64 zip (AWS: 70,167,211 bytes of request); Invoke 6 MB; everything else is small JSON.
_BODY_LIMITS = (
    (
        re.compile(r"^/2015-03-31/functions/[^/]+/invocations$"),
        6 * 1024 * 1024,
        "Request must be smaller than 6291456 bytes for the InvokeFunction operation",
    ),
    (
        re.compile(r"^/2014-11-13/functions/[^/]+/invoke-async/?$"),
        256 * 1024,
        "Request must be smaller than 262144 bytes for the InvokeAsync operation",
    ),
    (
        re.compile(r"^/2015-03-31/functions(/[^/]+/code)?/?$"),
        70_167_211,
        "Request must be smaller than 70167211 bytes for the CreateFunction or UpdateFunctionCode operation",
    ),
)
_DEFAULT_LIMIT = 1024 * 1024
_LAST_USED_RESOLUTION_SECONDS = 60
# When this process last wrote each key's last-used time (by key pk), at most this many.
_touched: dict[int, datetime] = {}
_TOUCHED_MAX = 4096


def _body_limit(path: str) -> tuple[int, str]:
    for pattern, limit, message in _BODY_LIMITS:
        if pattern.match(path):
            return limit, message
    return _DEFAULT_LIMIT, f"Request must be smaller than {_DEFAULT_LIMIT} bytes"


class LambdaApiMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not API_PATH.match(request.path):
            return self.get_response(request)
        request_id = str(uuid.uuid4())
        request.aws_request_id = request_id
        # SigV4 replaces cookies and CSRF tokens for API callers.
        request._dont_enforce_csrf_checks = True
        try:
            self._body_size_check(request)
            caller = caller_verify(request, service="lambda")
        except AwsError as error:
            return error_response(error, request_id)
        request.signed_caller = caller
        request.access_key_id = caller.access_key_id
        request.user = caller.user
        if isinstance(caller.key, AccessKey):  # an STS session has no last-used time
            self._touch(caller.key)
        with acting_in(caller.account_id):
            response = self.get_response(request)
        if "x-amzn-RequestId" not in response:  # Invoke answers with the invocation's own id
            response["x-amzn-RequestId"] = request_id
        return response

    def process_exception(self, request, exception):
        if not API_PATH.match(request.path):
            return None
        # Lambda's own errors and the signature check's; anything else (another service's
        # error included) is a bug, answered as Lambda's ServiceException.
        if not isinstance(exception, LambdaError | SignatureError):
            logger.exception("unhandled error in %s %s", request.method, request.path)
            exception = ServiceFault("An internal error occurred; the server log has the details.")
        return error_response(exception, getattr(request, "aws_request_id", None))

    @staticmethod
    def _body_size_check(request) -> None:
        limit, message = _body_limit(request.path)
        try:
            length = int(request.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        if length > limit:
            raise RequestTooLarge(message)

    @staticmethod
    def _touch(key: AccessKey) -> None:
        now = timezone.now()
        # The key may come from a cache filled before this process last wrote its time.
        last_used = max(filter(None, (key.last_used_at, _touched.get(key.pk))), default=None)
        if last_used is None or (now - last_used).total_seconds() > _LAST_USED_RESOLUTION_SECONDS:
            AccessKey.objects.filter(pk=key.pk).update(last_used_at=now)
            if len(_touched) >= _TOUCHED_MAX:
                _touched.clear()
            _touched[key.pk] = now


def unknown_operation(request, *args, **kwargs) -> HttpResponse:
    from functions_app.errors import UnknownOperation

    raise UnknownOperation(f"No Lambda operation matches {request.method} {request.path}.")
