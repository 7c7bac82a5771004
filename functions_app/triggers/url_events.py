"""Function URLs: the payload-format-2.0 event, the 2.0 response rules, and CORS headers.

Pure translation between plain data and what Lambda function URLs send and accept
(LAMBDA_CONTRACT.md section 7). The HTTP view builds a ``UrlRequest``, invokes the function
with ``url_event_build(...)``, and turns the result into HTTP with ``url_response_from_result``
and ``cors_headers``.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TEXT_TYPES = frozenset(
    {
        "application/json",
        "application/xml",
        "application/javascript",
        "application/x-www-form-urlencoded",
    }
)
_ERROR_BODY = b'{"Message":"Internal Server Error"}'


@dataclass(frozen=True)
class UrlRequest:
    """One HTTP request to a function URL, as received.

    ``raw_path`` is the path below the URL's base, starting with ``/``; ``raw_query_string``
    has no ``?`` and is not decoded; ``headers`` keep their order, case and repeats.
    """

    method: str
    raw_path: str
    raw_query_string: str
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str
    url_id: str
    domain_name: str
    request_id: str
    received_at: datetime
    protocol: str = "HTTP/1.1"


@dataclass(frozen=True)
class UrlResponse:
    """The HTTP response to send; ``headers`` may repeat a name (``Set-Cookie``)."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


class _InvalidResponse(Exception):
    """The function's result breaks the 2.0 response rules; it is served as 502."""


def url_event_build(request: UrlRequest, *, account_id: str, authorizer_iam: dict | None = None) -> dict:
    """Return the payload-format-2.0 event a function URL sends for ``request``."""
    if request.received_at.tzinfo is None:
        raise ValueError("received_at must be timezone-aware")
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in request.headers:
        name = name.lower()
        if name == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
        elif name in headers:
            headers[name] = f"{headers[name]},{value}"
        else:
            headers[name] = value

    received = request.received_at.astimezone(UTC)
    request_context: dict = {
        "accountId": account_id,
        "apiId": request.url_id,
        # The contract lists authentication as null for function URLs.
        "authentication": None,
        "domainName": request.domain_name,
        "domainPrefix": request.domain_name.split(":", 1)[0].split(".", 1)[0],
        "http": {
            "method": request.method.upper(),
            "path": request.raw_path,
            "protocol": request.protocol,
            "sourceIp": request.source_ip,
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": request.request_id,
        "routeKey": "$default",
        "stage": "$default",
        "time": _clf_time(received),
        "timeEpoch": (received - _EPOCH) // timedelta(milliseconds=1),
    }
    # With AuthType NONE the key is left out (the contract allows null; a handler's
    # .get("authorizer") reads both the same); with AWS_IAM it carries the verified caller.
    if authorizer_iam is not None:
        request_context["authorizer"] = {"iam": authorizer_iam}

    event: dict = {"version": "2.0", "routeKey": "$default", "rawPath": request.raw_path}
    event["rawQueryString"] = request.raw_query_string
    # AWS omits cookies, queryStringParameters and body when there are none.
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    if request.raw_query_string:
        event["queryStringParameters"] = _query_parameters(request.raw_query_string)
    event["requestContext"] = request_context
    is_base64 = False
    if request.body:
        text = _body_text(request.body, headers.get("content-type"))
        is_base64 = text is None
        event["body"] = base64.b64encode(request.body).decode("ascii") if is_base64 else text
    event["isBase64Encoded"] = is_base64
    # Real function URLs leave these two out; the contract (section 7) shows them as null, and
    # handlers written for API Gateway read them, so we follow the contract and send null.
    event["pathParameters"] = None
    event["stageVariables"] = None
    return event


def url_response_from_result(payload: bytes, *, function_error: str | None) -> UrlResponse:
    """Turn an invocation result into the HTTP response, by the payload-format-2.0 rules.

    A function error, invalid JSON or a malformed ``statusCode`` response becomes a 502.
    """
    if function_error is not None:
        return _bad_gateway()
    if not payload.strip():
        return UrlResponse(status=200, headers=[], body=b"")
    try:
        result = json.loads(payload)
    except (UnicodeDecodeError, ValueError):
        return _bad_gateway()
    if not isinstance(result, dict) or "statusCode" not in result:
        # Any other JSON is the body itself, its JSON text as the function returned it.
        return UrlResponse(status=200, headers=[("content-type", "application/json")], body=payload)
    try:
        return _structured_response(result)
    except _InvalidResponse:
        return _bad_gateway()


def cors_headers(
    cors: dict | None, *, origin: str | None, method: str, request_headers: str | None, preflight: bool
) -> list[tuple[str, str]] | None:
    """Return the CORS headers for a request to a function URL with the ``Cors`` config ``cors``.

    ``method`` is the value of ``Access-Control-Request-Method`` for a preflight, otherwise the
    request's method; ``request_headers`` is ``Access-Control-Request-Headers``. Returns None
    when CORS is not configured, the origin is missing or not allowed, or a preflight asks for
    a method that is not allowed: the caller then sends no CORS headers.
    """
    if not cors or not origin:
        return None
    allowed_origins = [entry.lower() for entry in cors.get("AllowOrigins") or []]
    any_origin = "*" in allowed_origins
    if not any_origin and origin.lower() not in allowed_origins:
        return None
    credentials = bool(cors.get("AllowCredentials"))
    allowed_methods = [entry.upper() for entry in cors.get("AllowMethods") or []]
    if preflight and "*" not in allowed_methods and method.upper() not in allowed_methods:
        return None

    # A credentialed response may not use "*", so the origin is echoed and caches told it varies.
    if any_origin and not credentials:
        result = [("Access-Control-Allow-Origin", "*")]
    else:
        result = [("Access-Control-Allow-Origin", origin), ("Vary", "Origin")]
    if credentials:
        result.append(("Access-Control-Allow-Credentials", "true"))
    if not preflight:
        if cors.get("ExposeHeaders"):
            result.append(("Access-Control-Expose-Headers", ",".join(cors["ExposeHeaders"])))
        return result

    # Browsers ignore "*" in these two on a credentialed request; echoing what was asked works always.
    methods = method.upper() if "*" in allowed_methods else ",".join(allowed_methods)
    result.append(("Access-Control-Allow-Methods", methods))
    allowed_headers = cors.get("AllowHeaders") or []
    if "*" in allowed_headers:
        if request_headers:
            result.append(("Access-Control-Allow-Headers", request_headers))
    elif allowed_headers:
        result.append(("Access-Control-Allow-Headers", ",".join(allowed_headers)))
    if cors.get("MaxAge") is not None:
        result.append(("Access-Control-Max-Age", str(cors["MaxAge"])))
    return result


def _clf_time(moment: datetime) -> str:
    # Built by hand rather than with %b, whose month names follow the process locale.
    month = _MONTHS[moment.month - 1]
    return f"{moment.day:02d}/{month}/{moment.year}:{moment:%H:%M:%S} +0000"


def _query_parameters(raw_query_string: str) -> dict[str, str]:
    parameters: dict[str, str] = {}
    for key, value in parse_qsl(raw_query_string, keep_blank_values=True):
        parameters[key] = f"{parameters[key]},{value}" if key in parameters else value
    return parameters


def _body_text(body: bytes, content_type: str | None) -> str | None:
    """The body as text when its content type is textual and it is UTF-8, else None."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    textual = (
        media_type.startswith("text/") or media_type in _TEXT_TYPES or media_type.endswith(("+json", "+xml"))
    )
    if not textual:
        return None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _structured_response(result: dict) -> UrlResponse:
    status = result["statusCode"]
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise _InvalidResponse("statusCode")

    headers: list[tuple[str, str]] = []
    raw_headers = result.get("headers") or {}
    if not isinstance(raw_headers, dict):
        raise _InvalidResponse("headers")
    for name, value in raw_headers.items():
        headers.append((name, value if isinstance(value, str) else json.dumps(value)))
    cookies = result.get("cookies") or []
    if not isinstance(cookies, list) or not all(isinstance(cookie, str) for cookie in cookies):
        raise _InvalidResponse("cookies")
    headers.extend(("Set-Cookie", cookie) for cookie in cookies)
    # A CR or LF would let the function write its own headers into ours.
    if any(ch in text for header in headers for text in header for ch in "\r\n"):
        raise _InvalidResponse("header with a line break")
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("content-type", "application/json"))

    body = result.get("body")
    if body is None:
        return UrlResponse(status=status, headers=headers, body=b"")
    if not isinstance(body, str):
        raise _InvalidResponse("body")
    if result.get("isBase64Encoded") is True:
        try:
            return UrlResponse(status=status, headers=headers, body=base64.b64decode(body, validate=True))
        except (binascii.Error, ValueError) as error:
            raise _InvalidResponse("body") from error
    try:
        return UrlResponse(status=status, headers=headers, body=body.encode("utf-8"))
    except UnicodeEncodeError as error:  # a lone surrogate, which JSON allows and UTF-8 does not
        raise _InvalidResponse("body") from error


def _bad_gateway() -> UrlResponse:
    return UrlResponse(status=502, headers=[("content-type", "application/json")], body=_ERROR_BODY)
