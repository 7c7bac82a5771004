"""Function URLs: the Lambda API's *FunctionUrlConfig operations, and the URLs themselves.

A URL request becomes a payload-format-2.0 event, a synchronous invocation through the same
path as Invoke, and an HTTP response by the 2.0 rules (``triggers.url_events``).
"""

from __future__ import annotations

import json
import uuid
from http.cookies import SimpleCookie

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt

from awsapi.errors import AwsError
from awsapi.sigv4 import caller_verify, raw_path
from functions_app.api.authorization import FUNCTION, FUNCTION_UNQUALIFIED, lambda_action
from functions_app.api.http import json_body, paginate
from functions_app.api.serializers import aws_timestamp
from functions_app.arns import function_ref_parse
from functions_app.errors import LambdaError, TooManyRequests
from functions_app.models import Function
from functions_app.selectors import function_get
from functions_app.services.invoke import invocation_target, invoke_sync
from functions_app.triggers import function_urls
from functions_app.triggers.models import FunctionUrlConfig
from functions_app.triggers.url_events import (
    UrlRequest,
    cors_headers,
    url_event_build,
    url_response_from_result,
)

URL_PAYLOAD_MAX = 6 * 1024 * 1024
_URL_PREFIX = "/lambda-url/"


def _function(request, function_name: str) -> tuple[Function, str | None]:
    ref = function_ref_parse(function_name, qualifier=request.GET.get("Qualifier") or None)
    return function_get(ref), ref.qualifier


def _config_shape(config: FunctionUrlConfig, request, *, full: bool = True) -> dict:
    shaped = {
        "FunctionUrl": function_urls.function_url(config, base_url=request.build_absolute_uri("/")),
        "FunctionArn": config.function.arn(config.qualifier or None),
        "AuthType": config.auth_type,
        "CreationTime": aws_timestamp(config.created_at),
        "InvokeMode": config.invoke_mode,
    }
    if config.cors is not None:
        shaped["Cors"] = config.cors
    if full:
        shaped["LastModifiedTime"] = aws_timestamp(config.last_modified)
    return shaped


@lambda_action("lambda:CreateFunctionUrlConfig", FUNCTION)
def url_config_create(request, function_name: str):
    function, qualifier = _function(request, function_name)
    config = function_urls.function_url_config_create(
        function=function, qualifier=qualifier, fields=json_body(request)
    )
    return JsonResponse(_config_shape(config, request, full=False), status=201)


@lambda_action("lambda:GetFunctionUrlConfig", FUNCTION)
def url_config_get(request, function_name: str):
    function, qualifier = _function(request, function_name)
    return JsonResponse(
        _config_shape(function_urls.function_url_config_get(function=function, qualifier=qualifier), request)
    )


@lambda_action("lambda:UpdateFunctionUrlConfig", FUNCTION)
def url_config_update(request, function_name: str):
    function, qualifier = _function(request, function_name)
    config = function_urls.function_url_config_update(
        function=function, qualifier=qualifier, fields=json_body(request)
    )
    return JsonResponse(_config_shape(config, request))


@lambda_action("lambda:DeleteFunctionUrlConfig", FUNCTION)
def url_config_delete(request, function_name: str):
    function, qualifier = _function(request, function_name)
    function_urls.function_url_config_delete(function=function, qualifier=qualifier)
    return HttpResponse(status=204)


@lambda_action("lambda:ListFunctionUrlConfigs", FUNCTION_UNQUALIFIED)
def url_configs_list(request, function_name: str):
    function, _ = _function(request, function_name)
    configs = list(function.url_configs.select_related("function").order_by("qualifier"))
    page, next_marker = paginate(configs, request)
    body: dict = {"FunctionUrlConfigs": [_config_shape(config, request) for config in page]}
    if next_marker:
        body["NextMarker"] = next_marker
    return JsonResponse(body)


# --- the URLs themselves -----------------------------------------------------------------


def _message(status: int, message: str) -> HttpResponse:
    return JsonResponse({"Message": message}, status=status)


def _headers(request: HttpRequest) -> list[tuple[str, str]]:
    scope = getattr(request, "scope", None)
    if scope and "headers" in scope:  # ASGI keeps repeated headers apart
        return [(name.decode("latin-1"), value.decode("latin-1")) for name, value in scope["headers"]]
    return [(name, value) for name, value in request.headers.items()]


def _raw_query(request: HttpRequest) -> str:
    scope = getattr(request, "scope", None)
    if scope and "query_string" in scope:
        return scope["query_string"].decode("latin-1")
    return request.META.get("QUERY_STRING", "")


def _content_length(request: HttpRequest) -> int:
    try:
        return int(request.headers.get("Content-Length") or 0)
    except ValueError:
        return 0  # the server reads what actually arrives; Django's own limit still applies


def _raw_path_below(request: HttpRequest, url_id: str, path: str) -> str:
    """The path below the URL's base as the client sent it (still percent-encoded)."""
    sent = raw_path(request)
    if not sent:
        return "/" + path
    prefix = f"{_URL_PREFIX}{url_id}"
    if sent.startswith(prefix):
        sent = sent[len(prefix) :]
    return sent or "/"


def _iam_authorizer(request: HttpRequest, config: FunctionUrlConfig) -> dict | HttpResponse:
    try:
        caller = caller_verify(request, service="lambda")
    except AwsError:
        return _message(403, "Forbidden")
    if not function_urls.function_url_caller_allowed(config, caller):
        return _message(403, "Forbidden")
    return {
        "accessKey": caller.access_key_id,
        "accountId": caller.account_id,
        "callerId": f"{caller.access_key_id}:{caller.principal_arn.rsplit('/', 1)[-1]}",
        "cognitoIdentity": None,
        "principalOrgId": None,
        "userArn": caller.principal_arn,
        "userId": caller.access_key_id,
    }


def _respond(request: HttpRequest, config: FunctionUrlConfig, response: HttpResponse, *, preflight: bool):
    origin = request.headers.get("Origin")
    method = request.headers.get("Access-Control-Request-Method", "") if preflight else request.method or ""
    extra = cors_headers(
        config.cors,
        origin=origin,
        method=method,
        request_headers=request.headers.get("Access-Control-Request-Headers"),
        preflight=preflight,
    )
    for name, value in extra or []:
        response[name] = value
    return response


def _url_response(result) -> HttpResponse:
    shaped = url_response_from_result(result.payload, function_error=result.function_error)
    response = HttpResponse(shaped.body, status=shaped.status)
    del response["Content-Type"]
    cookies = []
    for name, value in shaped.headers:
        if name.lower() == "set-cookie":
            cookies.append(value)
        else:
            response[name] = value
    if cookies:
        # Django's HttpResponse keeps one value per header name; several Set-Cookie
        # headers go through its cookie jar instead, verbatim.
        response.cookies = _RawCookies(cookies)
    response["x-amzn-RequestId"] = result.request_id
    return response


class _RawCookies(SimpleCookie):
    """Set-Cookie values exactly as the function returned them, one header each."""

    def __init__(self, values: list[str]) -> None:
        super().__init__()
        for index, value in enumerate(values):
            dict.__setitem__(self, f"function-cookie-{index}", _RawCookie(value))


class _RawCookie:
    def __init__(self, value: str) -> None:
        self.value = value

    def output(self, header: str = "") -> str:
        return f"{header} {self.value}".strip() if header else self.value


@csrf_exempt
@xframe_options_exempt  # the function decides how its responses may be framed
def function_url_serve(request: HttpRequest, url_id: str, path: str = "") -> HttpResponse:
    """Serve one request to a function URL (by path, or by host name through the middleware)."""
    config = FunctionUrlConfig.objects.select_related("function").filter(url_id=url_id).first()
    if config is None:
        return _message(404, "Not Found")
    preflight = request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers
    if preflight and config.cors:
        return _respond(request, config, HttpResponse(status=200), preflight=True)
    authorizer = None
    if config.auth_type == FunctionUrlConfig.AuthType.AWS_IAM:
        authorizer = _iam_authorizer(request, config)
        if isinstance(authorizer, HttpResponse):
            return authorizer
    elif not function_urls.function_url_caller_allowed(config, None):
        # A NONE URL is public only when the function's policy says so (AWS's two statements).
        return _message(403, "Forbidden")
    if _content_length(request) > URL_PAYLOAD_MAX or len(request.body) > URL_PAYLOAD_MAX:
        return _message(413, "Request must be smaller than 6291456 bytes for the InvokeFunction operation")
    request_id = str(uuid.uuid4())
    url_request = UrlRequest(
        method=request.method or "GET",
        raw_path=_raw_path_below(request, url_id, path),
        raw_query_string=_raw_query(request),
        headers=_headers(request),
        body=request.body,
        source_ip=request.META.get("REMOTE_ADDR", ""),
        url_id=url_id,
        domain_name=request.get_host(),
        request_id=request_id,
        received_at=timezone.now(),
    )
    event = url_event_build(url_request, account_id=settings.STRATUS_ACCOUNT_ID, authorizer_iam=authorizer)
    try:
        target = invocation_target(config.function, config.qualifier or None)
        result = invoke_sync(
            target=target,
            payload=json.dumps(event).encode(),
            log_type="None",
            client_context=None,
            trigger="url",
        )
    except TooManyRequests:
        return _respond(request, config, _message(429, "Rate Exceeded."), preflight=False)
    except LambdaError:
        return _respond(request, config, _message(502, "Internal Server Error"), preflight=False)
    return _respond(request, config, _url_response(result), preflight=False)


class FunctionUrlHostMiddleware:
    """Route ``<url-id>.<STRATUS_FUNCTION_URL_DOMAIN>`` host names to their function URL."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        domain = settings.STRATUS_FUNCTION_URL_DOMAIN
        if domain:
            host = request.META.get("HTTP_HOST", "").rsplit(":", 1)[0].lower()
            url_id, _, rest = host.partition(".")
            if rest == domain and url_id:
                return function_url_serve(request, url_id, request.path.lstrip("/"))
        return self.get_response(request)
