"""Publishing immutable versions, and aliases that route to them."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from functions_app import validation
from functions_app.errors import InvalidParameterValue, PreconditionFailed, ResourceConflict
from functions_app.models import LATEST, Alias, Function, FunctionVersion, new_revision_id
from functions_app.selectors import version_get

_COPIED_FIELDS = (
    "code",
    "runtime",
    "handler",
    "role",
    "memory_size",
    "timeout",
    "ephemeral_storage",
    "environment",
    "dead_letter_target_arn",
    "tracing_mode",
    "architectures",
    "log_format",
    "log_group",
)


def version_publish(
    *,
    function: Function,
    code_sha256: str | None = None,
    description: str | None = None,
    revision_id: str | None = None,
) -> FunctionVersion:
    """PublishVersion: snapshot ``$LATEST``; an unchanged ``$LATEST`` returns the newest version."""
    if description is not None:
        validation.description_check(description)
    with transaction.atomic():
        locked = Function.objects.select_for_update().get(pk=function.pk)
        latest = FunctionVersion.objects.select_related("code").get(function=locked, version=LATEST)
        if revision_id and revision_id != latest.revision_id:
            raise PreconditionFailed(
                "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias "
                "API to retrieve the latest Revision Id"
            )
        if code_sha256 and code_sha256 != latest.code.code_sha256:
            raise InvalidParameterValue(
                f"CodeSHA256 ({code_sha256}) is different from current CodeSHA256 in $LATEST "
                f"({latest.code.code_sha256}). Please try again with the current CodeSHA256."
            )
        newest = locked.versions.exclude(version=LATEST).order_by("-number").first()
        if newest is not None and newest.configuration_fingerprint() == latest.configuration_fingerprint():
            return newest
        number = locked.last_published_number + 1
        Function.objects.filter(pk=locked.pk).update(last_published_number=F("last_published_number") + 1)
        snapshot = {field: getattr(latest, field) for field in _COPIED_FIELDS}
        return FunctionVersion.objects.create(
            function=locked,
            version=str(number),
            number=number,
            description=latest.description if description is None else description,
            last_modified=timezone.now(),
            **snapshot,
        )


def _routing_check(function: Function, primary: str, routing: object) -> dict[str, float]:
    if routing is None:
        return {}
    weights = routing.get("AdditionalVersionWeights") if isinstance(routing, dict) else None
    if weights is None:
        return {}
    if not isinstance(weights, dict) or len(weights) > 1:
        raise InvalidParameterValue(
            "RoutingConfig.AdditionalVersionWeights may name at most one additional version."
        )
    if not weights:
        return {}
    ((version, weight),) = weights.items()
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0.0 <= weight <= 1.0:
        raise InvalidParameterValue(f"The weight for version {version} must be between 0.0 and 1.0.")
    if primary == LATEST or version == LATEST:
        raise InvalidParameterValue("$LATEST is not supported for an alias pointing to more than 1 version")
    if version == primary:
        raise InvalidParameterValue(
            f"Version {version} is the alias's primary version; give a different one."
        )
    additional = version_get(function, version)
    primary_version = version_get(function, primary)
    if (additional.role, additional.dead_letter_target_arn) != (
        primary_version.role,
        primary_version.dead_letter_target_arn,
    ):
        raise InvalidParameterValue(
            "Versions behind one alias must share the same role and dead-letter config."
        )
    return {version: float(weight)}


def alias_create(*, function: Function, fields: dict[str, Any]) -> Alias:
    name = validation.alias_name_check(fields.get("Name"))
    primary = fields.get("FunctionVersion")
    if not isinstance(primary, str) or not primary:
        raise InvalidParameterValue("FunctionVersion is required: a published version number or $LATEST.")
    version_get(function, primary)
    weights = _routing_check(function, primary, fields.get("RoutingConfig"))
    description = validation.description_check(fields.get("Description", ""))
    try:
        with transaction.atomic():
            return Alias.objects.create(
                function=function,
                name=name,
                function_version=primary,
                description=description,
                additional_version_weights=weights,
            )
    except IntegrityError:
        raise ResourceConflict(f"Alias already exists: {function.arn(name)}") from None


def alias_update(*, alias: Alias, fields: dict[str, Any]) -> Alias:
    with transaction.atomic():
        alias = Alias.objects.select_for_update().get(pk=alias.pk)
        if fields.get("RevisionId") and fields["RevisionId"] != alias.revision_id:
            raise PreconditionFailed(
                "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias "
                "API to retrieve the latest Revision Id"
            )
        if fields.get("FunctionVersion"):
            version_get(alias.function, fields["FunctionVersion"])
            alias.function_version = fields["FunctionVersion"]
        if "RoutingConfig" in fields:
            alias.additional_version_weights = _routing_check(
                alias.function, alias.function_version, fields["RoutingConfig"]
            )
        elif alias.additional_version_weights:
            alias.additional_version_weights = _routing_check(
                alias.function,
                alias.function_version,
                {"AdditionalVersionWeights": alias.additional_version_weights},
            )
        if "Description" in fields:
            alias.description = validation.description_check(fields["Description"])
        alias.revision_id = new_revision_id()
        alias.save()
    return alias


def alias_delete(*, alias: Alias) -> None:
    with transaction.atomic():
        function = alias.function
        function.provisioned_configs.filter(qualifier=alias.name).delete()
        function.event_invoke_configs.filter(qualifier=alias.name).delete()
        function.policy_statements.filter(qualifier=alias.name).delete()
        alias.delete()
