"""SQS's own API for Stratus queues: ``POST /`` with ``X-Amz-Target: AmazonSQS.<Op>`` (JSON 1.0),
which is what current boto3 and the AWS CLI send, served through the front door (``awsapi``)
from the table ``SQS``. The operations check their members themselves, in SQS's own words.

Errors carry ``x-amzn-query-error`` as SQS does, so botocore raises its modeled exceptions
(``sqs.exceptions.QueueDoesNotExist`` and the rest).

Every operation is authorized as ``sqs:<Operation>`` on the queue it names (a batch as its single
action, as SQS does); a refusal is SQS's ``AccessDenied``, HTTP 403, in SQS's words.

A queue URL names its account, so naming another account's queue by URL is a cross-account
call: the queue's policy must allow it (iam/tenancy.py). Names are unique across the install
for now: see ``queues``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial

from django.http import HttpRequest

from awsapi.errors import AwsError
from awsapi.front import Call, Service
from functions_app.triggers import queues
from functions_app.triggers.arns import ACCOUNT_ID
from functions_app.triggers.models import Queue
from functions_app.triggers.queue_store import MessageNotInFlight, ReceiptHandleInvalid, ReceivedMessage
from functions_app.triggers.queues import InvalidParameterValue, QueueError
from iam.policy import Policy

_BATCH_ENTRY_ID = re.compile(r"^[A-Za-z0-9_-]{1,80}$")


class _Error(QueueError):
    def __init__(self, code: str, message: str, *, query_code: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.query_code, self.status = code, query_code or code, status


def _translate(error: Exception) -> AwsError | None:
    """What the queue store raises, as SQS names it."""
    if isinstance(error, ReceiptHandleInvalid):
        return _Error("ReceiptHandleIsInvalid", str(error))
    if isinstance(error, MessageNotInFlight):
        return _Error(
            "MessageNotInflight", str(error), query_code="AWS.SimpleQueueService.MessageNotInflight"
        )
    return None


def _batch_error(code: str, message: str) -> _Error:
    return _Error(code, message, query_code=f"AWS.SimpleQueueService.{code}")


def _queue(document: dict) -> Queue:
    url = document.get("QueueUrl")
    if not isinstance(url, str) or not url:
        raise _Error("MissingParameter", "The request must contain the parameter QueueUrl.")
    return queues.queue_by_url(url)


def _int(document: dict, name: str, low: int, high: int) -> int | None:
    value = document.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise InvalidParameterValue(
            f"Value {value} for parameter {name} is invalid. Reason: Must be between {low} and {high}, if provided."
        )
    return value


def _entries(document: dict) -> list[dict]:
    entries = document.get("Entries")
    if not entries:
        raise _batch_error(
            "EmptyBatchRequest", "There should be at least one SendMessageBatchRequestEntry in the request."
        )
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        raise InvalidParameterValue("Entries must be a list of objects.")
    if len(entries) > queues.MAX_BATCH_ENTRIES:
        raise _batch_error(
            "TooManyEntriesInBatchRequest",
            f"Maximum number of entries per request are 10. You have sent {len(entries)}.",
        )
    ids = [entry.get("Id") for entry in entries]
    for entry_id in ids:
        if not isinstance(entry_id, str) or not _BATCH_ENTRY_ID.fullmatch(entry_id):
            raise _batch_error(
                "InvalidBatchEntryId",
                "A batch entry id can only contain alphanumeric characters, hyphens and underscores. "
                "It can be at most 80 letters long.",
            )
    if len(set(ids)) != len(ids):
        raise _batch_error(
            "BatchEntryIdsNotDistinct", "Two or more batch entries in the request have the same Id."
        )
    return entries


def _failed(entry_id: str, error: QueueError | ReceiptHandleInvalid | MessageNotInFlight) -> dict:
    if isinstance(error, ReceiptHandleInvalid):
        code = "ReceiptHandleIsInvalid"
    elif isinstance(error, MessageNotInFlight):
        code = "AWS.SimpleQueueService.MessageNotInflight"
    else:
        code = error.query_code
    return {"Id": entry_id, "SenderFault": True, "Code": code, "Message": str(error)}


def _url(request: HttpRequest, queue: Queue) -> str:
    return queues.queue_url(queue.name, account=queue.account_id, base_url=_base_url(request))


def create_queue(request, document):
    queue = queues.queue_create(
        name=document.get("QueueName") or "", attributes=document.get("Attributes"), tags=document.get("tags")
    )
    return {"QueueUrl": _url(request, queue)}


def _owner(document: dict) -> str | None:
    """The account GetQueueUrl's QueueOwnerAWSAccountId names, None for the caller's own."""
    owner = document.get("QueueOwnerAWSAccountId")
    if owner in (None, ""):
        return None
    if not isinstance(owner, str) or not ACCOUNT_ID.fullmatch(owner):
        raise InvalidParameterValue(
            f"Value {owner} for parameter QueueOwnerAWSAccountId is invalid. Reason: not an account id."
        )
    return owner


def get_queue_url(request, document):
    queue = queues.queue_get(document.get("QueueName") or "", account=_owner(document))
    return {"QueueUrl": _url(request, queue)}


def list_queues(request, document):
    prefix = document.get("QueueNamePrefix") or ""
    limit = _int(document, "MaxResults", 1, 1000)
    found = queues.queues_of_account().filter(name__startswith=prefix).order_by("name")
    after = document.get("NextToken")
    if after:
        found = found.filter(name__gt=after)
    rows = list(found[: (limit or 1000) + 1])
    result: dict = {}
    page = rows[: limit or 1000]
    if page:
        result["QueueUrls"] = [_url(request, queue) for queue in page]
    if limit and len(rows) > limit:
        result["NextToken"] = page[-1].name
    return result


def delete_queue(request, document):
    queues.queue_delete(queue=_queue(document))
    return {}


def purge_queue(request, document):
    queues.queue_purge(queue=_queue(document))
    return {}


def get_queue_attributes(request, document):
    attributes = queues.queue_attributes_get(queue=_queue(document), names=document.get("AttributeNames"))
    return {"Attributes": attributes} if attributes else {}


def set_queue_attributes(request, document):
    queues.queue_attributes_set(queue=_queue(document), attributes=document.get("Attributes") or {})
    return {}


def _sent(message_id: str, md5_body: str, md5_attributes: str) -> dict:
    result = {"MessageId": message_id, "MD5OfMessageBody": md5_body}
    if md5_attributes:
        result["MD5OfMessageAttributes"] = md5_attributes
    return result


def send_message(request, document):
    queue = _queue(document)
    entry = queues.message_validate(
        queue,
        body=document.get("MessageBody"),
        attributes=document.get("MessageAttributes"),
        delay=document.get("DelaySeconds"),
    )
    sent = queues.queue_store().send(queues.queue_settings(queue), [entry], sender_id=request.access_key_id)
    return _sent(*sent[0])


def send_message_batch(request, document):
    queue = _queue(document)
    entries = _entries(document)
    valid, failed = [], []
    for entry in entries:
        try:
            valid.append(
                (
                    entry["Id"],
                    queues.message_validate(
                        queue,
                        body=entry.get("MessageBody"),
                        attributes=entry.get("MessageAttributes"),
                        delay=entry.get("DelaySeconds"),
                    ),
                )
            )
        except QueueError as error:
            failed.append(_failed(entry["Id"], error))
    total = sum(len(message["body"].encode()) for _, message in valid)
    limit = int(queue.attributes.get("MaximumMessageSize", queues.DEFAULTS["MaximumMessageSize"]))
    if total > limit:
        raise _batch_error(
            "BatchRequestTooLong",
            f"Batch requests cannot be longer than {limit} bytes. You have sent {total} bytes.",
        )
    sent = queues.queue_store().send(
        queues.queue_settings(queue), [message for _, message in valid], sender_id=request.access_key_id
    )
    successful = [
        {"Id": entry_id, **_sent(*result)} for (entry_id, _), result in zip(valid, sent, strict=True)
    ]
    return {"Successful": successful, "Failed": failed}


def _wanted(names: list[str] | None, available: dict) -> dict:
    if not names:
        return {}
    if "All" in names or ".*" in names:
        return dict(available)
    prefixes = tuple(name[:-2] for name in names if name.endswith(".*"))
    return {
        key: value
        for key, value in available.items()
        if key in names or (prefixes and key.startswith(prefixes))
    }


def message_shape(message: ReceivedMessage, *, system_names: list[str], attribute_names: list[str]) -> dict:
    """A received message as SQS's ReceiveMessage returns it."""
    system = {
        "SenderId": message.sender_id,
        "SentTimestamp": str(message.sent_ms),
        "ApproximateReceiveCount": str(message.receive_count),
        "ApproximateFirstReceiveTimestamp": str(message.first_receive_ms),
    }
    shaped = {
        "MessageId": message.message_id,
        "ReceiptHandle": message.receipt_handle,
        "MD5OfBody": message.md5_of_body,
        "Body": message.body,
    }
    chosen = _wanted(system_names, system)
    if chosen:
        shaped["Attributes"] = chosen
    attributes = _wanted(attribute_names, message.attributes)
    if attributes:
        shaped["MessageAttributes"] = attributes
        shaped["MD5OfMessageAttributes"] = message.md5_of_attributes
    return shaped


def receive_message(request, document):
    queue = _queue(document)
    count = _int(document, "MaxNumberOfMessages", 1, 10) or 1
    visibility = _int(document, "VisibilityTimeout", 0, 43200)
    wait = _int(document, "WaitTimeSeconds", 0, 20)
    if wait is None:
        wait = int(queue.attributes.get("ReceiveMessageWaitTimeSeconds", 0))
    received = queues.queue_store().receive(
        queues.queue_settings(queue), count=count, visibility_timeout=visibility, wait_seconds=wait
    )
    system_names = [
        *(document.get("AttributeNames") or []),
        *(document.get("MessageSystemAttributeNames") or []),
    ]
    messages = [
        message_shape(
            message, system_names=system_names, attribute_names=document.get("MessageAttributeNames") or []
        )
        for message in received
    ]
    return {"Messages": messages} if messages else {}


def _receipt(document: dict) -> str:
    handle = document.get("ReceiptHandle")
    if not isinstance(handle, str) or not handle:
        raise _Error("MissingParameter", "The request must contain the parameter ReceiptHandle.")
    return handle


def delete_message(request, document):
    queue = _queue(document)
    queues.queue_store().delete(queues.queue_settings(queue), _receipt(document))
    return {}


def delete_message_batch(request, document):
    queue = _queue(document)
    settings_, store = queues.queue_settings(queue), queues.queue_store()
    successful, failed = [], []
    for entry in _entries(document):
        try:
            store.delete(settings_, _receipt(entry))
            successful.append({"Id": entry["Id"]})
        except (ReceiptHandleInvalid, QueueError) as error:
            failed.append(_failed(entry["Id"], error))
    return {"Successful": successful, "Failed": failed}


def change_message_visibility(request, document):
    queue = _queue(document)
    timeout = _int(document, "VisibilityTimeout", 0, 43200)
    if timeout is None:
        raise _Error("MissingParameter", "The request must contain the parameter VisibilityTimeout.")
    queues.queue_store().change_visibility(queues.queue_settings(queue), _receipt(document), timeout)
    return {}


def change_message_visibility_batch(request, document):
    queue = _queue(document)
    settings_, store = queues.queue_settings(queue), queues.queue_store()
    successful, failed = [], []
    for entry in _entries(document):
        try:
            timeout = _int(entry, "VisibilityTimeout", 0, 43200) or 0
            store.change_visibility(settings_, _receipt(entry), timeout)
            successful.append({"Id": entry["Id"]})
        except (ReceiptHandleInvalid, MessageNotInFlight, QueueError) as error:
            failed.append(_failed(entry["Id"], error))
    return {"Successful": successful, "Failed": failed}


def list_queue_tags(request, document):
    tags = _queue(document).tags
    return {"Tags": tags} if tags else {}


def tag_queue(request, document):
    queue = _queue(document)
    queue.tags = {**queue.tags, **(document.get("Tags") or {})}
    queue.save(update_fields=["tags"])
    return {}


def untag_queue(request, document):
    queue = _queue(document)
    queue.tags = {
        key: value for key, value in queue.tags.items() if key not in (document.get("TagKeys") or [])
    }
    queue.save(update_fields=["tags"])
    return {}


OPERATIONS: dict[str, Callable[[HttpRequest, dict], dict]] = {
    "CreateQueue": create_queue,
    "GetQueueUrl": get_queue_url,
    "ListQueues": list_queues,
    "DeleteQueue": delete_queue,
    "PurgeQueue": purge_queue,
    "GetQueueAttributes": get_queue_attributes,
    "SetQueueAttributes": set_queue_attributes,
    "SendMessage": send_message,
    "SendMessageBatch": send_message_batch,
    "ReceiveMessage": receive_message,
    "DeleteMessage": delete_message,
    "DeleteMessageBatch": delete_message_batch,
    "ChangeMessageVisibility": change_message_visibility,
    "ChangeMessageVisibilityBatch": change_message_visibility_batch,
    "ListQueueTags": list_queue_tags,
    "TagQueue": tag_queue,
    "UntagQueue": untag_queue,
}


# SQS authorizes a batch as its single action: SendMessageBatch needs sqs:SendMessage.
_BATCH_ACTIONS = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}


def _base_url(request: HttpRequest) -> str:
    return request.build_absolute_uri("/")


def _resource(call: Call) -> str:
    """The queue ARN the call acts on: in the account its URL (or GetQueueUrl's
    QueueOwnerAWSAccountId) names, else the caller's; ``*`` for ListQueues, which names no
    queue, and for a request that names none (the operation then refuses it)."""
    operation, document = call.operation, call.params
    if operation == "ListQueues":
        return "*"
    account = None
    if operation in ("CreateQueue", "GetQueueUrl"):
        name = document.get("QueueName")
        account = _owner(document) if operation == "GetQueueUrl" else None
    else:
        url = document.get("QueueUrl")
        named = queues.queue_url_parse(url)
        if named is not None:
            account, name = named
        else:  # no account in it: its last segment, as a name in the caller's account
            name = url.rstrip("/").rsplit("/", 1)[-1] if isinstance(url, str) else None
    return queues.queue_arn(name, account=account) if isinstance(name, str) and name else "*"


def _on_request(handler: Callable[[HttpRequest, dict], dict], call: Call) -> dict:
    return handler(call.request, call.params)


def _queue_policy(call: Call, resource: str) -> Policy | None:
    named = queues.queue_arn_parse(resource)
    return queues.queue_policy(named.name, account=named.account) if named else None


def _denied(message: str) -> QueueError:
    # IAM compares actions case-insensitively; SQS's refusal spells them in lower case.
    return _Error("AccessDenied", re.sub(r"sqs:\w+", lambda match: match[0].lower(), message), status=403)


def _unknown(operation: str) -> QueueError:
    return _Error(
        "UnsupportedOperation",
        f"Stratus does not serve SQS's {operation!r}; it serves {', '.join(OPERATIONS)}.",
        query_code="AWS.SimpleQueueService.UnsupportedOperation",
    )


SQS = Service(
    model_name="sqs",
    signing_name="sqs",
    family=QueueError,
    operations={name: partial(_on_request, handler) for name, handler in OPERATIONS.items()},
    resource=_resource,
    resource_policy=_queue_policy,
    action=lambda operation: f"sqs:{_BATCH_ACTIONS.get(operation, operation)}",
    denied=_denied,
    unknown=_unknown,
    translate=_translate,
    internal=lambda: _Error(
        "InternalError", "An internal error occurred; the server log has the details.", status=500
    ),
    type_prefix="com.amazonaws.sqs#",
    shapes_checked=False,
)
