"""Delivering async results to destinations and dead-letter targets, with retries.

One kind of target per helper: another function (invoked asynchronously with the record as
its event), a Stratus queue (``arn:aws:sqs:...``: a message with the record as its JSON
body), a Stratus topic (``arn:aws:sns:...``: published with the record as the message), and
an ``http(s)://`` webhook (a Stratus extension: POST with the record as JSON). A dead-letter
target gets what Lambda sends one: the original event as the body or message, with the
RequestID, ErrorCode and ErrorMessage attributes.

Topics' http(s) subscriptions use the same job (kind ``subscription``, the request already
shaped by ``triggers.topics``). Every delivery is its own RQ job, so a slow webhook never
holds a worker's invocation loop; a delivery that still fails after its retries is counted
(DestinationDeliveryFailures or DeadLetterErrors) and kept for redrive. A queue or topic
that does not exist is such a failure.
"""

from __future__ import annotations

import json
import logging
import math
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime

import redis
from django.conf import settings
from rq import Queue, get_current_job

from functions_app.runtime.events import ASYNC_QUEUE
from functions_app.runtime.records import record_emit

logger = logging.getLogger("stratus.destinations")

DELIVERY_JOB = "functions_app.services.destinations.deliver"
SUBSCRIPTION = "subscription"
_FAILURE_RECORD_KINDS = {
    "destination": "destination_delivery_failure",
    "dead_letter": "dead_letter_error",
    SUBSCRIPTION: "subscription_delivery_failure",
}
WEBHOOK_TIMEOUT_SECONDS = 10


class DeliveryError(Exception):
    pass


def delivery_enqueue(
    connection: redis.Redis,
    *,
    kind: str,
    target: str,
    body: dict,
    function_name: str,
    request_id: str,
    attempt: int = 1,
    delay_seconds: float = 0,
    topic_name: str = "",
) -> None:
    task = {
        "kind": kind,
        "target": target,
        "body": body,
        "function": function_name,
        "request_id": request_id,
        "attempt": attempt,
        "topic": topic_name,
    }
    queue = Queue(ASYNC_QUEUE, connection=connection)
    options = {"job_timeout": WEBHOOK_TIMEOUT_SECONDS * 3, "result_ttl": 0, "failure_ttl": 7 * 24 * 3600}
    if delay_seconds:
        run_at = datetime.fromtimestamp(math.ceil(time.time() + delay_seconds), UTC)
        queue.enqueue_at(run_at, DELIVERY_JOB, task, **options)
    else:
        queue.enqueue(DELIVERY_JOB, task, **options)


def _post(target: str, data: bytes, headers: dict[str, str]) -> None:
    request = urllib.request.Request(
        target, data=data, method="POST", headers={"User-Agent": "Stratus", **headers}
    )
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"{target} answered {exc.code}") from None
    except (OSError, ValueError) as exc:
        raise DeliveryError(f"{target}: {exc}") from None


def _webhook(target: str, body: dict, request_id: str) -> None:
    headers = {"Content-Type": "application/json", "X-Stratus-Request-Id": request_id}
    _post(target, json.dumps(body).encode(), headers)


def _message_parts(body: dict, *, dead_letter: bool) -> tuple[str, dict[str, dict[str, str]]]:
    """A queue's message body or a topic's message, and its attributes in SQS's and SNS's
    shared ``{"DataType", "StringValue"}`` form. A dead-letter target gets the original event
    with its non-empty RequestID, ErrorCode and ErrorMessage; a destination the record."""
    if not dead_letter:
        return json.dumps(body), {}
    message = body.get("Message")
    attributes = {
        name: {"DataType": value["Type"], "StringValue": value["Value"]}
        for name, value in (body.get("MessageAttributes") or {}).items()
        if value.get("Value")
    }
    return (message if isinstance(message, str) else json.dumps(message)), attributes


def _queue(target: str, body: dict, *, dead_letter: bool) -> None:
    from functions_app.triggers.queues import QueueError, message_send, queue_by_arn

    text, attributes = _message_parts(body, dead_letter=dead_letter)
    try:
        message_send(queue=queue_by_arn(target), body=text, attributes=attributes, sender_id="lambda")
    except QueueError as exc:
        raise DeliveryError(f"{target}: {exc.message}") from None


def _topic(target: str, body: dict, *, dead_letter: bool) -> None:
    from functions_app.triggers.topics import TopicError, topic_by_arn, topic_publish

    text, attributes = _message_parts(body, dead_letter=dead_letter)
    try:
        topic_publish(topic=topic_by_arn(target), message=text, message_attributes=attributes)
    except TopicError as exc:
        raise DeliveryError(f"{target}: {exc.message}") from None


def _function(target: str, body: dict) -> None:
    from functions_app.arns import function_ref_parse
    from functions_app.errors import LambdaError
    from functions_app.selectors import function_get
    from functions_app.services.events import event_accept_for

    try:
        ref = function_ref_parse(target)
        event_accept_for(
            function=function_get(ref),
            qualifier=ref.qualifier,
            payload=json.dumps(body).encode(),
            trigger="destination",
        )
    except LambdaError as exc:
        raise DeliveryError(f"{target}: {exc.message}") from None


def send(target: str, body: dict, *, request_id: str, kind: str = "destination") -> None:
    """Deliver once; raise DeliveryError when the target did not take it."""
    service = target.split(":")[2] if target.startswith("arn:") and target.count(":") >= 2 else ""
    if kind == SUBSCRIPTION:
        _post(target, body["payload"].encode(), body["headers"])
    elif target.startswith(("http://", "https://")):
        _webhook(target, body, request_id)
    elif service == "lambda" and ":function:" in target:
        _function(target, body)
    elif service == "sqs":
        _queue(target, body, dead_letter=kind == "dead_letter")
    elif service == "sns":
        _topic(target, body, dead_letter=kind == "dead_letter")
    else:
        raise DeliveryError(f"{service or target} targets are not supported by Stratus; kept for redrive")


def deliver(task: dict) -> None:
    """The delivery job: one attempt; schedules the next, or records the final failure."""
    connection = get_current_job().connection
    try:
        send(task["target"], task["body"], request_id=task["request_id"], kind=task["kind"])
        return
    except DeliveryError as exc:
        error = str(exc)
    attempt = task["attempt"]
    delays = settings.STRATUS_DELIVERY_RETRY_SECONDS
    if attempt <= len(delays):
        delivery_enqueue(
            connection,
            kind=task["kind"],
            target=task["target"],
            body=task["body"],
            function_name=task["function"],
            request_id=task["request_id"],
            attempt=attempt + 1,
            delay_seconds=delays[attempt - 1],
            topic_name=task.get("topic", ""),
        )
        return
    _failed(connection, task, error)


def _failed(connection: redis.Redis, task: dict, error: str) -> None:
    from functions_app.models import FailedDelivery, Function, Topic

    logger.warning("delivery of %s to %s failed for good: %s", task["request_id"], task["target"], error)
    function = Function.objects.filter(name=task["function"]).first() if task["function"] else None
    topic = Topic.objects.filter(name=task.get("topic")).first() if task.get("topic") else None
    if function is not None or topic is not None:
        FailedDelivery.objects.create(
            function=function,
            topic=topic,
            request_id=task["request_id"],
            kind=task["kind"],
            target=task["target"],
            body=task["body"],
            error=error,
            attempts=task["attempt"],
        )
    record_emit(
        connection,
        {
            "kind": _FAILURE_RECORD_KINDS.get(task["kind"], "dead_letter_error"),
            "request_id": task["request_id"],
            "function": task["function"],
            "target": task["target"],
            "error": error,
        },
    )
