"""Lambda API: the *EventSourceMapping operations (``/2015-03-31/event-source-mappings``)."""

from __future__ import annotations

from django.http import JsonResponse

from functions_app.api.authorization import ALL, MAPPING, lambda_action
from functions_app.api.http import json_body, query_int
from functions_app.arns import function_ref_parse
from functions_app.errors import InvalidParameterValue
from functions_app.selectors import function_get, functions_of_account
from functions_app.triggers import mappings
from functions_app.triggers.models import EventSourceMapping


@lambda_action("lambda:CreateEventSourceMapping", ALL)
def mapping_create(request):
    mapping = mappings.mapping_create(fields=json_body(request))
    return JsonResponse(mappings.mapping_shape(mapping), status=202)


@lambda_action("lambda:GetEventSourceMapping", MAPPING)
def mapping_get(request, mapping_id: str):
    return JsonResponse(mappings.mapping_shape(mappings.mapping_get(mapping_id)))


@lambda_action("lambda:UpdateEventSourceMapping", MAPPING)
def mapping_update(request, mapping_id: str):
    mapping = mappings.mapping_update(mapping=mappings.mapping_get(mapping_id), fields=json_body(request))
    return JsonResponse(mappings.mapping_shape(mapping), status=202)


@lambda_action("lambda:DeleteEventSourceMapping", MAPPING)
def mapping_delete(request, mapping_id: str):
    mapping = mappings.mapping_delete(mapping=mappings.mapping_get(mapping_id))
    return JsonResponse(mappings.mapping_shape(mapping), status=202)


@lambda_action("lambda:ListEventSourceMappings", ALL)
def mappings_list(request):
    found = EventSourceMapping.objects.select_related("function").filter(function__in=functions_of_account())
    found = found.order_by("last_modified", "uuid")
    if request.GET.get("FunctionName"):
        ref = function_ref_parse(request.GET["FunctionName"])
        found = found.filter(function=function_get(ref))
        if ref.qualifier:
            found = found.filter(qualifier=ref.qualifier)
    if request.GET.get("EventSourceArn"):
        found = found.filter(source=request.GET["EventSourceArn"])
    limit = query_int(request, "MaxItems", default=100, low=1, high=10000)
    marker = request.GET.get("Marker") or "0"
    if not marker.isdigit():
        raise InvalidParameterValue(f"Marker {marker!r} is not one this server issued.")
    start = int(marker)
    rows = list(found[start : start + limit + 1])
    body: dict = {"EventSourceMappings": [mappings.mapping_shape(mapping) for mapping in rows[:limit]]}
    if len(rows) > limit:
        body["NextMarker"] = str(start + limit)
    return JsonResponse(body)
