"""Stratus's own JSON API (``/api/v1/``), for the dashboard and for scripts.

Callers authenticate with a dashboard session (and its CSRF token for writes) or with a
SigV4-signed request, like the Lambda API. The OpenAPI document at
``/api/v1/openapi.json`` describes every route.
"""

from __future__ import annotations

import json

from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.csrf import csrf_exempt

from awsapi.errors import AwsError
from awsapi.sigv4 import caller_verify
from functions_app.api.http import error_response
from functions_app.api.openapi import OPENAPI
from functions_app.errors import InvalidRequestContent, MethodNotAllowed
from functions_app.models import FailedDelivery, FailedEvent
from functions_app.redis_client import redis_client
from functions_app.runtime import events as event_state
from functions_app.selectors import function_get
from functions_app.services.events import failed_deliveries_redrive, failed_events_redrive
from functions_app.web.access import EVERY_FUNCTION, VIEW, function_check, method_permission, permitted
from iam.tenancy import acting_in
from iam.web.accounts import session_account_id


def _csrf_ok(request) -> bool:
    check = CsrfViewMiddleware(lambda r: None)
    return check.process_view(request, None, (), {}) is None


def api_v1(*, handler_checks_function: bool = False, **handlers):
    """Authenticate (session or SigV4), authorize, dispatch on method, and render errors as JSON.

    Reading needs ``view_function``, anything else ``change_function`` (``access``), judged
    for a signed request on its caller as for a session on its user. A route naming a
    function in its path (``function_name``) needs it on that function; with
    ``handler_checks_function``, on some function here and on the one the handler finds
    there (``function_check``); any other route spans the account (queues, streams, topics)
    and needs it on every function.

    The call acts in the signed caller's account, or the signed-in user's (``iam.tenancy``):
    functions of other accounts are not found."""

    @csrf_exempt
    def view(request, *args, **kwargs):
        try:
            signed = request.headers.get("Authorization", "").startswith("AWS4-HMAC-SHA256")
            if signed:
                request.signed_caller = caller_verify(request)
                request.user = request.signed_caller.user
                account = request.signed_caller.account_id
            elif request.user.is_authenticated:
                account = session_account_id(request.user, request.session)
            else:
                return JsonResponse(
                    {"error": "Sign in, or sign the request with an access key (SigV4)."}, status=401
                )
            with acting_in(account):
                return _authorized_call(request, handlers, handler_checks_function, signed, args, kwargs)
        except PermissionDenied as refusal:
            return JsonResponse({"error": str(refusal)}, status=403)
        except AwsError as error:
            return error_response(error)

    return view


def _authorized_call(request, handlers: dict, handler_checks_function: bool, signed: bool, args, kwargs):
    """Authorize the authenticated request as ``api_v1`` says, then call its method's handler."""
    needed = method_permission(request)
    per_function = handler_checks_function or "function_name" in kwargs
    if not permitted(request, needed, None if per_function else EVERY_FUNCTION):
        what = "" if per_function else " on every function"
        return JsonResponse({"error": f"You need the {needed} permission{what}."}, status=403)
    if not signed and needed != VIEW and not _csrf_ok(request):
        return JsonResponse({"error": "CSRF token missing or incorrect."}, status=403)
    if "function_name" in kwargs:
        function_check(request, function_get(kwargs["function_name"]), needed)
    handler = handlers.get(request.method)
    if handler is None:
        raise MethodNotAllowed(f"{request.method} is not supported on {request.path}.")
    return handler(request, *args, **kwargs)


def _body(request) -> dict:
    if not request.body:
        return {}
    try:
        data = json.loads(request.body)
    except ValueError:
        raise InvalidRequestContent("The request body must be JSON.") from None
    if not isinstance(data, dict):
        raise InvalidRequestContent("The request body must be a JSON object.")
    return data


def _failed_event(event: FailedEvent) -> dict:
    return {
        "requestId": event.request_id,
        "state": "redriven" if event.redriven_at else "failed",
        "qualifier": event.qualifier or None,
        "attempts": event.attempts,
        "condition": event.condition,
        "lastError": f"{event.error_type}: {event.error_message}".strip(": "),
        "acceptedAt": event.accepted_at.isoformat(),
        "failedAt": event.failed_at.isoformat(),
        "redrivenAt": event.redriven_at.isoformat() if event.redriven_at else None,
    }


def _live_event(event: dict) -> dict:
    return {
        "requestId": event["request_id"],
        "state": event["state"],
        "qualifier": event["qualifier"] or None,
        "attempts": event["attempt"] - (0 if event["state"] == "running" else 1),
        "throttles": event["throttles"],
        "redeliveries": event["redeliveries"],
        "lastError": event.get("last_error"),
        "acceptedAt": event["accepted_at"],
        "nextAttemptAt": event["next_at"],
    }


def async_events(request, function_name: str):
    function = function_get(function_name)
    wanted = request.GET.get("state")
    live = [_live_event(event) for event in event_state.events_live(redis_client(), function.name)]
    failed = [_failed_event(event) for event in FailedEvent.objects.filter(function=function)[:500]]
    items = [item for item in live + failed if wanted in (None, "", item["state"])]
    return JsonResponse({"function": function.name, "events": items})


def async_events_redrive(request, function_name: str):
    function = function_get(function_name)
    body = _body(request)
    ids = None if body.get("all") else list(body.get("requestIds") or [])
    return JsonResponse({"redriven": failed_events_redrive(function=function, request_ids=ids)})


def _delivery(delivery: FailedDelivery) -> dict:
    return {
        "id": delivery.pk,
        "requestId": delivery.request_id,
        "kind": delivery.kind,
        "target": delivery.target,
        "error": delivery.error,
        "attempts": delivery.attempts,
        "failedAt": delivery.failed_at.isoformat(),
        "redrivenAt": delivery.redriven_at.isoformat() if delivery.redriven_at else None,
        "body": delivery.body,
    }


def failed_deliveries(request, function_name: str):
    function = function_get(function_name)
    return JsonResponse(
        {
            "function": function.name,
            "deliveries": [_delivery(d) for d in function.failed_deliveries.all()[:500]],
        }
    )


def failed_deliveries_redrive_view(request, function_name: str):
    function = function_get(function_name)
    body = _body(request)
    ids = None if body.get("all") else [int(value) for value in body.get("ids") or []]
    return JsonResponse({"redriven": failed_deliveries_redrive(function=function, ids=ids)})


def openapi(request):
    return JsonResponse(OPENAPI)
