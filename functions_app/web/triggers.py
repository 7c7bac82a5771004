"""The dashboard's triggers: the Triggers section of a function's Configuration tab (its URLs,
schedules, topic subscriptions and event source mappings) and the "Queues, topics & streams"
page.

Every form posts an ``action``; each action calls one trigger service, the same one the APIs
call, and a service's refusal comes back as a flash message on the page the form was on.
A function's triggers need ``view_function`` on it to see and ``change_function`` on it to
change; the queues, topics and streams page spans the account, so it needs them on every
function (``access``).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.db.models import Q, QuerySet
from django.http import Http404, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from functions_app.errors import LambdaError
from functions_app.models import Function
from functions_app.services import policy
from functions_app.triggers import function_urls, mappings, queues, schedules, streams, topics
from functions_app.triggers.models import FunctionUrlConfig, Subscription
from functions_app.web.access import (
    CHANGE,
    EVERY_FUNCTION,
    account_editor_required,
    account_viewer_required,
    editor_required,
    function_for,
    permitted,
)

# The trigger services' refusals; each carries its reason, for people, in ``message``.
SERVICE_ERRORS = (LambdaError, queues.QueueError, topics.TopicError, schedules.ScheduleError)
LISTED_MAX = 500
STARTING_POSITIONS = ("TRIM_HORIZON", "LATEST")


def _number(value: str | None) -> int | str | None:
    """A form's number as an int; anything else as typed, for the service to refuse in its words."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        return value


def _uuid(value: str | None) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise Http404(f"No such row: {value!r}.") from None


def _owned(rows: QuerySet, **lookup):
    """One of the function's own rows, or 404: a form may only touch what its page listed."""
    row = rows.filter(**lookup).first()
    if row is None:
        raise Http404("Not found on this function.")
    return row


def _subscriptions_of(function: Function) -> QuerySet:
    """Topic subscriptions that invoke this function (unqualified or through an alias)."""
    arn = function.arn()
    return (
        Subscription.objects.filter(protocol=Subscription.Protocol.LAMBDA)
        .filter(Q(endpoint=arn) | Q(endpoint__startswith=f"{arn}:"))
        .select_related("topic")
        .order_by("topic__name", "endpoint")
    )


def _source_name(source_arn: str) -> str:
    return queues.queue_name_from_arn(source_arn) or streams.stream_name_from_arn(source_arn) or source_arn


def function_triggers(function: Function, *, base_url: str) -> dict:
    """What the Configuration tab's Triggers section lists, and the sources its forms offer."""
    now = timezone.now()
    return {
        "urls": [
            {
                "config": config,
                "url": function_urls.function_url(config, base_url=base_url),
                "origins": (config.cors or {}).get("AllowOrigins") or [],
            }
            for config in function.url_configs.order_by("qualifier")
        ],
        "schedules": [
            {"schedule": schedule, "next_fire": schedules.schedule_next_firing(schedule, now=now)}
            for schedule in function.schedules.order_by("name")
        ],
        "subscriptions": list(_subscriptions_of(function)),
        "mappings": [
            {"mapping": mapping, "source_name": _source_name(mapping.source)}
            for mapping in function.event_source_mappings.order_by("last_modified")
        ],
        "topics": list(topics.topics_of_account().values_list("name", flat=True)[:LISTED_MAX]),
        "queues": [
            (queues.queue_arn(name), name)
            for name in queues.queues_of_account().values_list("name", flat=True)[:LISTED_MAX]
        ],
        "streams": [
            (streams.stream_arn(name), name)
            for name in streams.streams_of_account().values_list("name", flat=True)[:LISTED_MAX]
        ],
        "auth_types": FunctionUrlConfig.AuthType.values,
        "starting_positions": STARTING_POSITIONS,
        "mq_brokers": list(mappings.mq_brokers()),
    }


# A function's triggers: each action takes (function, form) and says what it did.


def _url_create(function: Function, post) -> str:
    origins = [origin for origin in re.split(r"[\s,]+", post.get("origins", "")) if origin]
    config = function_urls.function_url_config_create(
        function=function,
        qualifier=None,
        fields={
            "AuthType": post.get("auth_type", ""),
            "Cors": {"AllowOrigins": origins} if origins else None,
        },
    )
    if config.auth_type == FunctionUrlConfig.AuthType.NONE:
        # As AWS's console does: a public URL needs the function's policy to say so.
        policy.function_url_public_statements_add(function=function, qualifier=None)
        return "Created a public function URL (NONE), and the policy statements that let anyone call it."
    return f"Created a function URL ({config.auth_type})."


def _url_delete(function: Function, post) -> str:
    function_urls.function_url_config_delete(function=function, qualifier=post.get("qualifier") or None)
    return "Deleted the function URL."


def _schedule_create(function: Function, post) -> str:
    schedule = schedules.schedule_create(
        name=post.get("name", "").strip(),
        function=function,
        qualifier="",
        expression=post.get("expression", "").strip(),
        time_zone=post.get("time_zone", "").strip() or "UTC",
    )
    return f"Created schedule {schedule.name}."


def _schedule_enable(function: Function, post) -> str:
    schedule = _owned(function.schedules, name=post.get("schedule", ""))
    enabled = post.get("enabled") == "true"
    schedules.schedule_update(schedule=schedule, enabled=enabled)
    return f"{'Enabled' if enabled else 'Disabled'} schedule {schedule.name}."


def _schedule_delete(function: Function, post) -> str:
    schedule = _owned(function.schedules, name=post.get("schedule", ""))
    schedules.schedule_delete(schedule=schedule)
    return f"Deleted schedule {schedule.name}."


def _subscribe(function: Function, post) -> str:
    topic = topics.topic_get(post.get("topic", ""))
    topics.subscription_create(topic=topic, protocol=Subscription.Protocol.LAMBDA, endpoint=function.arn())
    return f"Subscribed to topic {topic.name}."


def _unsubscribe(function: Function, post) -> str:
    subscription = _owned(_subscriptions_of(function), pk=_uuid(post.get("subscription")))
    topics.subscription_delete(subscription=subscription)
    return f"Unsubscribed from topic {subscription.topic.name}."


def _mapping_create(function: Function, post) -> str:
    fields: dict = {"FunctionName": function.name, "EventSourceArn": post.get("source", "")}
    for key, field in (("batch_size", "BatchSize"), ("batch_window", "MaximumBatchingWindowInSeconds")):
        value = _number(post.get(key))
        if value is not None:
            fields[field] = value
    if post.get("starting_position"):
        fields["StartingPosition"] = post["starting_position"]
    mapping = mappings.mapping_create(fields=fields)
    return f"{_source_name(mapping.source)} now feeds {function.name}."


def _batch_fields(post) -> dict:
    value = _number(post.get("batch_size"))
    return {} if value is None else {"BatchSize": value}


def _mapping_create_rabbitmq(function: Function, post) -> str:
    broker = post.get("broker", "")
    arn = f"arn:aws:mq:{settings.STRATUS_REGION}:{settings.STRATUS_ACCOUNT_ID}:broker:{broker}:stratus"
    queue = post.get("queue", "").strip()
    mappings.mapping_create(
        fields={
            "FunctionName": function.name,
            "EventSourceArn": arn,
            "Queues": [queue],
            **_batch_fields(post),
        }
    )
    return f"RabbitMQ queue {queue} on {broker} now feeds {function.name}."


def _mapping_create_kafka(function: Function, post) -> str:
    servers = [server for server in post.get("bootstrap_servers", "").replace(",", " ").split() if server]
    topic = post.get("topic", "").strip()
    fields = {
        "FunctionName": function.name,
        "SelfManagedEventSource": {"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": servers}},
        "Topics": [topic],
        "StartingPosition": post.get("starting_position") or "TRIM_HORIZON",
        **_batch_fields(post),
    }
    mappings.mapping_create(fields=fields)
    return f"Kafka topic {topic} now feeds {function.name}."


def _mapping_enable(function: Function, post) -> str:
    mapping = _owned(function.event_source_mappings, uuid=_uuid(post.get("mapping")))
    enabled = post.get("enabled") == "true"
    mappings.mapping_update(mapping=mapping, fields={"Enabled": enabled})
    return f"{'Enabling' if enabled else 'Disabling'} the mapping from {_source_name(mapping.source)}."


def _mapping_delete(function: Function, post) -> str:
    mapping = _owned(function.event_source_mappings, uuid=_uuid(post.get("mapping")))
    mappings.mapping_delete(mapping=mapping)
    return f"Deleted the mapping from {_source_name(mapping.source)}."


FUNCTION_ACTIONS: dict[str, Callable[[Function, dict], str]] = {
    "url-create": _url_create,
    "url-delete": _url_delete,
    "schedule-create": _schedule_create,
    "schedule-enable": _schedule_enable,
    "schedule-delete": _schedule_delete,
    "subscribe": _subscribe,
    "unsubscribe": _unsubscribe,
    "mapping-create": _mapping_create,
    "mapping-create-rabbitmq": _mapping_create_rabbitmq,
    "mapping-create-kafka": _mapping_create_kafka,
    "mapping-enable": _mapping_enable,
    "mapping-delete": _mapping_delete,
}


def _perform(request, perform: Callable[[], str]) -> None:
    try:
        messages.success(request, perform())
    except SERVICE_ERRORS as error:
        messages.error(request, error.message)


def _unknown(action: str) -> HttpResponseBadRequest:
    # Plain text: the action is what the client sent, so never echo it back as HTML.
    return HttpResponseBadRequest(f"Unknown action {action!r}.", content_type="text/plain")


@require_POST
@editor_required
def function_trigger_action(request, name: str):
    function = function_for(request, name, CHANGE)
    action = request.POST.get("action", "")
    if action not in FUNCTION_ACTIONS:
        return _unknown(action)
    _perform(request, lambda: FUNCTION_ACTIONS[action](function, request.POST))
    return redirect(f"{reverse('function-detail', args=[name])}?tab=configuration#triggers")


# Queues, streams and topics: each action takes (form, user) and says what it did.


def _queue_create(post, user) -> str:
    timeout = post.get("visibility_timeout", "").strip()
    queue = queues.queue_create(
        name=post.get("name", "").strip(), attributes={"VisibilityTimeout": timeout} if timeout else None
    )
    return f"Created queue {queue.name}."


def _queue_send(post, user) -> str:
    queue = queues.queue_get(post.get("queue", ""))
    message_id = queues.message_send(
        queue=queue, body=post.get("body", ""), sender_id=user.get_username() or "dashboard"
    )
    return f"Sent message {message_id} to {queue.name}."


def _queue_purge(post, user) -> str:
    queue = queues.queue_get(post.get("queue", ""))
    queues.queue_purge(queue=queue)
    return f"Purged {queue.name}."


def _queue_delete(post, user) -> str:
    queue = queues.queue_get(post.get("queue", ""))
    queues.queue_delete(queue=queue)
    return f"Deleted queue {queue.name}."


def _stream_create(post, user) -> str:
    shards = _number(post.get("shard_count"))
    stream = streams.stream_create(
        name=post.get("name", "").strip(), shard_count=1 if shards is None else shards
    )
    return f"Created stream {stream.name} with {stream.shard_count} shard(s)."


def _stream_put(post, user) -> str:
    stream = streams.stream_get(post.get("stream", ""))
    ((shard, sequence),) = streams.records_put(
        stream=stream, records=[(post.get("data", "").encode(), post.get("partition_key", ""))]
    )
    return f"Put a record on {stream.name}, {shard}, sequence number {sequence}."


def _stream_delete(post, user) -> str:
    stream = streams.stream_get(post.get("stream", ""))
    streams.stream_delete(stream=stream)
    return f"Deleted stream {stream.name}."


def _topic_create(post, user) -> str:
    topic = topics.topic_create(name=post.get("name", "").strip())
    return f"Created topic {topic.name}."


def _topic_publish(post, user) -> str:
    topic = topics.topic_get(post.get("topic", ""))
    message_id = topics.topic_publish(
        topic=topic, message=post.get("message", ""), subject=post.get("subject") or None
    )
    return f"Published message {message_id} to {topic.name}."


def _topic_delete(post, user) -> str:
    topic = topics.topic_get(post.get("topic", ""))
    topics.topic_delete(topic=topic)
    return f"Deleted topic {topic.name}."


def _subscription_delete(post, user) -> str:
    subscription = Subscription.objects.filter(
        pk=_uuid(post.get("subscription")), topic__in=topics.topics_of_account()
    ).first()
    if subscription is None:
        raise Http404("No such subscription.")
    topics.subscription_delete(subscription=subscription)
    return f"Deleted the subscription of {subscription.endpoint} to {subscription.topic.name}."


# Action: (the page's section to return to, what it does).
RESOURCE_ACTIONS: dict[str, tuple[str, Callable]] = {
    "queue-create": ("queues", _queue_create),
    "queue-send": ("queues", _queue_send),
    "queue-purge": ("queues", _queue_purge),
    "queue-delete": ("queues", _queue_delete),
    "stream-create": ("streams", _stream_create),
    "stream-put": ("streams", _stream_put),
    "stream-delete": ("streams", _stream_delete),
    "topic-create": ("topics", _topic_create),
    "topic-publish": ("topics", _topic_publish),
    "topic-delete": ("topics", _topic_delete),
    "subscription-delete": ("topics", _subscription_delete),
}


@account_viewer_required
def triggers_page(request):
    queue_rows = []
    for queue in queues.queues_of_account()[:LISTED_MAX]:
        queue_rows.append(
            {
                "queue": queue,
                "counts": queues.queue_store().counts(queue.name),
                "dead_letter": queues.queue_settings(queue).dead_letter_queue,
            }
        )
    stream_rows = []
    for stream in streams.streams_of_account()[:LISTED_MAX]:
        shards = streams.stream_summary(stream)["shards"]
        stream_rows.append(
            {
                "stream": stream,
                "length": sum(shard["length"] for shard in shards),
                "oldest_age_seconds": max((shard["oldest_age_seconds"] for shard in shards), default=0),
            }
        )
    topic_list = topics.topics_of_account().prefetch_related("subscriptions")[:LISTED_MAX]
    return render(
        request,
        "triggers/index.html",
        {
            "queue_rows": queue_rows,
            "stream_rows": stream_rows,
            "topics": topic_list,
            "can_change": permitted(request, CHANGE, EVERY_FUNCTION),
        },
    )


@require_POST
@account_editor_required
def trigger_action(request):
    action = request.POST.get("action", "")
    if action not in RESOURCE_ACTIONS:
        return _unknown(action)
    section, perform = RESOURCE_ACTIONS[action]
    _perform(request, lambda: perform(request.POST, request.user))
    return redirect(f"{reverse('triggers')}#{section}")
