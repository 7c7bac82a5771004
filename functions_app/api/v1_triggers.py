"""``/api/v1/`` routes for triggers: queues, streams, topics and schedules (the dashboard's
browser uses them; scripts may too). Each route calls one service; the services' own errors
become JSON ``{"error": ...}`` with 400, or 404 for what does not exist."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable

from django.http import HttpResponse, JsonResponse

from functions_app.api.v1 import _body
from functions_app.arns import function_ref_parse
from functions_app.errors import InvalidParameterValue, LambdaError, ResourceConflict, ResourceNotFound
from functions_app.selectors import function_get, functions_of_account
from functions_app.triggers import queues, schedules, streams, topics
from functions_app.triggers.models import Queue, Schedule, Stream, Topic
from functions_app.triggers.schedule_expressions import schedule_describe, schedule_parse
from functions_app.web.access import CHANGE, function_check, functions_visible, method_permission


def translated(handler: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Turn the trigger services' errors into the Lambda-style errors api_v1 renders."""

    def view(request, *args, **kwargs):
        try:
            return handler(request, *args, **kwargs)
        except queues.QueueDoesNotExist as error:
            raise ResourceNotFound(error.message) from None
        except queues.QueueError as error:
            raise InvalidParameterValue(error.message) from None
        except schedules.ScheduleConflict as error:
            raise ResourceConflict(error.message) from None
        except schedules.ScheduleError as error:
            raise InvalidParameterValue(error.message) from None
        except topics.TopicError as error:
            if error.code == "NotFound":
                raise ResourceNotFound(error.message) from None
            raise InvalidParameterValue(error.message) from None

    view.__name__ = handler.__name__
    return view


def _queue_summary(queue: Queue) -> dict:
    counts = queues.queue_store().counts(queue.name)
    return {
        "name": queue.name,
        "arn": queues.queue_arn(queue.name),
        "visible": counts["visible"],
        "inFlight": counts["in_flight"],
        "delayed": counts["delayed"],
        "oldestAgeSeconds": counts["oldest_age_seconds"],
        "attributes": queue.attributes,
    }


@translated
def queue_list(request):
    return JsonResponse({"queues": [_queue_summary(queue) for queue in queues.queues_of_account()[:500]]})


@translated
def queue_create(request):
    body = _body(request)
    queue = queues.queue_create(name=str(body.get("name") or ""), attributes=body.get("attributes") or {})
    return JsonResponse(_queue_summary(queue), status=201)


@translated
def queue_detail(request, name: str):
    queue = queues.queue_get(name)
    if request.method == "DELETE":
        queues.queue_delete(queue=queue)
        return HttpResponse(status=204)
    return JsonResponse(_queue_summary(queue))


@translated
def queue_send(request, name: str):
    body = _body(request)
    queue = queues.queue_get(name)
    sender = getattr(request.user, "username", "") or "dashboard"
    message_id = queues.message_send(
        queue=queue, body=str(body.get("body") or ""), attributes=body.get("attributes"), sender_id=sender
    )
    return JsonResponse({"messageId": message_id}, status=201)


@translated
def queue_purge(request, name: str):
    queues.queue_purge(queue=queues.queue_get(name))
    return JsonResponse({"purged": name})


def _stream_get(name: str) -> Stream:
    try:
        return streams.stream_get(name)
    except LambdaError:
        raise ResourceNotFound(f"Stream {name} not found.") from None


def stream_list(request):
    return JsonResponse(
        {"streams": [streams.stream_summary(stream) for stream in streams.streams_of_account()[:500]]}
    )


def stream_create(request):
    body = _body(request)
    stream = streams.stream_create(name=str(body.get("name") or ""), shard_count=body.get("shardCount", 1))
    return JsonResponse(streams.stream_summary(stream), status=201)


def stream_detail(request, name: str):
    stream = _stream_get(name)
    if request.method == "DELETE":
        streams.stream_delete(stream=stream)
        return HttpResponse(status=204)
    return JsonResponse(streams.stream_summary(stream))


def stream_put(request, name: str):
    """``{"records": [{"data": "text"} or {"dataBase64": "..."}, "partitionKey": "..."}]}``"""
    stream = _stream_get(name)
    records = _body(request).get("records")
    if not isinstance(records, list) or not 1 <= len(records) <= 500:
        raise InvalidParameterValue("records must be a list of 1 to 500 records.")
    parsed = []
    for record in records:
        if not isinstance(record, dict) or not isinstance(record.get("partitionKey"), str):
            raise InvalidParameterValue('Each record needs a "partitionKey" and "data" or "dataBase64".')
        if "dataBase64" in record:
            try:
                data = base64.b64decode(record["dataBase64"], validate=True)
            except (binascii.Error, TypeError):
                raise InvalidParameterValue("dataBase64 is not valid base64.") from None
        else:
            data = str(record.get("data", "")).encode()
        parsed.append((data, record["partitionKey"]))
    put = streams.records_put(stream=stream, records=parsed)
    return JsonResponse(
        {"records": [{"shardId": shard, "sequenceNumber": sequence} for shard, sequence in put]}, status=201
    )


def _topic_summary(topic: Topic) -> dict:
    return {
        "name": topic.name,
        "arn": topics.topic_arn(topic.name),
        "failedDeliveries": topic.failed_deliveries.filter(redriven_at__isnull=True).count(),
        "subscriptions": [
            {
                "id": str(subscription.id),
                "arn": topics.subscription_arn(subscription),
                "protocol": subscription.protocol,
                "endpoint": subscription.endpoint,
                "rawMessageDelivery": subscription.raw_message_delivery,
            }
            for subscription in topic.subscriptions.all()
        ],
    }


@translated
def topic_list(request):
    return JsonResponse({"topics": [_topic_summary(topic) for topic in topics.topics_of_account()[:500]]})


@translated
def topic_create(request):
    topic = topics.topic_create(name=str(_body(request).get("name") or ""))
    return JsonResponse(_topic_summary(topic), status=201)


@translated
def topic_detail(request, name: str):
    topic = topics.topic_get(name)
    if request.method == "DELETE":
        topics.topic_delete(topic=topic)
        return HttpResponse(status=204)
    return JsonResponse(_topic_summary(topic))


@translated
def topic_subscribe(request, name: str):
    body = _body(request)
    subscription = topics.subscription_create(
        topic=topics.topic_get(name),
        protocol=str(body.get("protocol") or ""),
        endpoint=str(body.get("endpoint") or ""),
        raw_message_delivery=bool(body.get("rawMessageDelivery")),
    )
    return JsonResponse(
        {"id": str(subscription.id), "arn": topics.subscription_arn(subscription)}, status=201
    )


@translated
def subscription_delete(request, name: str, subscription_id: str):
    topic = topics.topic_get(name)
    subscription = topic.subscriptions.filter(pk=_uuid(subscription_id)).first()
    if subscription is None:
        raise ResourceNotFound(f"Subscription {subscription_id} not found.")
    topics.subscription_delete(subscription=subscription)
    return HttpResponse(status=204)


def _uuid(value: str):
    import uuid

    try:
        return uuid.UUID(value)
    except ValueError:
        raise ResourceNotFound(f"Subscription {value} not found.") from None


@translated
def topic_publish(request, name: str):
    body = _body(request)
    message_id = topics.topic_publish(
        topic=topics.topic_get(name),
        message=str(body.get("message") or ""),
        subject=body.get("subject"),
        message_attributes=body.get("attributes"),
    )
    return JsonResponse({"messageId": message_id}, status=201)


def _schedule_shape(schedule: Schedule) -> dict:
    from django.utils import timezone

    parsed = schedule_parse(schedule.expression, timezone=schedule.time_zone)
    following = schedules.schedule_next_firing(schedule, now=timezone.now())
    return {
        "name": schedule.name,
        "function": schedule.function.name,
        "qualifier": schedule.qualifier or None,
        "expression": schedule.expression,
        "timeZone": schedule.time_zone,
        "description": schedule.description,
        "summary": schedule_describe(parsed),
        "enabled": schedule.enabled,
        "detail": schedule.detail,
        "nextFireAt": following.isoformat() if following else None,
        "lastFiredFor": schedule.last_fired_for.isoformat() if schedule.last_fired_for else None,
        "fireCount": schedule.fire_count,
    }


def _schedule_get(name: str) -> Schedule:
    schedule = (
        Schedule.objects.select_related("function")
        .filter(name=name, function__in=functions_of_account())
        .first()
    )
    if schedule is None:
        raise ResourceNotFound(f"Schedule {name} not found.")
    return schedule


@translated
def schedule_list(request):
    """The schedules of the account's functions the caller may see."""
    found = (
        Schedule.objects.filter(function__in=functions_of_account())
        .select_related("function")
        .prefetch_related("function__policy_statements")
    )
    if request.GET.get("function"):
        found = found.filter(function__name=request.GET["function"])
    found = list(found[:500])
    visible = {
        function.pk for function in functions_visible(request, {schedule.function for schedule in found})
    }
    return JsonResponse(
        {"schedules": [_schedule_shape(schedule) for schedule in found if schedule.function_id in visible]}
    )


@translated
def schedule_create(request):
    body = _body(request)
    ref = function_ref_parse(str(body.get("function") or ""))
    schedule = schedules.schedule_create(
        name=str(body.get("name") or ""),
        function=function_check(request, function_get(ref), CHANGE),
        qualifier=ref.qualifier or body.get("qualifier") or "",
        expression=str(body.get("expression") or ""),
        time_zone=str(body.get("timeZone") or "UTC"),
        enabled=body.get("enabled", True),
        detail=body.get("detail"),
        description=str(body.get("description") or ""),
    )
    return JsonResponse(_schedule_shape(schedule), status=201)


_SCHEDULE_FIELDS = {
    "expression": "expression",
    "timeZone": "time_zone",
    "enabled": "enabled",
    "detail": "detail",
    "description": "description",
    "qualifier": "qualifier",
}


@translated
def schedule_detail(request, name: str):
    schedule = _schedule_get(name)
    function_check(request, schedule.function, method_permission(request))
    if request.method == "DELETE":
        schedules.schedule_delete(schedule=schedule)
        return HttpResponse(status=204)
    if request.method == "PUT":
        body = _body(request)
        unknown = set(body) - set(_SCHEDULE_FIELDS)
        if unknown:
            raise InvalidParameterValue(f"Unknown fields: {', '.join(sorted(unknown))}.")
        schedule = schedules.schedule_update(
            schedule=schedule, **{_SCHEDULE_FIELDS[key]: value for key, value in body.items()}
        )
    return JsonResponse(_schedule_shape(schedule))


@translated
def topic_failed_deliveries(request, name: str):
    from functions_app.api.v1 import _delivery

    topic = topics.topic_get(name)
    return JsonResponse(
        {"topic": topic.name, "deliveries": [_delivery(d) for d in topic.failed_deliveries.all()[:500]]}
    )


@translated
def topic_failed_deliveries_redrive(request, name: str):
    from functions_app.services.events import failed_deliveries_redrive

    topic = topics.topic_get(name)
    body = _body(request)
    ids = None if body.get("all") else [int(value) for value in body.get("ids") or []]
    return JsonResponse({"redriven": failed_deliveries_redrive(topic=topic, ids=ids)})
