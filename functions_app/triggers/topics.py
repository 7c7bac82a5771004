"""Stratus topics: create and delete them, subscribe and unsubscribe, publish. SNS's rules,
written once for an SNS API, the dashboard and async destinations.

A publish fans out after the database transaction commits, one delivery per subscription:

- ``lambda``: an asynchronous invocation with SNS's event, so Lambda's retries, destinations
  and dead-letter target apply;
- ``sqs``: a message in the Stratus queue, the JSON notification as its body (or the bare
  message with raw message delivery);
- ``http``/``https``: a POST of the JSON notification, through the destinations' retried
  delivery job.

Queues and the async queue are durable, so the first two are delivered at once; an endpoint
that has since disappeared is logged and recorded (``subscription_delivery_failure``).

A topic belongs to an account (iam/tenancy.py): a topic ARN is looked up in the account it
names, a bare name in the request's, and a new topic is the request's account's. Names are
unique across the install for now, so creating a topic whose name another account uses fails
as creating one with different attributes does (``InvalidParameter``).
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import logging
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from awsapi.errors import AwsError
from awsapi.shapes import service_model
from functions_app.redis_client import redis_client
from functions_app.runtime.records import record_emit
from functions_app.triggers.arns import ACCOUNT_ID, topic_arn
from functions_app.triggers.models import Subscription, Topic
from iam.authorization import resource_policy
from iam.errors import MalformedPolicyDocument
from iam.models import default_account_id
from iam.policy import Policy, policy_parse
from iam.tenancy import current_account

logger = logging.getLogger("stratus.topics")

TOPIC_NAME = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
MESSAGE_MAX_BYTES = 256 * 1024
SUBJECT_MAX = 100
_SUBJECT = re.compile(r"^[\x21-\x7e][\x20-\x7e]*$")  # printable ASCII, not starting with a space
_ATTRIBUTE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,256}$")
_ATTRIBUTE_TYPE = re.compile(r"^(String|String\.Array|Number|Binary)(\.[\x21-\x7e]+)?$")


class TopicError(AwsError):
    """An SNS error: ``code`` is SNS's error code (``NotFound``, ``InvalidParameter``), its
    HTTP status the one botocore's model gives that code unless said otherwise."""

    def __init__(self, message: str, *, code: str = "InvalidParameter", status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status or _status(code)


@functools.cache
def _status(code: str) -> int:
    for shape in service_model("sns").error_shapes:
        error = shape.metadata.get("error") or {}
        if error.get("code") == code:
            return error.get("httpStatusCode", 400)
    return 400


def subscription_arn(subscription: Subscription) -> str:
    return f"{subscription.topic.arn()}:{subscription.id}"


def _arn_parts(arn: str) -> list[str] | None:
    """A topic ARN's six parts (a subscription's seven), of any account in this region."""
    parts = arn.split(":") if isinstance(arn, str) else []
    if (
        len(parts) in (6, 7)
        and parts[:3] == ["arn", "aws", "sns"]
        and parts[3] == settings.STRATUS_REGION
        and ACCOUNT_ID.fullmatch(parts[4])
    ):
        return parts
    return None


def topics_of_account() -> QuerySet[Topic]:
    """The topics of the request's account (iam.tenancy); every topic outside a request."""
    account = current_account()
    return Topic.objects.filter(account_id=account) if account else Topic.objects.all()


def topic_get(name: str, *, account: str | None = None) -> Topic:
    """The topic ``name`` in ``account``, by default the request's (any outside a request)."""
    account = account or current_account()
    found = Topic.objects.filter(name=name)
    topic = (found.filter(account_id=account) if account else found).first()
    if topic is None:
        raise TopicError("Topic does not exist", code="NotFound")
    return topic


def topic_by_arn(arn: str) -> Topic:
    """The topic ``arn`` names, in the account it names."""
    parts = _arn_parts(arn)
    if parts is None or len(parts) != 6:
        raise TopicError(f"Invalid parameter: TopicArn: {arn!r} is not a topic ARN in this region")
    return topic_get(parts[5], account=parts[4])


def subscription_by_arn(arn: str) -> Subscription:
    parts = _arn_parts(arn)
    if parts is None or len(parts) != 7:
        raise TopicError(f"Invalid parameter: SubscriptionArn: {arn!r} is not a subscription ARN")
    try:
        subscription_id = uuid.UUID(parts[6])
    except ValueError:
        raise TopicError(f"Invalid parameter: SubscriptionArn: {arn!r} is not a subscription ARN") from None
    subscription = (
        Subscription.objects.select_related("topic")
        .filter(id=subscription_id, topic__name=parts[5], topic__account_id=parts[4])
        .first()
    )
    if subscription is None:
        raise TopicError("Subscription does not exist", code="NotFound")
    return subscription


def topic_create(*, name: str, attributes: dict[str, str] | None = None) -> Topic:
    """Create a topic with its settable ``attributes``; creating one that exists returns it, as
    SNS does, unless the attributes differ (which only SetTopicAttributes changes)."""
    if not isinstance(name, str) or not TOPIC_NAME.fullmatch(name):
        if isinstance(name, str) and name.endswith(".fifo"):
            raise TopicError("Invalid parameter: Stratus topics are standard topics; FIFO is not supported")
        raise TopicError(
            "Invalid parameter: Topic Name: must be 1 to 256 alphanumeric characters, hyphens or underscores"
        )
    attributes = {key: _attribute_check(key, value) for key, value in (attributes or {}).items() if value}
    account = current_account() or default_account_id()
    existing = Topic.objects.filter(name=name).first()
    if existing is None:
        try:
            with transaction.atomic():
                return Topic.objects.create(name=name, account_id=account, attributes=attributes)
        except IntegrityError:  # created concurrently
            existing = Topic.objects.get(name=name)
    if existing.account_id != account:
        raise TopicError(
            f"Invalid parameter: Name Reason: A topic named {name} exists in another account; "
            "topic names are unique across this Stratus install for now"
        )
    if any(existing.attributes.get(key) != value for key, value in attributes.items()):
        raise TopicError(
            "Invalid parameter: Attributes Reason: Topic already exists with different attributes"
        )
    return existing


# The attributes SetTopicAttributes stores; the rest of SNS's are computed or not served.
SETTABLE_ATTRIBUTES = ("Policy", "DisplayName", "DeliveryPolicy")
DISPLAY_NAME_MAX = 100


def topic_attribute_set(*, topic: Topic, name: str, value: str) -> None:
    """Set one of the topic's attributes (an empty value unsets it), checked as SNS checks it."""
    if value:
        topic.attributes[name] = _attribute_check(name, value)
    else:
        _attribute_check(name, value)
        topic.attributes.pop(name, None)
    topic.save(update_fields=["attributes"])


def _attribute_check(name: str, value: str) -> str:
    if name not in SETTABLE_ATTRIBUTES:
        raise TopicError(
            f"Invalid parameter: AttributeName: Stratus topics take {', '.join(SETTABLE_ATTRIBUTES)}"
        )
    if name == "Policy" and value:
        try:
            policy_parse(value, kind="resource", label="Policy")
        except MalformedPolicyDocument as error:
            raise TopicError(f"Invalid parameter: Policy Error: {error.message}") from None
    if name == "DisplayName" and len(value) > DISPLAY_NAME_MAX:
        raise TopicError(f"Invalid parameter: DisplayName: must be at most {DISPLAY_NAME_MAX} characters")
    if name == "DeliveryPolicy" and value:
        try:
            json.loads(value)
        except ValueError:
            raise TopicError("Invalid parameter: DeliveryPolicy: Invalid JSON") from None
    return value


def topic_policy(arn: str) -> Policy | None:
    """The parsed access policy set on the topic ``arn`` names; None when none was set (or the
    ARN names no topic of this region: the operation answers that)."""
    parts = _arn_parts(arn)
    if parts is None or len(parts) != 6:
        return None
    account, name = parts[4], parts[5]
    found = Topic.objects.filter(name=name, account_id=account)
    attributes = found.values_list("attributes", flat=True).first()
    document = (attributes or {}).get("Policy")
    return resource_policy(document, topic_arn(name, account=account))


def default_policy(topic: Topic) -> str:
    """The policy SNS reports for a topic nobody set one on: the owning account may do
    everything (which its identity policies decide here; this one is reported, not evaluated)."""
    arn = topic.arn()
    actions = [
        f"SNS:{action}"
        for action in (
            "GetTopicAttributes",
            "SetTopicAttributes",
            "AddPermission",
            "RemovePermission",
            "DeleteTopic",
            "Subscribe",
            "ListSubscriptionsByTopic",
            "Publish",
        )
    ]
    statement = {
        "Sid": "__default_statement_ID",
        "Effect": "Allow",
        "Principal": {"AWS": "*"},
        "Action": actions,
        "Resource": arn,
        "Condition": {"StringEquals": {"AWS:SourceOwner": topic.account_id}},
    }
    return json.dumps({"Version": "2008-10-17", "Id": "__default_policy_ID", "Statement": [statement]})


def topic_delete(*, topic: Topic) -> None:
    """Delete the topic and its subscriptions; messages already fanned out stay delivered."""
    topic.delete()


def _lambda_endpoint(endpoint: str) -> str:
    """The endpoint as the full ARN of an existing function (with its qualifier, if any)."""
    from functions_app.arns import function_ref_parse
    from functions_app.errors import LambdaError
    from functions_app.selectors import function_get, qualifier_exists_check

    try:
        ref = function_ref_parse(endpoint)
        function = function_get(ref)
        if ref.qualifier:
            qualifier_exists_check(function, ref.qualifier)
    except LambdaError as exc:
        raise TopicError(f"Invalid parameter: Lambda endpoint: {exc.message}") from None
    return function.arn(ref.qualifier)


def _sqs_endpoint(endpoint: str) -> str:
    from functions_app.triggers.queues import QueueError, queue_by_arn

    try:
        queue = queue_by_arn(endpoint)
    except QueueError as exc:
        raise TopicError(f"Invalid parameter: SQS endpoint: {exc.message}") from None
    return queue.arn()


def _http_endpoint(protocol: str, endpoint: str) -> str:
    parts = urlsplit(endpoint)
    if parts.scheme != protocol or not parts.netloc or any(char.isspace() for char in endpoint):
        raise TopicError(f"Invalid parameter: Endpoint must be an {protocol}:// URL for protocol {protocol}")
    return endpoint


def subscription_create(
    *, topic: Topic, protocol: str, endpoint: str, raw_message_delivery: bool = False
) -> Subscription:
    """Subscribe ``endpoint`` to ``topic``; subscribing it again returns the same subscription.

    ``lambda`` takes a function's name or ARN, ``sqs`` a Stratus queue's ARN (both must exist),
    ``http``/``https`` a URL. Subscriptions are confirmed at once: Stratus is one account.
    """
    if protocol not in Subscription.Protocol.values:
        raise TopicError(
            f"Invalid parameter: Protocol: {protocol!r} is not one of {', '.join(Subscription.Protocol.values)}"
        )
    if not isinstance(endpoint, str) or not endpoint or len(endpoint) > 1024:
        raise TopicError("Invalid parameter: Endpoint: must be a non-empty string of at most 1024 characters")
    if protocol == Subscription.Protocol.LAMBDA:
        endpoint = _lambda_endpoint(endpoint)
    elif protocol == Subscription.Protocol.SQS:
        endpoint = _sqs_endpoint(endpoint)
    else:
        endpoint = _http_endpoint(protocol, endpoint)
    raw_message_delivery = _raw_delivery_check(protocol, raw_message_delivery)
    try:
        with transaction.atomic():
            subscription, created = Subscription.objects.get_or_create(
                topic=topic,
                protocol=protocol,
                endpoint=endpoint,
                defaults={"raw_message_delivery": raw_message_delivery},
            )
    except IntegrityError:  # subscribed concurrently
        subscription, created = (
            Subscription.objects.get(topic=topic, protocol=protocol, endpoint=endpoint),
            False,
        )
    if not created and subscription.raw_message_delivery != raw_message_delivery:
        raise TopicError(
            "Invalid parameter: Attributes Reason: Subscription already exists with different attributes"
        )
    return subscription


def _raw_delivery_check(protocol: str, raw_message_delivery: object) -> bool:
    raw = bool(raw_message_delivery)
    if raw and protocol == Subscription.Protocol.LAMBDA:
        raise TopicError("Invalid parameter: Attributes Reason: RawMessageDelivery: Invalid value for lambda")
    return raw


def subscription_raw_delivery_set(*, subscription: Subscription, raw_message_delivery: bool) -> Subscription:
    """SetSubscriptionAttributes' one attribute: deliver the bare message instead of SNS's JSON."""
    subscription.raw_message_delivery = _raw_delivery_check(subscription.protocol, raw_message_delivery)
    subscription.save(update_fields=["raw_message_delivery"])
    return subscription


def subscription_delete(*, subscription: Subscription) -> None:
    subscription.delete()


def _attributes_clean(attributes: dict | None) -> dict[str, dict[str, str]]:
    """Publish's MessageAttributes (``{"DataType", "StringValue"|"BinaryValue"}``) as
    ``{name: {"Type", "Value"}}``, binary values base64-encoded, the form every delivery uses."""
    if attributes is None:
        return {}
    if not isinstance(attributes, dict):
        raise TopicError("Invalid parameter: MessageAttributes must be a map")
    cleaned = {}
    for name, value in attributes.items():
        if (
            not isinstance(name, str)
            or not _ATTRIBUTE_NAME.fullmatch(name)
            or name.startswith((".", "AWS.", "Amazon."))
            or name.endswith(".")
            or ".." in name
        ):
            raise TopicError(f"Invalid parameter: Message attribute name {name!r} is not valid")
        data_type = value.get("DataType") if isinstance(value, dict) else None
        if not isinstance(data_type, str) or not _ATTRIBUTE_TYPE.fullmatch(data_type):
            raise TopicError(
                f"Invalid parameter: The message attribute '{name}' has an invalid message attribute type"
            )
        if data_type.startswith("Binary"):
            raw = value.get("BinaryValue")
            if isinstance(raw, bytes | bytearray):
                raw = base64.b64encode(raw).decode()
            elif isinstance(raw, str):
                try:
                    base64.b64decode(raw, validate=True)
                except binascii.Error:
                    raise TopicError(
                        f"Invalid parameter: The message attribute '{name}' is not base64"
                    ) from None
        else:
            raw = value.get("StringValue")
        if not isinstance(raw, str) or raw == "":
            raise TopicError(
                f"Invalid parameter: The message attribute '{name}' must contain a non-empty value"
            )
        if data_type.startswith("Number"):
            try:
                float(raw)
            except ValueError:
                raise TopicError(
                    f"Invalid parameter: The message attribute '{name}' with type 'Number' must be a number"
                ) from None
        cleaned[name] = {"Type": data_type, "Value": raw}
    return cleaned


def _timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class _Published:
    message_id: str
    topic_arn: str
    subject: str | None
    message: str
    timestamp: str
    attributes: dict[str, dict[str, str]]

    def notification(self) -> dict:
        """The JSON notification SNS sends to HTTP endpoints and SQS queues."""
        body = {"Type": "Notification", "MessageId": self.message_id, "TopicArn": self.topic_arn}
        if self.subject is not None:
            body["Subject"] = self.subject
        body.update(
            {
                "Message": self.message,
                "Timestamp": self.timestamp,
                "SignatureVersion": "1",
                "Signature": "",
                "SigningCertURL": "",
                "UnsubscribeURL": "",
            }
        )
        if self.attributes:
            body["MessageAttributes"] = self.attributes
        return body

    def lambda_event(self, subscription_arn: str) -> dict:
        """SNS's event for a Lambda subscriber (note ``Url``, not ``URL``, and a null Subject)."""
        return {
            "Records": [
                {
                    "EventSource": "aws:sns",
                    "EventVersion": "1.0",
                    "EventSubscriptionArn": subscription_arn,
                    "Sns": {
                        "Type": "Notification",
                        "MessageId": self.message_id,
                        "TopicArn": self.topic_arn,
                        "Subject": self.subject,
                        "Message": self.message,
                        "Timestamp": self.timestamp,
                        "SignatureVersion": "1",
                        "Signature": "",
                        "SigningCertUrl": "",
                        "UnsubscribeUrl": "",
                        "MessageAttributes": self.attributes,
                    },
                }
            ]
        }


@dataclass(frozen=True)
class _Target:
    arn: str
    protocol: str
    endpoint: str
    raw: bool


def topic_publish(
    *, topic: Topic, message: str, subject: str | None = None, message_attributes: dict | None = None
) -> str:
    """Publish ``message`` to every subscription of ``topic``; returns the MessageId.

    The fan-out runs after the surrounding transaction commits (at once outside one).
    """
    if not isinstance(message, str) or message == "":
        raise TopicError("Invalid parameter: Empty message")
    if subject is not None and (
        not isinstance(subject, str) or len(subject) > SUBJECT_MAX or not _SUBJECT.fullmatch(subject)
    ):
        raise TopicError(
            "Invalid parameter: Subject: must be printable ASCII of at most 100 characters, "
            "starting with a letter, number or punctuation mark, without line breaks"
        )
    attributes = _attributes_clean(message_attributes)
    size = len(message.encode()) + sum(
        len(name.encode()) + len(value["Type"]) + len(value["Value"].encode())
        for name, value in attributes.items()
    )
    if size > MESSAGE_MAX_BYTES:
        raise TopicError(f"Invalid parameter: Message too long: must be at most {MESSAGE_MAX_BYTES} bytes")
    arn = topic.arn()
    published = _Published(
        message_id=str(uuid.uuid4()),
        topic_arn=arn,
        subject=subject,
        message=message,
        timestamp=_timestamp(datetime.now(UTC)),
        attributes=attributes,
    )
    targets = [
        _Target(
            arn=f"{arn}:{subscription.id}",
            protocol=subscription.protocol,
            endpoint=subscription.endpoint,
            raw=subscription.raw_message_delivery,
        )
        for subscription in topic.subscriptions.all()
    ]
    transaction.on_commit(lambda: _fan_out(published, targets))
    return published.message_id


def _fan_out(published: _Published, targets: list[_Target]) -> None:
    for target in targets:
        try:
            _DELIVERIES[target.protocol](published, target)
        except TopicError as exc:
            logger.warning("%s: %s: %s", published.message_id, target.arn, exc.message)
            record_emit(
                redis_client(),
                {
                    "kind": "subscription_delivery_failure",
                    "request_id": published.message_id,
                    "topic": published.topic_arn,
                    "target": target.endpoint,
                    "error": exc.message,
                },
            )


def _to_lambda(published: _Published, target: _Target) -> None:
    from functions_app.arns import function_ref_parse
    from functions_app.errors import LambdaError
    from functions_app.selectors import function_get
    from functions_app.services.events import event_accept_for

    try:
        ref = function_ref_parse(target.endpoint)
        event_accept_for(
            function=function_get(ref),
            qualifier=ref.qualifier,
            payload=json.dumps(published.lambda_event(target.arn)).encode(),
            trigger="sns",
        )
    except LambdaError as exc:
        raise TopicError(exc.message) from None


def _to_queue(published: _Published, target: _Target) -> None:
    from functions_app.triggers.queues import QueueError, message_send, queue_by_arn

    if target.raw:
        body = published.message
        # With raw delivery SNS's attributes become the SQS message's own.
        attributes = {
            name: {
                "DataType": value["Type"],
                "BinaryValue" if value["Type"].startswith("Binary") else "StringValue": value["Value"],
            }
            for name, value in published.attributes.items()
        }
    else:
        body, attributes = json.dumps(published.notification()), None
    try:
        message_send(
            queue=queue_by_arn(target.endpoint),
            body=body,
            attributes=attributes,
            sender_id=published.topic_arn,
        )
    except QueueError as exc:
        raise TopicError(exc.message) from None


def _to_webhook(published: _Published, target: _Target) -> None:
    from functions_app.services.destinations import SUBSCRIPTION, delivery_enqueue

    headers = {
        "Content-Type": "text/plain; charset=UTF-8",
        "x-amz-sns-message-type": "Notification",
        "x-amz-sns-message-id": published.message_id,
        "x-amz-sns-topic-arn": published.topic_arn,
        "x-amz-sns-subscription-arn": target.arn,
    }
    if target.raw:
        headers["x-amz-sns-rawdelivery"] = "true"
    payload = published.message if target.raw else json.dumps(published.notification())
    delivery_enqueue(
        redis_client(),
        kind=SUBSCRIPTION,
        target=target.endpoint,
        body={"payload": payload, "headers": headers},
        function_name="",
        request_id=published.message_id,
        topic_name=published.topic_arn.rsplit(":", 1)[1],
    )


_DELIVERIES = {
    Subscription.Protocol.LAMBDA: _to_lambda,
    Subscription.Protocol.SQS: _to_queue,
    Subscription.Protocol.HTTP: _to_webhook,
    Subscription.Protocol.HTTPS: _to_webhook,
}
