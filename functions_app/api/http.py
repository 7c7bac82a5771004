"""Request parsing and response rendering for the AWS-compatible APIs."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from awsapi.errors import AwsError
from awsapi.protocols import REST_JSON
from functions_app.api.authorization import request_audit, request_authorize
from functions_app.errors import InvalidParameterValue, InvalidRequestContent, LambdaError, MethodNotAllowed


def error_response(error: AwsError, request_id: str | None = None) -> HttpResponse:
    """``error`` as Lambda's REST API answers it."""
    return REST_JSON.failure(error, request_id)


def json_body(request: HttpRequest) -> dict[str, Any]:
    """The request's JSON object; an empty body is an empty object."""
    if not request.body:
        return {}
    try:
        data = json.loads(request.body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidRequestContent(f"Could not parse request body into json: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidRequestContent("The request body must be a JSON object.")
    return data


def query_int(request: HttpRequest, name: str, *, default: int, low: int, high: int) -> int:
    raw = request.GET.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidParameterValue(f"{name} must be an integer, got {raw!r}.") from None
    if not low <= value <= high:
        raise InvalidParameterValue(f"{name} must be between {low} and {high}, got {value}.")
    return value


def methods(**handlers: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """One URL, one handler per HTTP method: ``methods(GET=get_fn, POST=create_fn)``."""

    @csrf_exempt
    def dispatch(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        handler = handlers.get(request.method or "")
        if handler is None:
            raise MethodNotAllowed(f"{request.method} is not supported on {request.path}.")
        allowed = request_authorize(request, handler, kwargs)
        try:
            response = handler(request, *args, **kwargs)
        except LambdaError as error:
            request_audit(request, allowed, error.status)
            raise
        request_audit(request, allowed, response.status_code)
        return response

    return dispatch


def paginate(
    items: list, request: HttpRequest, *, default_max: int = 50, cap: int = 50
) -> tuple[list, str | None]:
    """Slice ``items`` by AWS's Marker/MaxItems; the marker is the offset of the next page."""
    max_items = min(query_int(request, "MaxItems", default=default_max, low=1, high=10000), cap)
    marker = request.GET.get("Marker") or "0"
    if not marker.isdigit():
        raise InvalidParameterValue(f"Marker {marker!r} is not one this server issued.")
    start = int(marker)
    page = items[start : start + max_items]
    next_marker = str(start + max_items) if start + max_items < len(items) else None
    return page, next_marker
