"""SNS's own API for Stratus topics: the query protocol that boto3's ``sns`` client and
``aws sns`` send (``POST /`` with a form body ``Action=<Op>&Version=2010-03-31``), answered in
XML in SNS's namespace, served through the front door (``awsapi``) from the table ``SNS``.

Requests are read against botocore's own SNS model, and every rule lives in ``topics``; this
module only translates. Errors carry SNS's codes with the HTTP
status botocore's model gives them, so botocore raises its modeled exceptions
(``sns.exceptions.NotFoundException``, ``InvalidParameterException`` and the rest).

Subscriptions are confirmed at once: Subscribe always answers the subscription's ARN, never
"pending confirmation". Of the attributes given to CreateTopic or
SetTopicAttributes, ``Policy`` (evaluated on every call), ``DisplayName`` and
``DeliveryPolicy`` are kept; the rest, and tags, are accepted and ignored, except
``FifoTopic=true``, which is refused: Stratus topics are standard topics.
``MessageStructure=json`` (a message per protocol) is refused too.

Every operation is authorized as ``sns:<Operation>`` (PublishBatch as ``sns:Publish``) on the
topic it names; a refusal is SNS's ``AuthorizationError``, HTTP 403, in SNS's words. A topic
ARN names its account, so naming another account's topic is a cross-account call that the
topic's policy must allow (iam/tenancy.py). Lists show the caller's account's topics, and the
subscriptions to them. Names are unique across the install for now: see ``topics``.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Callable
from datetime import datetime

from django.db.models import Q, QuerySet

from awsapi.errors import AwsError
from awsapi.front import Call, Service, on_params
from functions_app.triggers import topics
from functions_app.triggers.arns import topic_arn
from functions_app.triggers.models import Subscription, Topic
from functions_app.triggers.topics import TopicError
from iam.policy import Policy

PAGE_SIZE = 100  # SNS's page for ListTopics and ListSubscriptions(ByTopic)
MAX_BATCH_ENTRIES = 10
_BATCH_ENTRY_ID = re.compile(r"[A-Za-z0-9_-]{1,80}")


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
    given = {name: attributes[name] for name in topics.SETTABLE_ATTRIBUTES if attributes.get(name)}
    topic = topics.topic_create(name=_required(params, "Name"), attributes=given)
    return {"TopicArn": topic.arn()}


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
    found = topics.topics_of_account().order_by("name")
    after = params.get("NextToken")
    if after:
        if not topics.TOPIC_NAME.fullmatch(after):
            raise TopicError("Invalid parameter: NextToken")
        found = found.filter(name__gt=after)
    rows = list(found[: PAGE_SIZE + 1])
    result: dict = {"Topics": [{"TopicArn": topic.arn()} for topic in rows[:PAGE_SIZE]]}
    if len(rows) > PAGE_SIZE:
        result["NextToken"] = rows[PAGE_SIZE - 1].name
    return result


def get_topic_attributes(params: dict) -> dict:
    topic = topics.topic_by_arn(_required(params, "TopicArn"))
    return {
        "Attributes": {
            "TopicArn": topic.arn(),
            "Owner": topic.account_id,
            "DisplayName": topic.attributes.get("DisplayName", ""),
            "Policy": topic.attributes.get("Policy") or topics.default_policy(topic),
            **(
                {"DeliveryPolicy": topic.attributes["DeliveryPolicy"]}
                if "DeliveryPolicy" in topic.attributes
                else {}
            ),
            "SubscriptionsConfirmed": str(topic.subscriptions.count()),
            "SubscriptionsPending": "0",
            "SubscriptionsDeleted": "0",
        }
    }


def set_topic_attributes(params: dict) -> dict:
    topic = topics.topic_by_arn(_required(params, "TopicArn"))
    topics.topic_attribute_set(
        topic=topic, name=_required(params, "AttributeName"), value=params.get("AttributeValue") or ""
    )
    return {}


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
        "Owner": subscription.topic.account_id,
        "Protocol": subscription.protocol,
        "Endpoint": subscription.endpoint,
        "TopicArn": subscription.topic.arn(),
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
    found = Subscription.objects.filter(topic__in=topics.topics_of_account())
    return _subscription_page(found, params.get("NextToken"))


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
    "SetTopicAttributes": set_topic_attributes,
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
    """The topic ARN ``action`` acts on, as SNS names it in a refusal (a name is the caller's
    account's, an ARN names its own); ``*`` for a request that names none (the operation then
    refuses it)."""
    if action in ("ListTopics", "ListSubscriptions"):
        return topic_arn("*")
    if action == "CreateTopic":
        name = params.get("Name")
        return topic_arn(name) if name else "*"
    if action in _SUBSCRIPTION_OPERATIONS:
        # A subscription's ARN is its topic's and one more part; SNS authorizes on the topic.
        arn = params.get("SubscriptionArn") or ""
        return arn.rsplit(":", 1)[0] if arn.count(":") == 6 else "*"
    if action == "Publish":
        return params.get("TopicArn") or params.get("TargetArn") or params.get("PhoneNumber") or "*"
    return params.get("TopicArn") or "*"


def _resource_of(call: Call) -> str:
    return _resource(call.operation, call.params)


def _topic_policy(call: Call, resource: str) -> Policy | None:
    return topics.topic_policy(resource)


def _malformed(error: AwsError) -> TopicError:
    return TopicError(f"Invalid parameter: {error.message}")


def _unknown(action: str) -> TopicError:
    return TopicError(
        f"Stratus's SNS does not serve {action!r}; it serves {', '.join(OPERATIONS)}.",
        code="InvalidAction",
        status=400,
    )


SNS = Service(
    model_name="sns",
    signing_name="sns",
    family=TopicError,
    operations=on_params(OPERATIONS),
    resource=_resource_of,
    resource_policy=_topic_policy,
    # IAM compares actions case-insensitively; SNS's refusal spells the service "SNS".
    action=lambda action: f"SNS:{'Publish' if action == 'PublishBatch' else action}",
    denied=lambda message: TopicError(message, code="AuthorizationError", status=403),
    unknown=_unknown,
    malformed=_malformed,
    internal=lambda: TopicError(
        "An internal error occurred; the server log has the details.", code="InternalError", status=500
    ),
)
