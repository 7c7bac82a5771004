"""Stratus queues: create, configure, send to and delete them. SQS's rules, written once for the
SQS API, the dashboard, destinations and topics; messages live in Redis (``queue_store``).

A queue belongs to an account (iam/tenancy.py): a name is looked up in the request's account,
a queue URL or ARN in the account it names, and a new queue is the request's account's. Names
are unique across the install for now (Redis knows a queue by its name alone), so creating a
queue whose name another account uses fails as a clash with an existing queue does
(``QueueNameExists``).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from awsapi.errors import AwsError
from functions_app.redis_client import redis_client
from functions_app.triggers.arns import ACCOUNT_ID, ResourceRef, arn_account, queue_arn, queue_arn_parse
from functions_app.triggers.models import Queue
from functions_app.triggers.queue_store import QueueSettings, QueueStore
from iam.authorization import resource_policy
from iam.errors import MalformedPolicyDocument
from iam.models import default_account_id
from iam.policy import Policy, policy_parse
from iam.tenancy import current_account

QUEUE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
# SQS accepts #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF.
_INVALID_BODY = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
MAX_BATCH_ENTRIES = 10
DEFAULTS = {
    "DelaySeconds": "0",
    "MaximumMessageSize": "1048576",
    "MessageRetentionPeriod": "345600",
    "ReceiveMessageWaitTimeSeconds": "0",
    "VisibilityTimeout": "30",
    "SqsManagedSseEnabled": "false",
}
_RANGES = {
    "DelaySeconds": (0, 900),
    "MaximumMessageSize": (1024, 1048576),
    "MessageRetentionPeriod": (60, 1209600),
    "ReceiveMessageWaitTimeSeconds": (0, 20),
    "VisibilityTimeout": (0, 43200),
    "KmsDataKeyReusePeriodSeconds": (60, 86400),
}
_STORED_AS_GIVEN = ("Policy", "RedriveAllowPolicy", "KmsMasterKeyId", "SqsManagedSseEnabled")
_FIFO_ONLY = ("FifoQueue", "ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit")
_COMPUTED = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
    "QueueArn",
)


class QueueError(AwsError):
    """An SQS error: ``code`` is the modeled shape's name, ``query_code`` what the old query
    protocol called it (botocore maps that back to the exception class)."""

    code = "InvalidParameterValue"
    query_code = "InvalidParameterValue"
    status = 400


class QueueDoesNotExist(QueueError):
    code, query_code = "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue"


class QueueNameExists(QueueError):
    code, query_code = "QueueNameExists", "QueueAlreadyExists"


class InvalidAttributeName(QueueError):
    code = query_code = "InvalidAttributeName"


class InvalidAttributeValue(QueueError):
    code = query_code = "InvalidAttributeValue"


class InvalidMessageContents(QueueError):
    code = query_code = "InvalidMessageContents"


class InvalidParameterValue(QueueError):
    pass


@lru_cache(maxsize=1)
def queue_store() -> QueueStore:
    return QueueStore(redis_client())


def queue_name_from_arn(arn: str) -> str | None:
    """The name of the queue ``arn`` names, in whichever account; None for no queue ARN of
    this region (``queue_arn_parse`` gives its account too)."""
    named = queue_arn_parse(arn)
    return named.name if named else None


def queue_url(name: str, *, base_url: str, account: str | None = None) -> str:
    """A queue's URL, ``BASE/ACCOUNT/NAME``, in ``account`` (by default as ``queue_arn``)."""
    return f"{base_url.rstrip('/')}/{arn_account(account)}/{name}"


def queue_url_parse(url: str) -> ResourceRef | None:
    """The account and name a queue URL names (its last two path segments); None for no URL."""
    parts = url.rstrip("/").split("/") if isinstance(url, str) else []
    if len(parts) < 2 or not ACCOUNT_ID.fullmatch(parts[-2]) or not parts[-1]:
        return None
    return ResourceRef(parts[-2], parts[-1])


def queue_get(name: str, *, account: str | None = None) -> Queue:
    """The queue ``name`` in ``account``, by default the request's (any outside a request)."""
    account = account or current_account()
    found = Queue.objects.filter(name=name)
    queue = (found.filter(account_id=account) if account else found).first()
    if queue is None:
        raise QueueDoesNotExist("The specified queue does not exist.")
    return queue


def queue_by_url(url: str) -> Queue:
    """The queue a QueueUrl names: its last path segment, in the account before it."""
    named = queue_url_parse(url)
    if named is None:
        raise QueueDoesNotExist(f"The specified queue does not exist: {url}")
    return queue_get(named.name, account=named.account)


def queue_by_arn(arn: str) -> Queue:
    named = queue_arn_parse(arn)
    if named is None:
        raise QueueDoesNotExist(f"{arn} is not the ARN of a queue in this region.")
    return queue_get(named.name, account=named.account)


def queues_of_account() -> QuerySet[Queue]:
    """The queues of the request's account (iam.tenancy); every queue outside a request."""
    account = current_account()
    return Queue.objects.filter(account_id=account) if account else Queue.objects.all()


def _attributes_clean(attributes: dict) -> dict:
    if not isinstance(attributes, dict):
        raise InvalidAttributeValue("Attributes must be a map of attribute names to string values.")
    cleaned = {}
    for name, value in attributes.items():
        if name in _FIFO_ONLY:
            if name == "FifoQueue" and str(value).lower() == "false":
                continue
            raise InvalidAttributeName(f"Stratus queues are standard queues; {name} (FIFO) is not supported.")
        if name in _COMPUTED or name not in (*_RANGES, "RedrivePolicy", *_STORED_AS_GIVEN):
            raise InvalidAttributeName(f"Unknown Attribute {name}.")
        value = str(value)
        if name in _RANGES:
            low, high = _RANGES[name]
            if not value.lstrip("-").isdigit() or not low <= int(value) <= high:
                raise InvalidAttributeValue(
                    f"Invalid value for the parameter {name}. It must be an integer from {low} to {high}."
                )
            value = str(int(value))
        elif name == "RedrivePolicy" and value:
            value = _redrive_policy_clean(value)
        elif name == "Policy" and value:
            _policy_check(value)
        cleaned[name] = value
    return cleaned


def _policy_check(value: str) -> None:
    """A queue's access policy must be a valid resource-based policy, as SQS checks it."""
    try:
        policy_parse(value, kind="resource", label="Policy")
    except MalformedPolicyDocument as error:
        raise InvalidAttributeValue(
            f"Invalid value for the parameter Policy. Reason: {error.message}"
        ) from None


def queue_policy(name: str, *, account: str | None = None) -> Policy | None:
    """The parsed access policy of the queue ``name`` in ``account`` (in any account when
    None: names are unique), None when it has none (or there is no such queue: the operation
    answers that)."""
    found = Queue.objects.filter(name=name)
    if account:
        found = found.filter(account_id=account)
    row = found.values_list("account_id", "attributes").first()
    if row is None:
        return None
    owner, attributes = row
    return resource_policy((attributes or {}).get("Policy"), queue_arn(name, account=owner))


def _redrive_policy_clean(value: str) -> str:
    try:
        policy = json.loads(value)
    except ValueError:
        raise InvalidAttributeValue("Invalid value for the parameter RedrivePolicy: not JSON.") from None
    if not isinstance(policy, dict):
        raise InvalidAttributeValue("Invalid value for the parameter RedrivePolicy: not a JSON object.")
    target, count = policy.get("deadLetterTargetArn"), policy.get("maxReceiveCount")
    try:
        count = int(count)
    except (TypeError, ValueError):
        count = 0
    if not 1 <= count <= 1000:
        raise InvalidAttributeValue(
            "Value for parameter RedrivePolicy is invalid. Reason: maxReceiveCount must be an integer from 1 to 1000."
        )
    named = queue_arn_parse(str(target or ""))
    if named is None or not Queue.objects.filter(name=named.name, account_id=named.account).exists():
        raise InvalidAttributeValue(
            f"Value for parameter RedrivePolicy is invalid. Reason: Dead letter target does not exist: {target}."
        )
    return json.dumps({"deadLetterTargetArn": target, "maxReceiveCount": count}, separators=(",", ":"))


def queue_create(*, name: str, attributes: dict | None = None, tags: dict | None = None) -> Queue:
    """Create a queue; asking again with the same attributes returns the existing one, as SQS does."""
    if not QUEUE_NAME.fullmatch(name or ""):
        if (name or "").endswith(".fifo"):
            raise InvalidParameterValue("Stratus queues are standard queues; FIFO queues are not supported.")
        raise InvalidParameterValue(
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"
        )
    cleaned = {**DEFAULTS, **_attributes_clean(attributes or {})}
    account = current_account() or default_account_id()
    existing = Queue.objects.filter(name=name).first()
    if existing is None:
        try:
            with transaction.atomic():
                queue = Queue.objects.create(
                    name=name, account_id=account, attributes=cleaned, tags=tags or {}
                )
        except IntegrityError:  # created concurrently
            existing = Queue.objects.get(name=name)
        else:
            # A new queue starts empty, whatever a queue of the same name left behind in Redis.
            queue_store().drop(name)
            return queue
    if existing.account_id != account:
        raise QueueNameExists(
            f"A queue named {name} already exists in another account; queue names are unique "
            "across this Stratus install for now."
        )
    differing = [key for key, value in cleaned.items() if existing.attributes.get(key) != value]
    if differing and attributes:
        raise QueueNameExists(
            f"A queue already exists with the same name and a different value for attribute {differing[0]}"
        )
    return existing


def queue_attributes_set(*, queue: Queue, attributes: dict) -> Queue:
    queue.attributes = {**queue.attributes, **_attributes_clean(attributes)}
    if queue.attributes.get("RedrivePolicy") == "":
        del queue.attributes["RedrivePolicy"]
    queue.last_modified = timezone.now()
    queue.save(update_fields=["attributes", "last_modified"])
    return queue


def queue_attributes_get(*, queue: Queue, names: list[str] | None) -> dict[str, str]:
    """The attributes asked for (``All`` for every one), counts read from Redis now."""
    names = names or []
    unknown = [
        name for name in names if name not in (*_RANGES, *_COMPUTED, *_STORED_AS_GIVEN, "RedrivePolicy")
    ]
    unknown = [name for name in unknown if name not in ("All", *_FIFO_ONLY)]
    if unknown:
        raise InvalidAttributeName(f"Unknown Attribute {unknown[0]}.")
    counts = queue_store().counts(queue.name)
    every = {
        **queue.attributes,
        "QueueArn": queue.arn(),
        "ApproximateNumberOfMessages": str(counts["visible"]),
        "ApproximateNumberOfMessagesNotVisible": str(counts["in_flight"]),
        "ApproximateNumberOfMessagesDelayed": str(counts["delayed"]),
        "CreatedTimestamp": str(int(queue.created_at.timestamp())),
        "LastModifiedTimestamp": str(int(queue.last_modified.timestamp())),
    }
    if "All" in names:
        return every
    return {name: every[name] for name in names if name in every}


def queue_settings(queue: Queue) -> QueueSettings:
    attributes = queue.attributes
    redrive = json.loads(attributes["RedrivePolicy"]) if attributes.get("RedrivePolicy") else {}
    return QueueSettings(
        name=queue.name,
        visibility_timeout=int(attributes.get("VisibilityTimeout", 30)),
        retention_seconds=int(attributes.get("MessageRetentionPeriod", 345600)),
        delay_seconds=int(attributes.get("DelaySeconds", 0)),
        max_receive_count=int(redrive.get("maxReceiveCount", 0)),
        dead_letter_queue=queue_name_from_arn(redrive.get("deadLetterTargetArn", "")) or "",
    )


def message_validate(queue: Queue, *, body: object, attributes: object, delay: object) -> dict:
    """One message as the store takes it, or the error SQS gives for it."""
    if not isinstance(body, str) or body == "":
        raise InvalidParameterValue("The request must contain the parameter MessageBody.")
    if _INVALID_BODY.search(body):
        raise InvalidMessageContents(
            "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | "
            "#x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF"
        )
    attributes = attributes or {}
    if not isinstance(attributes, dict):
        raise InvalidParameterValue("MessageAttributes must be a map.")
    size = len(body.encode())
    for name, value in attributes.items():
        if not isinstance(value, dict) or not value.get("DataType"):
            raise InvalidParameterValue(f"The message attribute '{name}' must contain a non-empty DataType.")
        data_type = value["DataType"]
        if data_type.split(".")[0] not in ("String", "Number", "Binary"):
            raise InvalidParameterValue(f"The type of message attribute '{name}' is invalid.")
        key = "BinaryValue" if data_type.startswith("Binary") else "StringValue"
        if value.get(key) in (None, ""):
            raise InvalidParameterValue(f"The message attribute '{name}' must contain a non-empty {key}.")
        size += len(name) + len(data_type) + len(str(value[key]))
    limit = int(queue.attributes.get("MaximumMessageSize", DEFAULTS["MaximumMessageSize"]))
    if size > limit:
        raise InvalidParameterValue(
            f"One or more parameters are invalid. Reason: Message must be shorter than {limit} bytes."
        )
    if delay is not None and not (isinstance(delay, int) and 0 <= delay <= 900):
        raise InvalidParameterValue(
            f"Value {delay} for parameter DelaySeconds is invalid. Reason: must be between 0 and 900, if provided."
        )
    kept = {
        name: {k: v for k, v in value.items() if k in ("DataType", "StringValue", "BinaryValue")}
        for name, value in attributes.items()
    }
    return {"body": body, "attributes": kept, "delay": delay}


def message_send(*, queue: Queue, body: str, attributes: dict | None = None, sender_id: str) -> str:
    """Send one message (destinations, topics and the dashboard use this); return its id."""
    entry = message_validate(queue, body=body, attributes=attributes, delay=None)
    return queue_store().send(queue_settings(queue), [entry], sender_id=sender_id)[0][0]


def queue_delete(*, queue: Queue) -> None:
    name = queue.name
    queue.delete()
    queue_store().drop(name)


def queue_purge(*, queue: Queue) -> None:
    queue_store().purge(queue.name)
