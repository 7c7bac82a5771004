"""Event source mappings: the Lambda API's *EventSourceMapping operations, validated once.

The source decides the kind, and the kind decides which settings apply:

- ``arn:aws:sqs:…:<queue>``: a Stratus queue (``sqs``);
- ``arn:aws:kinesis:…:stream/<name>``: a Stratus stream on Redis Streams (``stream``), the
  Kinesis / DynamoDB Streams model;
- ``arn:aws:mq:…:broker:<name>:<id>``: a RabbitMQ broker (``rabbitmq``), the Amazon MQ model;
  ``STRATUS_MQ_BROKERS`` maps broker names to AMQP URLs;
- ``SelfManagedEventSource`` with ``KAFKA_BOOTSTRAP_SERVERS``: Apache Kafka (``kafka``).

Pollers (``triggers.pollers``) move a mapping from Creating / Enabling / Disabling to Enabled
or Disabled as they take it up or let it go.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

from django.conf import settings
from django.utils import timezone

from functions_app.arns import function_ref_parse
from functions_app.errors import InvalidParameterValue, ResourceConflict, ResourceNotFound
from functions_app.selectors import function_get, functions_of_account, qualifier_exists_check
from functions_app.services.role_permissions import destination_check, function_role, source_check
from functions_app.triggers.filter_patterns import FilterPatternError, filter_criteria_validate
from functions_app.triggers.models import EventSourceMapping
from functions_app.triggers.queues import queue_name_from_arn
from functions_app.triggers.streams import stream_name_from_arn

State = EventSourceMapping.State
_MQ_ARN = re.compile(
    r"^arn:aws[a-zA-Z-]*:mq:[a-z0-9-]+:\d{12}:broker:(?P<name>[A-Za-z0-9_-]+):[A-Za-z0-9_-]+$"
)
_STREAM_KINDS = ("stream", "kafka")
# Field: (kinds it applies to, low, high).
_BOUNDS = {
    "BatchSize": (None, 1, 10000),
    "MaximumBatchingWindowInSeconds": (None, 0, 300),
    "ParallelizationFactor": (("stream",), 1, 10),
    "MaximumRecordAgeInSeconds": (("stream",), -1, 604800),
    "MaximumRetryAttempts": (("stream",), -1, 10000),
    "TumblingWindowInSeconds": (("stream",), 0, 900),
}
_DEFAULT_BATCH = {"sqs": 10, "stream": 100, "rabbitmq": 100, "kafka": 100}


def mapping_kind(fields: dict) -> tuple[str, str]:
    """(kind, source) for a CreateEventSourceMapping request."""
    arn = fields.get("EventSourceArn")
    self_managed = fields.get("SelfManagedEventSource")
    if self_managed:
        servers = (
            (self_managed.get("Endpoints") or {}).get("KAFKA_BOOTSTRAP_SERVERS")
            if isinstance(self_managed, dict)
            else None
        )
        if not servers or not isinstance(servers, list):
            raise InvalidParameterValue(
                "SelfManagedEventSource.Endpoints must have KAFKA_BOOTSTRAP_SERVERS (a list of host:port)."
            )
        topics = fields.get("Topics")
        if not isinstance(topics, list) or len(topics) != 1 or not isinstance(topics[0], str):
            raise InvalidParameterValue("Topics must name exactly one Kafka topic.")
        return "kafka", topics[0]
    if not isinstance(arn, str) or not arn:
        raise InvalidParameterValue("EventSourceArn is required (or SelfManagedEventSource for Kafka).")
    if queue_name_from_arn(arn):
        return "sqs", arn
    if stream_name_from_arn(arn):
        return "stream", arn
    if _MQ_ARN.fullmatch(arn):
        queues = fields.get("Queues")
        if not isinstance(queues, list) or len(queues) != 1 or not isinstance(queues[0], str):
            raise InvalidParameterValue("Queues must name exactly one RabbitMQ queue.")
        return "rabbitmq", arn
    raise InvalidParameterValue(
        f"Unsupported event source {arn!r}: Stratus polls its queues (arn:aws:sqs:…), its streams "
        "(arn:aws:kinesis:…:stream/…), RabbitMQ brokers (arn:aws:mq:…) and Kafka (SelfManagedEventSource)."
    )


def mq_brokers() -> dict[str, str]:
    """The RabbitMQ brokers ``STRATUS_MQ_BROKERS`` names (``name=amqp://...,name2=...``)."""
    pairs = (entry.split("=", 1) for entry in settings.STRATUS_MQ_BROKERS.split(",") if "=" in entry)
    return {name.strip(): url.strip() for name, url in pairs}


def mq_broker_url(arn: str) -> str:
    """The AMQP URL for an Amazon MQ broker ARN, from ``STRATUS_MQ_BROKERS``."""
    match = _MQ_ARN.fullmatch(arn)
    name = match["name"] if match else ""
    brokers = mq_brokers()
    if name not in brokers:
        raise InvalidParameterValue(
            f"No RabbitMQ broker named {name!r}: set STRATUS_MQ_BROKERS={name}=amqp://user:password@host:5672/"
        )
    return brokers[name]


def _config_check(kind: str, fields: dict, current: dict) -> dict:
    config = dict(current)
    for name, (kinds, low, high) in _BOUNDS.items():
        if fields.get(name) is None:
            continue
        value = fields[name]
        kafka_allowed = kind == "kafka" and name not in ("ParallelizationFactor", "TumblingWindowInSeconds")
        if kinds and kind not in kinds and not kafka_allowed:
            raise InvalidParameterValue(f"{name} is not supported for this event source.")
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise InvalidParameterValue(f"{name} must be an integer from {low} to {high}, got {value!r}.")
        config[name] = value
    if config.get("TumblingWindowInSeconds") and config.get("ParallelizationFactor", 1) > 1:
        raise InvalidParameterValue(
            "TumblingWindowInSeconds needs ParallelizationFactor 1: a window's state follows one shard in order."
        )
    config.setdefault("BatchSize", _DEFAULT_BATCH[kind])
    config.setdefault("MaximumBatchingWindowInSeconds", 0)
    if kind == "sqs" and config["BatchSize"] > 10 and config["MaximumBatchingWindowInSeconds"] < 1:
        raise InvalidParameterValue(
            "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10"
        )
    if kind in _STREAM_KINDS:
        config.setdefault("ParallelizationFactor", 1)
        config.setdefault("MaximumRecordAgeInSeconds", -1)
        config.setdefault("MaximumRetryAttempts", -1)
        config.setdefault("BisectBatchOnFunctionError", False)
    if "BisectBatchOnFunctionError" in fields:
        if kind not in _STREAM_KINDS:
            raise InvalidParameterValue("BisectBatchOnFunctionError applies to streams only.")
        config["BisectBatchOnFunctionError"] = bool(fields["BisectBatchOnFunctionError"])
    if "FilterCriteria" in fields:
        try:
            filter_criteria_validate(fields["FilterCriteria"])
        except FilterPatternError as error:
            raise InvalidParameterValue(str(error)) from None
        config["FilterCriteria"] = fields["FilterCriteria"] or {}
    if "FunctionResponseTypes" in fields:
        types = fields["FunctionResponseTypes"] or []
        if any(value != "ReportBatchItemFailures" for value in types):
            raise InvalidParameterValue("FunctionResponseTypes may only contain ReportBatchItemFailures.")
        config["FunctionResponseTypes"] = types
    if "ScalingConfig" in fields:
        scaling = fields["ScalingConfig"] or {}
        maximum = scaling.get("MaximumConcurrency")
        if kind != "sqs" or (maximum is not None and not (isinstance(maximum, int) and 2 <= maximum <= 1000)):
            raise InvalidParameterValue(
                "ScalingConfig.MaximumConcurrency (2 to 1000) applies to SQS sources only."
            )
        config["ScalingConfig"] = scaling
    if "DestinationConfig" in fields:
        if kind not in _STREAM_KINDS:
            raise InvalidParameterValue("DestinationConfig applies to stream and Kafka sources only.")
        on_failure = ((fields["DestinationConfig"] or {}).get("OnFailure") or {}).get("Destination")
        if on_failure and not re.fullmatch(
            r"^(arn:aws[a-zA-Z-]*:(sqs|sns|lambda):\S+|https?://\S+)$", on_failure
        ):
            raise InvalidParameterValue(
                f"DestinationConfig.OnFailure {on_failure!r} is not a queue, topic or URL."
            )
        config["DestinationConfig"] = {"OnFailure": {"Destination": on_failure}} if on_failure else {}
    return config


def _starting_position(kind: str, fields: dict) -> dict:
    if kind not in _STREAM_KINDS:
        if fields.get("StartingPosition"):
            raise InvalidParameterValue("StartingPosition applies to stream and Kafka sources only.")
        return {}
    position = fields.get("StartingPosition")
    if position not in ("TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"):
        raise InvalidParameterValue("StartingPosition is required: TRIM_HORIZON, LATEST or AT_TIMESTAMP.")
    config = {"StartingPosition": position}
    if position == "AT_TIMESTAMP":
        stamp = fields.get("StartingPositionTimestamp")
        if not isinstance(stamp, int | float):
            raise InvalidParameterValue("StartingPositionTimestamp is required with AT_TIMESTAMP.")
        config["StartingPositionTimestamp"] = float(stamp)
    return config


def _on_failure_check(config: dict, *, role: str, function_name: str) -> None:
    """The role must be allowed to send to a stream mapping's on-failure destination."""
    destination = ((config.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
    if destination:
        destination_check(role_arn=role, function_name=function_name, destination=destination)


def mapping_create(*, fields: dict) -> EventSourceMapping:
    kind, source = mapping_kind(fields)
    ref = function_ref_parse(str(fields.get("FunctionName") or ""))
    function = function_get(ref)
    if ref.qualifier:
        qualifier_exists_check(function, ref.qualifier)
    if kind == "sqs":
        from functions_app.triggers.queues import queue_by_arn

        queue_by_arn(source)
    elif kind == "rabbitmq":
        mq_broker_url(source)
    config = {**_starting_position(kind, fields), **_config_check(kind, fields, {})}
    if kind == "kafka":
        config["SelfManagedEventSource"] = fields["SelfManagedEventSource"]
        config["Topics"] = fields["Topics"]
        group = (fields.get("SelfManagedKafkaEventSourceConfig") or {}).get("ConsumerGroupId")
        config["SelfManagedKafkaEventSourceConfig"] = {"ConsumerGroupId": group or str(uuid.uuid4())}
    if kind == "rabbitmq":
        config["Queues"] = fields["Queues"]
        config["SourceAccessConfigurations"] = fields.get("SourceAccessConfigurations") or []
    if (
        kind in ("sqs", "stream")
        and EventSourceMapping.objects.filter(
            function=function, source=source, qualifier=ref.qualifier or ""
        ).exists()
    ):
        raise ResourceConflict(
            f"An event source mapping with {source} and function {function.name} already exists. "
            "Please update or delete the existing mapping."
        )
    role = function_role(function, ref.qualifier)
    source_check(role_arn=role, function_name=function.name, kind=kind, source=source)
    _on_failure_check(config, role=role, function_name=function.name)
    enabled = fields.get("Enabled", True) is not False
    return EventSourceMapping.objects.create(
        function=function,
        qualifier=ref.qualifier or "",
        kind=kind,
        source=source,
        config=config,
        enabled=enabled,
        state=State.CREATING,
        state_reason="USER_INITIATED",
    )


def mapping_get(mapping_id: str) -> EventSourceMapping:
    try:
        found = EventSourceMapping.objects.select_related("function").filter(
            function__in=functions_of_account()
        )
        return found.get(uuid=uuid.UUID(str(mapping_id)))
    except (ValueError, EventSourceMapping.DoesNotExist):
        raise ResourceNotFound(
            f"The resource you requested does not exist. (Service: Lambda, UUID: {mapping_id})"
        ) from None


def mapping_update(*, mapping: EventSourceMapping, fields: dict) -> EventSourceMapping:
    if fields.get("FunctionName"):
        ref = function_ref_parse(str(fields["FunctionName"]))
        mapping.function = function_get(ref)
        mapping.qualifier = ref.qualifier or ""
    mapping.config = _config_check(mapping.kind, fields, mapping.config)
    role = function_role(mapping.function, mapping.qualifier)
    if fields.get("FunctionName") or fields.get("Enabled"):
        source_check(
            role_arn=role, function_name=mapping.function.name, kind=mapping.kind, source=mapping.source
        )
    if "DestinationConfig" in fields:
        _on_failure_check(mapping.config, role=role, function_name=mapping.function.name)
    if "Enabled" in fields and fields["Enabled"] is not None:
        mapping.enabled = bool(fields["Enabled"])
        mapping.state = State.ENABLING if mapping.enabled else State.DISABLING
    elif mapping.state not in (State.CREATING, State.ENABLING, State.DISABLING):
        mapping.state = State.UPDATING
    mapping.state_reason = "USER_INITIATED"
    mapping.last_modified = timezone.now()
    mapping.save()
    return mapping


def mapping_delete(*, mapping: EventSourceMapping) -> EventSourceMapping:
    """Delete at once; the answer shows it Deleting, and its pollers let go when they see it gone."""
    mapping.delete()
    mapping.state = State.DELETING
    return mapping


def mapping_shape(mapping: EventSourceMapping) -> dict:
    """EventSourceMappingConfiguration as botocore's Lambda model names it."""
    config = mapping.config
    shaped = {
        "UUID": str(mapping.uuid),
        "FunctionArn": mapping.function.arn(mapping.qualifier or None),
        "LastModified": mapping.last_modified.astimezone(UTC).timestamp(),
        "LastProcessingResult": mapping.last_processing_result,
        "State": mapping.state,
        "StateTransitionReason": mapping.state_reason,
        "EventSourceMappingArn": (
            f"arn:aws:lambda:{settings.STRATUS_REGION}:{settings.STRATUS_ACCOUNT_ID}:"
            f"event-source-mapping:{mapping.uuid}"
        ),
    }
    if mapping.kind != "kafka":
        shaped["EventSourceArn"] = mapping.source
    for name in (
        "BatchSize",
        "MaximumBatchingWindowInSeconds",
        "ParallelizationFactor",
        "StartingPosition",
        "FilterCriteria",
        "MaximumRecordAgeInSeconds",
        "BisectBatchOnFunctionError",
        "MaximumRetryAttempts",
        "TumblingWindowInSeconds",
        "FunctionResponseTypes",
        "ScalingConfig",
        "DestinationConfig",
        "Topics",
        "Queues",
        "SourceAccessConfigurations",
        "SelfManagedEventSource",
        "SelfManagedKafkaEventSourceConfig",
    ):
        if name in config and config[name] not in (None, {}):
            shaped[name] = config[name]
    if "StartingPositionTimestamp" in config:
        shaped["StartingPositionTimestamp"] = config["StartingPositionTimestamp"]
    return shaped


def mapping_state_set(mapping_id, *, state: str, result: str | None = None) -> None:
    """Pollers report what they did (a conditional update: a deleted mapping stays deleted)."""
    changes: dict = {"state": state}
    if result is not None:
        changes["last_processing_result"] = result
    EventSourceMapping.objects.filter(uuid=mapping_id).update(**changes)


def timestamp_from_epoch(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)
