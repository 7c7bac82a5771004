"""Event-invoke configs: retries, maximum event age and destinations per function, version or alias."""

from __future__ import annotations

import re
from typing import Any

from django.db import transaction
from django.utils import timezone

from functions_app.errors import InvalidParameterValue, ResourceNotFound
from functions_app.models import LATEST, EventInvokeConfig, Function
from functions_app.selectors import qualifier_exists_check
from functions_app.services.role_permissions import destination_check, function_role

RETRY_MIN, RETRY_MAX = 0, 2
AGE_MIN, AGE_MAX = 60, 21600
_DESTINATION = re.compile(r"^(arn:aws[a-zA-Z-]*:(lambda|sqs|sns|events|s3):[^\s]+|https?://[^\s]+)$")


def _destination(config: object, side: str) -> str:
    if config is None:
        return ""
    if not isinstance(config, dict):
        raise InvalidParameterValue(
            f'DestinationConfig.{side} must be an object like {{"Destination": "arn:..."}}.'
        )
    destination = config.get("Destination") or ""
    if destination and (
        not isinstance(destination, str) or not _DESTINATION.match(destination) or len(destination) > 350
    ):
        raise InvalidParameterValue(
            f"The destination {destination!r} for {side} is not valid: give a function, queue, topic or event bus "
            "ARN, or an http(s):// webhook URL."
        )
    return destination


def _bounded(value: object, field: str, low: int, high: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidParameterValue(f"{field} must be an integer from {low} to {high}, got {value!r}.")
    return value


def _qualifier(function: Function, qualifier: str | None) -> str:
    qualifier = qualifier or LATEST
    qualifier_exists_check(function, qualifier)
    return qualifier


def event_invoke_config_get(*, function: Function, qualifier: str | None) -> EventInvokeConfig:
    qualifier = _qualifier(function, qualifier)
    config = function.event_invoke_configs.filter(qualifier=qualifier).first()
    if config is None:
        raise ResourceNotFound(
            f"The function {function.arn(qualifier)} doesn't have an EventInvokeConfig"
        )
    return config


def event_invoke_config_put(
    *, function: Function, qualifier: str | None, fields: dict[str, Any], merge: bool
) -> EventInvokeConfig:
    """Put (``merge=False``) replaces the whole config; Update (``merge=True``) changes only what is given."""
    qualifier = _qualifier(function, qualifier)
    values: dict[str, Any] = {}
    if "MaximumRetryAttempts" in fields or not merge:
        values["maximum_retry_attempts"] = _bounded(
            fields.get("MaximumRetryAttempts"), "MaximumRetryAttempts", RETRY_MIN, RETRY_MAX
        )
    if "MaximumEventAgeInSeconds" in fields or not merge:
        values["maximum_event_age_seconds"] = _bounded(
            fields.get("MaximumEventAgeInSeconds"), "MaximumEventAgeInSeconds", AGE_MIN, AGE_MAX
        )
    destinations = fields.get("DestinationConfig")
    if destinations is not None and not isinstance(destinations, dict):
        raise InvalidParameterValue("DestinationConfig must be an object with OnSuccess and/or OnFailure.")
    destinations = destinations or {}
    if "OnSuccess" in destinations or not merge:
        values["on_success"] = _destination(destinations.get("OnSuccess"), "OnSuccess")
    if "OnFailure" in destinations or not merge:
        values["on_failure"] = _destination(destinations.get("OnFailure"), "OnFailure")
    for side in ("on_success", "on_failure"):
        if values.get(side) == function.arn() or values.get(side, "").startswith(
            function.arn() + ":"
        ):
            raise InvalidParameterValue("You can't specify the function as a destination for itself.")
    role = function_role(function, qualifier)
    for side in ("on_success", "on_failure"):
        if values.get(side):
            destination_check(role_arn=role, function_name=function.name, destination=values[side])
    with transaction.atomic():
        existing = function.event_invoke_configs.select_for_update().filter(qualifier=qualifier).first()
        if merge and existing is None:
            raise ResourceNotFound(
                f"The function {function.arn(qualifier)} doesn't have an EventInvokeConfig"
            )
        config = existing or EventInvokeConfig(function=function, qualifier=qualifier)
        for attribute, value in values.items():
            setattr(config, attribute, value)
        config.last_modified = timezone.now()
        config.save()
    return config


def event_invoke_config_delete(*, function: Function, qualifier: str | None) -> None:
    event_invoke_config_get(function=function, qualifier=qualifier).delete()
