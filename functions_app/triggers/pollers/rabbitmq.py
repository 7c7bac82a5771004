"""The Amazon MQ (RabbitMQ) poller: one consumer per mapping on the mapping's queue, as Lambda
consumes an Amazon MQ for RabbitMQ broker.

- One unit per mapping: its lease makes one poller the queue's consumer; RabbitMQ never hands
  one delivery to two consumers, so a unit changing hands cannot duplicate work.
- The channel's prefetch is BatchSize; a batch is what arrives within the batching window, up
  to BatchSize, shaped as AWS's ``aws:rmq`` event (``rmqMessagesByQueue``, ``<queue>::<vhost>``).
- FilterCriteria match the decoded ``data`` (a JSON object, else the text); a message no
  filter matches is acknowledged and dropped, as AWS drops it.
- A batch the function processed is acknowledged (``multiple`` up to its last delivery); a
  failed or throttled batch is rejected and requeued, so it comes back with ``redelivered``
  true. A poison message is requeued until the queue's own delivery limit or dead-letter
  policy takes it, as on AWS. Delivery is at least once: a connection lost between the
  invoke and the acknowledgement redelivers the batch.
- The function runs in a helper thread while this thread keeps serving the connection, so
  heartbeats flow during a fifteen-minute invoke and the broker does not drop the consumer.
- The broker is ``STRATUS_MQ_BROKERS``'s URL for the ARN's broker name (its credentials stand
  in for the BASIC_AUTH secret). Connection errors, a missing queue or a missing broker are
  written to LastProcessingResult and retried with backoff; the thread never dies of them.
- ``stop`` is honoured within about a second, except during an invoke, which runs to its end
  so that its batch is settled.
"""

from __future__ import annotations

import base64
import datetime
import decimal
import json
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass

import pika
from django.db import connection as db_connection
from pika.exceptions import AMQPError, ChannelClosedByBroker

from functions_app.errors import InvalidParameterValue
from functions_app.triggers.filter_patterns import patterns_match, stream_filter_view
from functions_app.triggers.mappings import mq_broker_url
from functions_app.triggers.models import EventSourceMapping
from functions_app.triggers.pollers.base import (
    BatchOutcome,
    ProcessingResult,
    backoff,
    batch_invoke,
    mapping_load,
    sleep_unless,
)

logger = logging.getLogger("stratus.pollers")
# pika logs every connection's life at INFO; the poller's own lines say what matters.
logging.getLogger("pika").setLevel(logging.WARNING)

WAIT_STEP = 1.0  # the longest this thread blocks on the broker without looking at ``stop``
HEARTBEAT_SECONDS = 30
RESULT_OK = "OK"
RESULT_FUNCTION_FAILED = "PROBLEM: Function call failed"
RESULT_THROTTLED = "PROBLEM: Function call throttled"


def units(mapping) -> list[str]:
    """One consumer per mapping."""
    return [f"{mapping.uuid}:rmq"]


@dataclass(frozen=True)
class Delivery:
    tag: int
    redelivered: bool
    properties: pika.BasicProperties
    body: bytes


def rmq_message(*, properties: pika.BasicProperties, redelivered: bool, body: bytes) -> dict:
    """One message as AWS's RabbitMQ event shows it: its basic properties, the flag, base64 data."""
    return {
        "basicProperties": {
            "contentType": properties.content_type,
            "contentEncoding": properties.content_encoding,
            "headers": _amqp_value(properties.headers) if properties.headers is not None else None,
            "deliveryMode": properties.delivery_mode,
            "priority": properties.priority,
            "correlationId": properties.correlation_id,
            "replyTo": properties.reply_to,
            "expiration": properties.expiration,
            "messageId": properties.message_id,
            "timestamp": _java_date(properties.timestamp) if properties.timestamp is not None else None,
            "type": properties.type,
            "userId": properties.user_id,
            "appId": properties.app_id,
            "clusterId": properties.cluster_id,
            "bodySize": len(body),
        },
        "redelivered": redelivered,
        "data": base64.b64encode(body).decode(),
    }


def rmq_event(*, arn: str, queue: str, vhost: str, messages: list[dict]) -> dict:
    return {
        "eventSource": "aws:rmq",
        "eventSourceArn": arn,
        "rmqMessagesByQueue": {f"{queue}::{vhost}": messages},
    }


def rmq_filter_view(message: dict, body: bytes) -> dict:
    """The message as a filter sees it: ``data`` decoded (a JSON object, else the text)."""
    return stream_filter_view(message, body)


def _amqp_value(value):
    """A header value in the event's JSON: strings as ``{"bytes": [...]}``, as AWS shows them."""
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, bytes | bytearray):
        return {"bytes": list(value)}
    if isinstance(value, dict):
        return {str(key): _amqp_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_amqp_value(item) for item in value]
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, datetime.datetime):
        return _java_date(value.replace(tzinfo=datetime.UTC).timestamp())
    return value


def _java_date(seconds: float) -> str:
    """The AMQP timestamp as AWS prints it (Java's default format): ``Jan 1, 1970, 12:33:41 AM``."""
    moment = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
    hour = moment.hour % 12 or 12
    half = "AM" if moment.hour < 12 else "PM"
    return f"{moment:%b} {moment.day}, {moment.year}, {hour}:{moment:%M:%S} {half}"


class _ConsumerCancelled(Exception):
    """The broker cancelled the consumer (the queue was deleted): reconnect and look again."""


class _QueueConsumer:
    """A connection and channel consuming one queue, with the deliveries not yet batched."""

    def __init__(self, url: str, queue: str, prefetch: int) -> None:
        parameters = pika.URLParameters(url)
        parameters.connection_attempts = 1
        parameters.socket_timeout = 5
        parameters.heartbeat = HEARTBEAT_SECONDS
        parameters.blocked_connection_timeout = 60
        parameters.client_properties = {"connection_name": f"stratus poller {queue}"}
        self.vhost = parameters.virtual_host
        self.queue = queue
        self.received: deque[Delivery] = deque()
        self.connection = pika.BlockingConnection(parameters)
        try:
            self.channel = self.connection.channel()
            self.channel.queue_declare(queue, passive=True)  # AWS consumes a queue; it never creates one
            self.prefetch = 0
            self.prefetch_set(prefetch)
            self.channel.basic_consume(queue, self._on_delivery, auto_ack=False)
        except BaseException:
            self.close()
            raise

    def _on_delivery(self, channel, method, properties, body) -> None:
        self.received.append(Delivery(method.delivery_tag, bool(method.redelivered), properties, body))

    def prefetch_set(self, count: int) -> None:
        if count != self.prefetch:
            self.channel.basic_qos(prefetch_count=min(count, 65535))
            self.prefetch = count

    def serve(self, seconds: float) -> None:
        """Handle I/O (deliveries, heartbeats) for up to ``seconds``; back early on a delivery."""
        self.connection.process_data_events(time_limit=max(0.0, seconds))
        if not self.channel.consumer_tags:
            raise _ConsumerCancelled(self.queue)

    def wait(self, seconds: float, stop) -> None:
        deadline = time.monotonic() + seconds
        while not stop.is_set() and (remaining := deadline - time.monotonic()) > 0:
            self.serve(min(remaining, WAIT_STEP))

    def batch(self, *, size: int, window: float, stop) -> list[Delivery]:
        """Up to ``size`` deliveries: the first within a second, the rest within the window."""
        deadline = time.monotonic() + WAIT_STEP
        while not self.received and not stop.is_set() and (remaining := deadline - time.monotonic()) > 0:
            self.serve(remaining)
        if not self.received or stop.is_set():
            return []
        self.serve(0)
        deadline = time.monotonic() + window
        while (
            len(self.received) < size and not stop.is_set() and (remaining := deadline - time.monotonic()) > 0
        ):
            self.serve(min(remaining, WAIT_STEP))
        return [self.received.popleft() for _ in range(min(size, len(self.received)))]

    def invoke(self, mapping: EventSourceMapping, event: dict) -> BatchOutcome | None:
        """Invoke in a helper thread while serving the connection; None when the invoke raised."""
        answer: dict[str, BatchOutcome] = {}

        def call() -> None:
            try:
                answer["outcome"] = batch_invoke(mapping, event)
            except Exception:
                logger.exception("mapping %s: invoking the function failed", mapping.uuid)
            finally:
                db_connection.close()

        thread = threading.Thread(target=call, name=f"rmq invoke {mapping.uuid}", daemon=True)
        thread.start()
        while thread.is_alive():
            self.serve(0.5)
        return answer.get("outcome")

    def close(self) -> None:
        """Close; the broker requeues every delivery not acknowledged."""
        try:
            if self.connection.is_open:
                self.connection.close()
        except Exception:  # closing a broken connection may fail in many ways; it is gone either way
            logger.debug("closing the RabbitMQ connection failed", exc_info=True)


def run(mapping_id, unit: str, stop) -> None:
    """Consume until ``stop`` is set or the mapping is disabled or deleted; reconnect on errors."""
    result = ProcessingResult(mapping_id)
    attempt = 0
    while not stop.is_set():
        mapping = mapping_load(mapping_id)
        if mapping is None:
            return
        queue = (mapping.config.get("Queues") or [""])[0]
        vhost = "/"
        consumer = None
        try:
            url = mq_broker_url(mapping.source)
            vhost = pika.URLParameters(url).virtual_host
            consumer = _QueueConsumer(url, queue, mapping.config.get("BatchSize", 100))
            attempt = 0
            _consume(mapping_id, consumer, stop, result)
            return
        except ChannelClosedByBroker as error:
            if error.reply_code == 404:
                result.set(f"PROBLEM: Queue {queue!r} does not exist on the broker (vhost {vhost}).")
            else:
                result.set(f"PROBLEM: The broker closed the channel: {error.reply_code} {error.reply_text}")
        except InvalidParameterValue as error:
            result.set(f"PROBLEM: {error}")
        except (AMQPError, OSError, _ConsumerCancelled) as error:
            logger.warning("mapping %s: RabbitMQ connection error: %r", mapping_id, error)
            result.set(f"PROBLEM: Connection error. {type(error).__name__}: {error}")
        except Exception:
            logger.exception("mapping %s: the RabbitMQ poller failed; reconnecting", mapping_id)
            result.set("PROBLEM: Internal error in the poller; see the poller's log")
        finally:
            if consumer is not None:
                consumer.close()
        if sleep_unless(stop, backoff(attempt)):
            return
        attempt += 1


def _consume(mapping_id, consumer: _QueueConsumer, stop, result: ProcessingResult) -> None:
    failures = 0
    while not stop.is_set():
        mapping = mapping_load(mapping_id)
        if mapping is None:
            return
        size = mapping.config.get("BatchSize", 100)
        consumer.prefetch_set(size)
        batch = consumer.batch(
            size=size, window=mapping.config.get("MaximumBatchingWindowInSeconds", 0), stop=stop
        )
        if not batch:
            continue
        patterns = _patterns(mapping)
        kept: list[tuple[Delivery, dict]] = []
        for delivery in batch:
            message = rmq_message(
                properties=delivery.properties, redelivered=delivery.redelivered, body=delivery.body
            )
            if patterns and not patterns_match(patterns, rmq_filter_view(message, delivery.body)):
                consumer.channel.basic_ack(delivery.tag)
            else:
                kept.append((delivery, message))
        if not kept:
            continue
        event = rmq_event(
            arn=mapping.source,
            queue=consumer.queue,
            vhost=consumer.vhost,
            messages=[message for _, message in kept],
        )
        outcome = consumer.invoke(mapping, event)
        last = kept[-1][0].tag  # every delivery up to it that is still unsettled is in this batch
        if outcome is not None and outcome.ok:
            consumer.channel.basic_ack(last, multiple=True)
            result.set(RESULT_OK)
            failures = 0
            continue
        consumer.channel.basic_nack(last, multiple=True, requeue=True)
        result.set(RESULT_THROTTLED if outcome is not None and outcome.throttled else RESULT_FUNCTION_FAILED)
        consumer.wait(backoff(failures), stop)  # a failing function is not retried in a hot loop
        failures += 1


def _patterns(mapping) -> list[dict]:
    filters = (mapping.config.get("FilterCriteria") or {}).get("Filters") or []
    return [json.loads(entry["Pattern"]) for entry in filters]
