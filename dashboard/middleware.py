"""Around every HTTP request: the unread body drained, one structured (JSON) log line, and
the account it acts in."""

from __future__ import annotations

import json
import logging
import time

from functions_app.api.middleware import API_PATH
from iam.tenancy import acting_in
from iam.web.accounts import session_account_id

logger = logging.getLogger("stratus.request")


# Past this much, a body nobody read is not drained: the connection is closed instead.
DRAIN_MAX_BYTES = 128 * 1024 * 1024


class UnreadBodyMiddleware:
    """Read and drop what a request's body still holds once its response is ready.

    A view may answer without reading the body (a 413 for one over the limit): the server
    would then close the connection while the client is still sending, and the client sees
    a reset instead of the answer. Django's ASGI handler read every body before the view;
    as WSGI (dashboard/asgi.py) the body is read as the view reads it, so this does the rest.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not getattr(request, "_read_started", True):  # Django's own mark: nothing read yet
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if 0 < length <= DRAIN_MAX_BYTES:
                while request.read(64 * 1024):
                    pass
        return response


class RequestLogMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        logger.info(
            json.dumps(
                {
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "ms": round((time.perf_counter() - started) * 1000, 2),
                    "request_id": response.get("x-amzn-RequestId"),
                    "access_key": getattr(request, "access_key_id", None),
                    "user": getattr(getattr(request, "user", None), "username", None) or None,
                    "error": response.get("x-amzn-ErrorType"),
                }
            )
        )
        return response


class AccountMiddleware:
    """Act in the signed-in user's account (``iam.web.accounts``) for the request's duration.

    The AWS APIs set their own, the signed caller's: the Lambda API's paths
    (``LambdaApiMiddleware``), the front door's ``POST /`` and ``/service/…`` (``awsapi.front``)
    and function URLs (which find their function wherever it is) pass through untouched.
    ``/api/v1/`` acts here in the session's account; a SigV4-signed call there in its caller's
    (``functions_app.api.v1``)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if _aws_api(request) or user is None or not user.is_authenticated:
            return self.get_response(request)
        with acting_in(session_account_id(user, request.session)):
            return self.get_response(request)


def _aws_api(request) -> bool:
    path = request.path
    return (
        (path == "/" and request.method == "POST")
        or API_PATH.match(path) is not None
        or path.startswith(("/service/", "/lambda-url/"))
    )
