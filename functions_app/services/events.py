"""Asynchronous invocation: accept an event at once, run it later with Lambda's retries.

An accepted event is an RQ job on the ``async`` queue carrying the payload, the qualifier,
the request id, the time it was first accepted and its attempt count. Its live state
(queued, running, retrying) is mirrored in Redis for inspection; an event that ends in
failure handling is kept in the database (FailedEvent) so it can be redriven.
"""

from __future__ import annotations

import time
import uuid

from django.db import transaction
from django.utils import timezone

from functions_app.errors import RequestTooLarge
from functions_app.models import FailedDelivery, FailedEvent, Function
from functions_app.redis_client import redis_client
from functions_app.runtime import events as event_state
from functions_app.services.invoke import InvocationTarget, invocation_target

EVENT_PAYLOAD_MAX = 1024 * 1024  # AWS's current limit for Event invokes
INVOKE_ASYNC_PAYLOAD_MAX = 256 * 1024  # the deprecated InvokeAsync keeps the old limit


def event_accept(
    *,
    target: InvocationTarget,
    payload: bytes,
    trigger: str = "api",
    limit: int = EVENT_PAYLOAD_MAX,
    request_id: str | None = None,
    accepted_at: float | None = None,
) -> str:
    """Queue one event for ``target``; returns its request id. The caller answers 202."""
    if len(payload) > limit:
        raise RequestTooLarge(f"Request must be smaller than {limit} bytes for the InvokeAsync operation")
    version = target.version
    request_id = request_id or str(uuid.uuid4())
    message = {
        "request_id": request_id,
        "function_name": version.function.name,
        "version": version.version,
        "revision_id": version.revision_id,
        "qualifier": target.qualifier,
        "alias": target.alias,
        "invoked_arn": target.invoked_arn,
        "payload": payload,
        "accepted_at": accepted_at or time.time(),
        "enqueued_at": time.time(),
        "attempt": 1,
        "throttles": 0,
        "redeliveries": 0,
        "trigger": trigger,
        "invocation_type": "Event",
        "capture_payloads": version.function.capture_payloads,
    }
    received = {
        "kind": "async_received",
        "request_id": request_id,
        "function": message["function_name"],
        "version": message["version"],
        "qualifier": target.qualifier,
        "started_at": message["accepted_at"],
        "trigger": trigger,
    }
    event_state.event_enqueue(redis_client(), message, record=received)
    return request_id


def event_accept_for(*, function: Function, qualifier: str | None, payload: bytes, trigger: str) -> str:
    """Accept an event for a function named by another part of Stratus (a destination, a trigger)."""
    return event_accept(target=invocation_target(function, qualifier), payload=payload, trigger=trigger)


def failed_events_redrive(*, function: Function, request_ids: list[str] | None) -> list[str]:
    """Run failed events again, keeping their request ids; returns the ids redriven."""
    events = FailedEvent.objects.filter(function=function, redriven_at__isnull=True)
    if request_ids is not None:
        events = events.filter(request_id__in=request_ids)
    redriven = []
    for event in events:
        with transaction.atomic():
            locked = (
                FailedEvent.objects.select_for_update().filter(pk=event.pk, redriven_at__isnull=True).first()
            )
            if locked is None:
                continue
            target = invocation_target(function, locked.qualifier or None)
            event_accept(
                target=target, payload=bytes(locked.payload), trigger="redrive", request_id=locked.request_id
            )
            locked.redriven_at = timezone.now()
            locked.save(update_fields=["redriven_at"])
        redriven.append(event.request_id)
    return redriven


def failed_deliveries_redrive(
    *, function: Function | None = None, topic=None, ids: list[int] | None
) -> list[int]:
    """Deliver a function's (or a topic's) failed deliveries again; returns the ids redriven."""
    from functions_app.services.destinations import delivery_enqueue

    owner = {"function": function} if function is not None else {"topic": topic}
    deliveries = FailedDelivery.objects.filter(**owner, redriven_at__isnull=True)
    if ids is not None:
        deliveries = deliveries.filter(pk__in=ids)
    redriven = []
    for delivery in deliveries:
        updated = FailedDelivery.objects.filter(pk=delivery.pk, redriven_at__isnull=True).update(
            redriven_at=timezone.now()
        )
        if updated:
            delivery_enqueue(
                redis_client(),
                kind=delivery.kind,
                target=delivery.target,
                body=delivery.body,
                function_name=function.name if function is not None else "",
                request_id=delivery.request_id,
                topic_name=topic.name if topic is not None else "",
            )
            redriven.append(delivery.pk)
    return redriven
