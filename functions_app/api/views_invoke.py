"""Lambda API: Invoke (``POST /2015-03-31/functions/{name}/invocations``)."""

from __future__ import annotations

from django.http import HttpResponse, JsonResponse

from functions_app.api.authorization import FUNCTION, lambda_action
from functions_app.arns import function_ref_parse
from functions_app.errors import InvalidParameterValue, InvalidRequestContent
from functions_app.selectors import function_get
from functions_app.services.events import INVOKE_ASYNC_PAYLOAD_MAX, event_accept
from functions_app.services.invoke import client_context_decode, invocation_target, invoke_sync

INVOCATION_TYPES = ("RequestResponse", "Event", "DryRun")


@lambda_action("lambda:InvokeFunction", FUNCTION)
def invoke(request, function_name: str):
    invocation_type = request.headers.get("X-Amz-Invocation-Type") or "RequestResponse"
    if invocation_type not in INVOCATION_TYPES:
        raise InvalidParameterValue(
            f"Value {invocation_type} at 'invocationType' failed to satisfy constraint: Member must satisfy "
            "enum value set: [Event, RequestResponse, DryRun]"
        )
    log_type = request.headers.get("X-Amz-Log-Type") or "None"
    if log_type not in ("None", "Tail"):
        raise InvalidParameterValue(
            f"Value {log_type} at 'logType' failed to satisfy constraint: [None, Tail]"
        )
    raw_context = request.headers.get("X-Amz-Client-Context")
    client_context = client_context_decode(raw_context)
    ref = function_ref_parse(function_name, qualifier=request.GET.get("Qualifier") or None)
    function = function_get(ref)
    target = invocation_target(function, ref.qualifier)
    payload = request.body or b"{}"
    if invocation_type == "RequestResponse" and not _is_json(payload):
        raise InvalidRequestContent("Could not parse request body into json: the payload is not valid JSON.")
    if invocation_type == "DryRun":
        response = HttpResponse(status=204)
        response["X-Amz-Executed-Version"] = target.version.version
        return response
    if invocation_type == "Event":
        request_id = event_accept(target=target, payload=payload)
        response = HttpResponse(status=202)
        response["x-amzn-RequestId"] = request_id
        return response
    result = invoke_sync(target=target, payload=payload, log_type=log_type, client_context=client_context)
    response = HttpResponse(result.payload, status=200, content_type="application/json")
    response["X-Amz-Executed-Version"] = result.executed_version
    response["x-amzn-RequestId"] = result.request_id
    if result.function_error:
        response["X-Amz-Function-Error"] = result.function_error
    if result.log_result is not None:
        response["X-Amz-Log-Result"] = result.log_result
    if raw_context:
        response["X-Amz-Client-Context"] = raw_context
    return response


def _is_json(payload: bytes) -> bool:
    import json

    try:
        json.loads(payload)
    except ValueError:
        return False
    return True


@lambda_action("lambda:InvokeAsync", FUNCTION)
def invoke_async(request, function_name: str):
    """The deprecated InvokeAsync: an Event invoke with the old 256 KB limit."""
    ref = function_ref_parse(function_name)
    target = invocation_target(function_get(ref), ref.qualifier)
    request_id = event_accept(target=target, payload=request.body or b"{}", limit=INVOKE_ASYNC_PAYLOAD_MAX)
    response = JsonResponse({"Status": 202}, status=202)
    response["x-amzn-RequestId"] = request_id
    return response
