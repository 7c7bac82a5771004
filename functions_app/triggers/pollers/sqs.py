"""The SQS poller over Stratus queues: batches of up to BatchSize within the batching window,
filtered, invoked synchronously; deleted on success, left to reappear after the visibility
timeout on failure (the queue's own redrive policy takes them from there), and only the
failed ones kept with ReportBatchItemFailures. Non-matching messages are deleted, as on AWS.
"""

from __future__ import annotations

import json
import time

from django.conf import settings

from functions_app.triggers import queues
from functions_app.triggers.filter_patterns import patterns_match, sqs_filter_view
from functions_app.triggers.pollers.base import (
    ROLE_RECHECK_SECONDS,
    batch_invoke,
    batch_item_failures,
    mapping_load,
    result_note,
    sleep_unless,
    source_denial,
)
from functions_app.triggers.queue_store import ReceivedMessage

DEFAULT_CONCURRENCY = 2
RECEIVE_MAX = 10  # SQS returns at most 10 messages a receive


def units(mapping) -> list[str]:
    """One unit per concurrent poller: ScalingConfig.MaximumConcurrency, else a default."""
    maximum = (mapping.config.get("ScalingConfig") or {}).get("MaximumConcurrency") or DEFAULT_CONCURRENCY
    return [f"{mapping.uuid}:sqs:{slot}" for slot in range(min(maximum, 10))]


def sqs_record(message: ReceivedMessage, *, arn: str) -> dict:
    return {
        "messageId": message.message_id,
        "receiptHandle": message.receipt_handle,
        "body": message.body,
        "attributes": {
            "ApproximateReceiveCount": str(message.receive_count),
            "SentTimestamp": str(message.sent_ms),
            "SenderId": message.sender_id,
            "ApproximateFirstReceiveTimestamp": str(message.first_receive_ms),
        },
        "messageAttributes": {name: _attribute(value) for name, value in message.attributes.items()},
        "md5OfBody": message.md5_of_body,
        "eventSource": "aws:sqs",
        "eventSourceARN": arn,
        "awsRegion": settings.STRATUS_REGION,
    }


def _attribute(value: dict) -> dict:
    """A message attribute as Lambda's SQS event spells it (camelCase; no null members)."""
    shaped = {"stringListValues": [], "binaryListValues": [], "dataType": value["DataType"]}
    if value.get("StringValue") is not None:
        shaped["stringValue"] = value["StringValue"]
    if value.get("BinaryValue") is not None:
        shaped["binaryValue"] = value["BinaryValue"]
    return shaped


def _batch(store, queue_settings, *, size: int, window: float, stop) -> list[ReceivedMessage]:
    deadline = time.monotonic() + window
    batch = store.receive(queue_settings, count=min(size, RECEIVE_MAX), wait_seconds=1)
    while batch and len(batch) < size and not stop.is_set():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        batch += store.receive(
            queue_settings, count=min(size - len(batch), RECEIVE_MAX), wait_seconds=min(remaining, 1)
        )
    return batch


def run(mapping_id, unit: str, stop) -> None:
    """Poll until ``stop`` is set or the mapping is disabled or deleted."""
    store = queues.queue_store()
    while not stop.is_set():
        mapping = mapping_load(mapping_id)
        if mapping is None:
            return
        try:
            queue = queues.queue_by_arn(mapping.source)
        except queues.QueueError:
            if sleep_unless(stop, 5):
                return
            continue
        denial = source_denial(mapping)
        if denial is not None:
            result_note(mapping_id, f"PROBLEM: {denial}")
            if sleep_unless(stop, ROLE_RECHECK_SECONDS):
                return
            continue
        queue_settings = queues.queue_settings(queue)
        batch = _batch(
            store,
            queue_settings,
            size=mapping.config.get("BatchSize", 10),
            window=mapping.config.get("MaximumBatchingWindowInSeconds", 0),
            stop=stop,
        )
        if not batch:
            continue
        if source_denial(mapping_load(mapping_id) or mapping) is not None:
            # The role lost its permission while this receive waited: hand the messages back.
            for message in batch:
                store.change_visibility(queue_settings, message.receipt_handle, 0)
            continue
        records = [sqs_record(message, arn=mapping.source) for message in batch]
        patterns = _patterns(mapping)
        matching = []
        for message, record in zip(batch, records, strict=True):
            if patterns and not patterns_match(patterns, sqs_filter_view(record)):
                store.delete(queue_settings, message.receipt_handle)
            else:
                matching.append((message, record))
        if not matching:
            continue
        outcome = batch_invoke(mapping, {"Records": [record for _, record in matching]})
        if outcome.throttled:
            sleep_unless(stop, 1)
            continue  # the messages reappear after their visibility timeout
        failed = batch_item_failures(mapping, outcome, [message.message_id for message, _ in matching])
        if failed is None:
            continue
        for message, _ in matching:
            if message.message_id not in failed:
                store.delete(queue_settings, message.receipt_handle)


def _patterns(mapping) -> list[dict]:
    filters = (mapping.config.get("FilterCriteria") or {}).get("Filters") or []
    return [json.loads(entry["Pattern"]) for entry in filters]
