"""Reserved and provisioned concurrency settings (admission itself lives in the runtime)."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from dashboard.caches import changed
from functions_app.errors import InvalidParameterValue, ProvisionedConcurrencyConfigNotFound
from functions_app.models import LATEST, Function, ProvisionedConcurrencyConfig
from functions_app.selectors import qualifier_resolve, reserved_concurrency_total

# AWS keeps this much of the account's concurrency for functions without a reservation.
UNRESERVED_MINIMUM = 100


def _non_negative_int(value: object, field: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidParameterValue(f"{field} must be an integer, got {value!r}.")
    if value < minimum:
        raise InvalidParameterValue(f"{field} must be at least {minimum}, got {value}.")
    return value


def unreserved_concurrency() -> int:
    return settings.STRATUS_ACCOUNT_CONCURRENCY - reserved_concurrency_total()


def reserved_concurrency_put(*, function: Function, value: object) -> int:
    reserved = _non_negative_int(value, "ReservedConcurrentExecutions", 0)
    with transaction.atomic():
        function = Function.objects.select_for_update().get(pk=function.pk)
        others = reserved_concurrency_total(excluding=function)
        if settings.STRATUS_ACCOUNT_CONCURRENCY - others - reserved < UNRESERVED_MINIMUM:
            raise InvalidParameterValue(
                "Specified ReservedConcurrentExecutions for function decreases account's "
                f"UnreservedConcurrentExecution below its minimum value of [{UNRESERVED_MINIMUM}]."
            )
        provisioned = _provisioned_total(function)
        if reserved < provisioned:
            raise InvalidParameterValue(
                f"ReservedConcurrentExecutions ({reserved}) must be at least the function's total provisioned "
                f"concurrency ({provisioned})."
            )
        function.reserved_concurrency = reserved
        function.save(update_fields=["reserved_concurrency"])
    return reserved


def reserved_concurrency_delete(*, function: Function) -> None:
    Function.objects.filter(pk=function.pk).update(reserved_concurrency=None)
    changed()  # update() sends no signal; the caches hold the function and the total


def _provisioned_total(function: Function, *, excluding_qualifier: str | None = None) -> int:
    configs = function.provisioned_configs.all()
    if excluding_qualifier is not None:
        configs = configs.exclude(qualifier=excluding_qualifier)
    return configs.aggregate(total=Sum("requested"))["total"] or 0


def provisioned_config_put(
    *, function: Function, qualifier: str | None, value: object
) -> ProvisionedConcurrencyConfig:
    if not qualifier:
        raise InvalidParameterValue("Qualifier is required: a published version number or an alias.")
    if qualifier == LATEST:
        raise InvalidParameterValue(
            "Provisioned Concurrency Configs cannot be applied to unpublished function versions."
        )
    requested = _non_negative_int(value, "ProvisionedConcurrentExecutions", 1)
    resolved = qualifier_resolve(function, qualifier)
    if resolved.version.version == LATEST:
        raise InvalidParameterValue(
            f"Alias {qualifier} points to $LATEST; provisioned concurrency needs a published version."
        )
    with transaction.atomic():
        function = Function.objects.select_for_update().get(pk=function.pk)
        total = _provisioned_total(function, excluding_qualifier=qualifier) + requested
        if function.reserved_concurrency is not None and total > function.reserved_concurrency:
            raise InvalidParameterValue(
                f"Requested Provisioned Concurrency ({total} in total) exceeds the function's reserved concurrency "
                f"({function.reserved_concurrency})."
            )
        if settings.STRATUS_ACCOUNT_CONCURRENCY - reserved_concurrency_total() - total < UNRESERVED_MINIMUM:
            raise InvalidParameterValue(
                "Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution "
                f"for the account, keeping {UNRESERVED_MINIMUM} unreserved."
            )
        config, _ = ProvisionedConcurrencyConfig.objects.update_or_create(
            function=function,
            qualifier=qualifier,
            defaults={
                "requested": requested,
                "status": ProvisionedConcurrencyConfig.Status.IN_PROGRESS,
                "status_reason": "",
                "last_modified": timezone.now(),
            },
        )
    return config


def provisioned_config_get(*, function: Function, qualifier: str | None) -> ProvisionedConcurrencyConfig:
    if not qualifier:
        raise InvalidParameterValue("Qualifier is required: a published version number or an alias.")
    config = function.provisioned_configs.filter(qualifier=qualifier).first()
    if config is None:
        qualifier_resolve(function, qualifier)  # an unknown qualifier is ResourceNotFound
        raise ProvisionedConcurrencyConfigNotFound(
            "No Provisioned Concurrency Config found for this function"
        )
    return config


def provisioned_config_delete(*, function: Function, qualifier: str | None) -> None:
    provisioned_config_get(function=function, qualifier=qualifier).delete()
