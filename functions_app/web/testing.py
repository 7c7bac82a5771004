"""The Test tab: saved test events, and invoking a function from the browser."""

from __future__ import annotations

import json

from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_POST

from functions_app.errors import InvalidParameterValue, LambdaError
from functions_app.models import TestEvent
from functions_app.runtime.logs import LOG_TAIL_BYTES
from functions_app.services.events import event_accept
from functions_app.services.invoke import invocation_target, invoke_sync
from functions_app.web.access import CHANGE, editor_required, function_for


def _payload(text: str) -> bytes:
    try:
        json.loads(text or "{}")
    except ValueError as exc:
        raise InvalidParameterValue(f"The event is not valid JSON: {exc}") from None
    return (text or "{}").encode()


def _error(error: LambdaError) -> JsonResponse:
    return JsonResponse({"error": error.message, "code": error.code}, status=error.status)


@require_POST
@editor_required
def test_invoke(request, name: str):
    function = function_for(request, name, CHANGE)
    try:
        payload = _payload(request.POST.get("event", ""))
        target = invocation_target(function, request.POST.get("qualifier") or None)
        if request.POST.get("mode") == "async":
            request_id = event_accept(target=target, payload=payload, trigger="dashboard")
            return JsonResponse({"status": 202, "requestId": request_id})
        result = invoke_sync(
            target=target, payload=payload, log_type="Tail", client_context=None, trigger="dashboard"
        )
    except LambdaError as error:
        return _error(error)
    import base64

    record = result.record
    return JsonResponse(
        {
            "status": 200,
            "requestId": result.request_id,
            "functionError": result.function_error,
            "executedVersion": result.executed_version,
            "payload": result.payload.decode("utf-8", "replace"),
            "durationMs": record["duration_ms"],
            "billedDurationMs": record["billed_duration_ms"],
            "maxMemoryMb": record["max_memory_mb"],
            "memorySize": record["memory_size"],
            "cold": record["cold"],
            "initDurationMs": record["init_duration_ms"],
            "log": base64.b64decode(result.log_result).decode("utf-8", "replace")
            if result.log_result
            else "",
            "logLimitBytes": LOG_TAIL_BYTES,
        }
    )


@require_POST
@editor_required
def test_event_save(request, name: str):
    function = function_for(request, name, CHANGE)
    event_name = request.POST.get("name", "").strip()
    try:
        if not event_name or len(event_name) > 100:
            raise InvalidParameterValue("Give the test event a name of at most 100 characters.")
        payload = _payload(request.POST.get("event", "")).decode()
    except LambdaError as error:
        return _error(error)
    TestEvent.objects.update_or_create(
        function=function, name=event_name, defaults={"payload": payload, "updated_at": timezone.now()}
    )
    return JsonResponse({"saved": event_name})


@require_POST
@editor_required
def test_event_delete(request, name: str):
    function = function_for(request, name, CHANGE)
    deleted, _ = TestEvent.objects.filter(function=function, name=request.POST.get("name", "")).delete()
    return JsonResponse({"deleted": bool(deleted)})
