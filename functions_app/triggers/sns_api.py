"""SNS's own API for Stratus topics: the query protocol that boto3's ``sns`` client and
``aws sns`` send (``POST /`` with a form body ``Action=<Op>&Version=2010-03-31``), answered in
XML in SNS's namespace. ``dashboard.aws_dispatch`` routes it here.

Requests are read against botocore's own SNS model with CloudWatch's query reader, and every
rule lives in ``topics``; this module only translates. Errors carry SNS's codes with the HTTP
status botocore's model gives them, so botocore raises its modeled exceptions
(``sns.exceptions.NotFoundException``, ``InvalidParameterException`` and the rest).

Stratus is one account, so subscriptions are confirmed at once: Subscribe always answers the
subscription's ARN, never "pending confirmation". Topic attributes and tags given to
CreateTopic are accepted but not stored (none changes how a Stratus topic behaves), except
``FifoTopic=true``, which is refused: Stratus topics are standard topics.
``MessageStructure=json`` (a message per protocol) is refused too.

Every operation is authorized as ``sns:<Operation>`` (PublishBatch as ``sns:Publish``) on the
topic it names; a refusal is SNS's ``AuthorizationError``, HTTP 403, in SNS's words.
"""

from __future__ import annotations

import base64
import binascii
import functools
import logging
import re
import uuid
from collections.abc import Callable
from datetime import datetime
from xml.etree.ElementTree import Element, SubElement, tostring

from botocore.loaders import Loader
from botocore.model import OperationModel, ServiceModel
from django.conf import settings
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from functions_app.api.sigv4 import SignedCaller, caller_verify
from functions_app.errors import LambdaError
from functions_app.triggers import topics
from functions_app.triggers.models import Subscription, Topic
from functions_app.triggers.topics import TopicError
from iam.authorization import operation_denial
from metrics_app.cloudwatch.errors import CloudWatchError, auth_failure
from metrics_app.cloudwatch.protocols import QUERY, xml_write

logger = logging.getLogger("stratus.api")

API_VERSION = "2010-03-31"
XML_NAMESPACE = "http://sns.amazonaws.com/doc/2010-03-31/"
PAGE_SIZE = 100  # SNS's page for ListTopics and ListSubscriptions(ByTopic)
MAX_BATCH_ENTRIES = 10
_BATCH_ENTRY_ID = re.compile(r"[A-Za-z0-9_-]{1,80}")


class _Error(TopicError):
    """An SNS error whose HTTP status is not the one botocore's model gives its code."""

    def __init__(self, message: str, *, code: str, status: int) -> None:
        super().__init__(message, code=code)
        self.status = status


@functools.cache
def _service_model() -> ServiceModel:
    return ServiceModel(Loader().load_service_model("sns", "service-2"), service_name="sns")


@functools.cache
def _status(code: str) -> int:
    """The HTTP status of SNS's error ``code``, as botocore's model has it."""
    for shape in _service_model().error_shapes:
        error = shape.metadata.get("error") or {}
        if error.get("code") == code:
            return error.get("httpStatusCode", 400)
    return 400


def _required(params: dict, name: str) -> str:
    value = params.get(name)
    if not value:
        raise TopicError(f"Invalid parameter: {name}: the parameter is required")
    return value


def _boolean(name: str, value: str | None) -> bool:
    if not isinstance(value, str) or value.lower() not in ("true", "false"):
        raise TopicError(
            f"Invalid parameter: Attributes Reason: {name}: must be true or false, not {value!r}"
        )
    return value.lower() == "true"


# --- Topics ----------------------------------------------------------------------------------


def create_topic(params: dict) -> dict:
    attributes = params.get("Attributes") or {}
    if _boolean("FifoTopic", attributes.get("FifoTopic", "false")):
        raise TopicError(
            "Invalid parameter: Attributes Reason: FifoTopic: Stratus topics are standard topics; "
            "FIFO topics are not supported"
        )
    topic = topics.topic_create(name=_required(params, "Name"))
    return {"TopicArn": topics.topic_arn(topic.name)}


def delete_topic(params: dict) -> dict:
    try:
        topic = topics.topic_by_arn(_required(params, "TopicArn"))
    except TopicError as error:
        if error.code != "NotFound":
            raise
        return {}  # deleting a topic that does not exist is not an error in SNS
    topics.topic_delete(topic=topic)
    return {}


def list_topics(params: dict) -> dict:
    found = Topic.objects.order_by("name")
    after = params.get("NextToken")
    if after:
        if not topics.TOPIC_NAME.fullmatch(after):
            raise TopicError("Invalid parameter: NextToken")
        found = found.filter(name__gt=after)
    names = list(found.values_list("name", flat=True)[: PAGE_SIZE + 1])
    result: dict = {"Topics": [{"TopicArn": topics.topic_arn(name)} for name in names[:PAGE_SIZE]]}
    if len(names) > PAGE_SIZE:
        result["NextToken"] = names[PAGE_SIZE - 1]
    return result


def get_topic_attributes(params: dict) -> dict:
    topic = topics.topic_by_arn(_required(params, "TopicArn"))
    return {
        "Attributes": {
            "TopicArn": topics.topic_arn(topic.name),
            "Owner": settings.STRATUS_ACCOUNT_ID,
            "DisplayName": "",
            "SubscriptionsConfirmed": str(topic.subscriptions.count()),
            "SubscriptionsPending": "0",
            "SubscriptionsDeleted": "0",
        }
    }


# --- Subscriptions ---------------------------------------------------------------------------


def _raw_message_delivery(attributes: dict) -> bool:
    unsupported = sorted(set(attributes) - {"RawMessageDelivery"})
    if unsupported:
        raise TopicError(
            f"Invalid parameter: Attributes Reason: Stratus subscriptions support only "
            f"RawMessageDelivery, not {', '.join(unsupported)}"
        )
    return _boolean("RawMessageDelivery", attributes.get("RawMessageDelivery", "false"))


def subscribe(params: dict) -> dict:
    # Confirmed at once, so the ARN is the answer whatever ReturnSubscriptionArn says.
    subscription = topics.subscription_create(
        topic=topics.topic_by_arn(_required(params, "TopicArn")),
        protocol=_required(params, "Protocol"),
        endpoint=params.get("Endpoint") or "",
        raw_message_delivery=_raw_message_delivery(params.get("Attributes") or {}),
    )
    return {"SubscriptionArn": topics.subscription_arn(subscription)}


def unsubscribe(params: dict) -> dict:
    topics.subscription_delete(subscription=topics.subscription_by_arn(_required(params, "SubscriptionArn")))
    return {}


def _subscription_shape(subscription: Subscription) -> dict:
    return {
        "SubscriptionArn": topics.subscription_arn(subscription),
        "Owner": settings.STRATUS_ACCOUNT_ID,
        "Protocol": subscription.protocol,
        "Endpoint": subscription.endpoint,
        "TopicArn": topics.topic_arn(subscription.topic.name),
    }


def _subscription_token(subscription: Subscription) -> str:
    return base64.urlsafe_b64encode(
        f"{subscription.created_at.isoformat()}|{subscription.id}".encode()
    ).decode()


def _subscription_page(found: QuerySet[Subscription], token: str | None) -> dict:
    found = found.select_related("topic").order_by("created_at", "id")
    if token:
        try:
            created_at, subscription_id = base64.urlsafe_b64decode(token).decode().split("|")
            after = (datetime.fromisoformat(created_at), uuid.UUID(subscription_id))
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise TopicError("Invalid parameter: NextToken") from None
        found = found.filter(Q(created_at__gt=after[0]) | Q(created_at=after[0], id__gt=after[1]))
    page = list(found[: PAGE_SIZE + 1])
    result: dict = {"Subscriptions": [_subscription_shape(subscription) for subscription in page[:PAGE_SIZE]]}
    if len(page) > PAGE_SIZE:
        result["NextToken"] = _subscription_token(page[PAGE_SIZE - 1])
    return result


def list_subscriptions(params: dict) -> dict:
    return _subscription_page(Subscription.objects.all(), params.get("NextToken"))


def list_subscriptions_by_topic(params: dict) -> dict:
    topic = topics.topic_by_arn(_required(params, "TopicArn"))
    return _subscription_page(topic.subscriptions.all(), params.get("NextToken"))


def get_subscription_attributes(params: dict) -> dict:
    subscription = topics.subscription_by_arn(_required(params, "SubscriptionArn"))
    return {
        "Attributes": {
            **_subscription_shape(subscription),
            "RawMessageDelivery": "true" if subscription.raw_message_delivery else "false",
            "ConfirmationWasAuthenticated": "true",
            "PendingConfirmation": "false",
        }
    }


def set_subscription_attributes(params: dict) -> dict:
    subscription = topics.subscription_by_arn(_required(params, "SubscriptionArn"))
    name = _required(params, "AttributeName")
    raw = _raw_message_delivery({name: params.get("AttributeValue") or ""})
    topics.subscription_raw_delivery_set(subscription=subscription, raw_message_delivery=raw)
    return {}


# --- Publishing ------------------------------------------------------------------------------


def _publish_options_check(params: dict) -> None:
    """Refuse what a standard Stratus topic cannot honour, before anything is sent."""
    structure = params.get("MessageStructure")
    if structure == "json":
        raise TopicError(
            "Invalid parameter: MessageStructure: Stratus does not support MessageStructure=json "
            "(a different message per protocol); publish the message itself"
        )
    if structure is not None:
        raise TopicError(f"Invalid parameter: MessageStructure: {structure!r} is not json")
    for name in ("MessageGroupId", "MessageDeduplicationId"):
        if params.get(name) is not None:
            raise TopicError(
                f"Invalid parameter: {name}: only FIFO topics take it; Stratus topics are standard"
            )


def _publish_topic(params: dict) -> Topic:
    if params.get("PhoneNumber"):
        raise TopicError("Invalid parameter: PhoneNumber: Stratus does not send SMS; publish to a topic")
    topic_arn, target_arn = params.get("TopicArn"), params.get("TargetArn")
    if topic_arn and target_arn:
        raise TopicError("Invalid parameter: TopicArn or TargetArn: give one, not both")
    if not (topic_arn or target_arn):
        raise TopicError("Invalid parameter: TopicArn or TargetArn: one of them is required")
    return topics.topic_by_arn(topic_arn or target_arn)


def _publish(topic: Topic, params: dict) -> str:
    _publish_options_check(params)
    return topics.topic_publish(
        topic=topic,
        message=params.get("Message") or "",
        subject=params.get("Subject"),
        message_attributes=params.get("MessageAttributes"),
    )


def publish(params: dict) -> dict:
    return {"MessageId": _publish(_publish_topic(params), params)}


def _entry_size(entry: dict) -> int:
    """An entry's bytes as SNS counts them: the message, and each attribute's name, type and value."""
    size = len((entry.get("Message") or "").encode())
    for name, value in (entry.get("MessageAttributes") or {}).items():
        size += len(name.encode()) + sum(len(str(part).encode()) for part in (value or {}).values())
    return size


def _batch_entries(params: dict) -> list[dict]:
    entries = params.get("PublishBatchRequestEntries") or []
    if not entries:
        raise TopicError("The batch request doesn't contain any entries.", code="EmptyBatchRequest")
    if len(entries) > MAX_BATCH_ENTRIES:
        raise TopicError(
            f"The batch request contains more entries than permissible ({MAX_BATCH_ENTRIES}).",
            code="TooManyEntriesInBatchRequest",
        )
    ids = [entry.get("Id") for entry in entries]
    if not all(isinstance(entry_id, str) and _BATCH_ENTRY_ID.fullmatch(entry_id) for entry_id in ids):
        raise TopicError(
            "A batch entry Id can only contain alphanumeric characters, hyphens and underscores, "
            "and be at most 80 characters long.",
            code="InvalidBatchEntryId",
        )
    if len(set(ids)) != len(ids):
        raise TopicError(
            "Two or more batch entries in the request have the same Id.", code="BatchEntryIdsNotDistinct"
        )
    size = sum(_entry_size(entry) for entry in entries)
    if size > topics.MESSAGE_MAX_BYTES:
        raise TopicError(
            f"The batch request is {size} bytes; it must be at most {topics.MESSAGE_MAX_BYTES}.",
            code="BatchRequestTooLong",
        )
    return entries


def publish_batch(params: dict) -> dict:
    topic = topics.topic_by_arn(_required(params, "TopicArn"))
    successful, failed = [], []
    for entry in _batch_entries(params):
        try:
            successful.append({"Id": entry["Id"], "MessageId": _publish(topic, entry)})
        except TopicError as error:
            failed.append(
                {"Id": entry["Id"], "Code": error.code, "Message": error.message, "SenderFault": True}
            )
    return {"Successful": successful, "Failed": failed}


OPERATIONS: dict[str, Callable[[dict], dict]] = {
    "CreateTopic": create_topic,
    "DeleteTopic": delete_topic,
    "ListTopics": list_topics,
    "GetTopicAttributes": get_topic_attributes,
    "Subscribe": subscribe,
    "Unsubscribe": unsubscribe,
    "ListSubscriptions": list_subscriptions,
    "ListSubscriptionsByTopic": list_subscriptions_by_topic,
    "GetSubscriptionAttributes": get_subscription_attributes,
    "SetSubscriptionAttributes": set_subscription_attributes,
    "Publish": publish,
    "PublishBatch": publish_batch,
}


# --- Authorization ---------------------------------------------------------------------------

_SUBSCRIPTION_OPERATIONS = ("Unsubscribe", "GetSubscriptionAttributes", "SetSubscriptionAttributes")


def _resource(action: str, params: dict) -> str:
    """The topic ARN ``action`` acts on, as SNS names it in a refusal; ``*`` for a request that
    names none (the operation then refuses it)."""
    # Topic ARNs name STRATUS_ACCOUNT_ID: topics are not per-account yet.
    if action in ("ListTopics", "ListSubscriptions"):
        return f"arn:aws:sns:{settings.STRATUS_REGION}:{settings.STRATUS_ACCOUNT_ID}:*"
    if action == "CreateTopic":
        name = params.get("Name")
        return topics.topic_arn(name) if name else "*"
    if action in _SUBSCRIPTION_OPERATIONS:
        # A subscription's ARN is its topic's and one more part; SNS authorizes on the topic.
        arn = params.get("SubscriptionArn") or ""
        return arn.rsplit(":", 1)[0] if arn.count(":") == 6 else "*"
    if action == "Publish":
        return params.get("TopicArn") or params.get("TargetArn") or params.get("PhoneNumber") or "*"
    return params.get("TopicArn") or "*"


def _authorize(caller: SignedCaller, action: str, params: dict) -> None:
    # IAM compares actions case-insensitively; SNS's refusal spells the service "SNS".
    named = "Publish" if action == "PublishBatch" else action
    denial = operation_denial(caller, action=f"SNS:{named}", resource=_resource(action, params))
    if denial is not None:
        raise _Error(denial, code="AuthorizationError", status=403)


# --- The wire ----------------------------------------------------------------------------------


def _xml_response(root: Element, *, status: int, request_id: str) -> HttpResponse:
    response = HttpResponse(tostring(root, encoding="utf-8"), status=status, content_type="text/xml")
    response["x-amzn-RequestId"] = request_id
    return response


def _success(operation: OperationModel, result: dict, request_id: str) -> HttpResponse:
    root = Element(f"{operation.name}Response", {"xmlns": XML_NAMESPACE})
    shape = operation.output_shape
    if shape is not None:
        xml_write(root, shape.serialization["resultWrapper"], shape, result)
    SubElement(SubElement(root, "ResponseMetadata"), "RequestId").text = request_id
    return _xml_response(root, status=200, request_id=request_id)


def _failure(error: TopicError, request_id: str) -> HttpResponse:
    status = getattr(error, "status", None) or _status(error.code)
    root = Element("ErrorResponse", {"xmlns": XML_NAMESPACE})
    detail = SubElement(root, "Error")
    SubElement(detail, "Type").text = "Sender" if status < 500 else "Receiver"
    SubElement(detail, "Code").text = error.code
    SubElement(detail, "Message").text = error.message
    SubElement(root, "RequestId").text = request_id
    response = _xml_response(root, status=status, request_id=request_id)
    response["x-amzn-ErrorType"] = error.code
    return response


@csrf_exempt
def dispatch(request: HttpRequest, form: dict[str, str]) -> HttpResponse:
    """Serve the SNS operation named by the form body's ``Action``."""
    request_id = str(uuid.uuid4())
    action = form.get("Action", "")
    try:
        try:
            caller = caller_verify(request, service="sns")
        except LambdaError as error:
            failure = auth_failure(error)
            raise _Error(failure.message, code=failure.code, status=failure.status) from None
        request.access_key_id = caller.access_key_id  # for the request log
        handler = OPERATIONS.get(action)
        if handler is None:
            raise _Error(
                f"Stratus's SNS does not serve {action!r}; it serves {', '.join(OPERATIONS)}.",
                code="InvalidAction",
                status=400,
            )
        operation = _service_model().operation_model(action)
        try:
            params = QUERY.decode(request, operation)
        except CloudWatchError as error:
            raise TopicError(f"Invalid parameter: {error.message}") from None
        _authorize(caller, action, params)
        return _success(operation, handler(params), request_id)
    except TopicError as error:
        return _failure(error, request_id)
    except Exception:
        logger.exception("SNS %s failed", action)
        error = _Error(
            "An internal error occurred; the server log has the details.", code="InternalError", status=500
        )
        return _failure(error, request_id)
