"""Reads that several parts of Stratus share."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet, Sum

from dashboard.caches import Cache, watch
from functions_app.arns import FunctionRef, function_arn
from functions_app.errors import ResourceNotFound
from functions_app.models import LATEST, Alias, CodeArtifact, Function, FunctionVersion
from iam.tenancy import current_account


def functions_of_account() -> QuerySet[Function]:
    """The functions of the request's account (iam.tenancy); every function outside a request."""
    account = current_account()
    functions = Function.objects.all()
    return functions.filter(account_id=account) if account else functions


def function_list() -> QuerySet[Function]:
    return functions_of_account().order_by("name")


# What every Lambda API call and every invocation looks up by name and qualifier, kept per
# process (dashboard.caches). Each lookup gets its own copy of the model instances, so a
# caller may change or save what it got without touching the cache or another request's.
# Writers re-read what they change under select_for_update, or write by primary key, or
# (tags) write back what they read, as from a fresh read: a copy is never older than the
# last change announced before the request began.
_functions = Cache("functions", copies=True)
_qualifiers = Cache("qualifiers", copies=True)
# The sum over every function; a 1 s life bounds a change that slipped past the signals.
_reserved_total = Cache("reserved concurrency", ttl=1.0)
watch(Function, FunctionVersion, Alias)


def function_get(ref: FunctionRef | str) -> Function:
    """The function a name finds in the request's account, or an ARN in the account it names."""
    name = ref.name if isinstance(ref, FunctionRef) else ref
    account = (ref.account if isinstance(ref, FunctionRef) else None) or current_account()
    return _functions.get((account, name), lambda: _function_load(name, account))


def _function_load(name: str, account: str | None) -> Function:
    found = Function.objects.filter(name=name)
    if account:
        found = found.filter(account_id=account)
    function = found.first()
    if function is None:
        raise ResourceNotFound(f"Function not found: {function_arn(name, account=account)}")
    return function


def version_get(function: Function, version: str) -> FunctionVersion:
    try:
        return FunctionVersion.objects.select_related("code", "function").get(
            function=function, version=version
        )
    except FunctionVersion.DoesNotExist:
        raise ResourceNotFound(f"Function not found: {function.arn(version)}") from None


def alias_get(function: Function, name: str) -> Alias:
    try:
        return Alias.objects.get(function=function, name=name)
    except Alias.DoesNotExist:
        raise ResourceNotFound(f"Alias not found: {function.arn(name)}") from None


@dataclass(frozen=True)
class ResolvedQualifier:
    """What a qualifier names: the version to show and, for an alias, the alias."""

    version: FunctionVersion
    alias: Alias | None
    qualifier: str | None

    @property
    def arn(self) -> str:
        return self.version.function.arn(self.qualifier)


def qualifier_resolve(function: Function, qualifier: str | None) -> ResolvedQualifier:
    """Resolve ``$LATEST``, a version number or an alias (its primary version)."""
    return _qualifiers.get((function.pk, qualifier), lambda: _qualifier_load(function, qualifier))


def _qualifier_load(function: Function, qualifier: str | None) -> ResolvedQualifier:
    if not qualifier or qualifier == LATEST:
        return ResolvedQualifier(version=version_get(function, LATEST), alias=None, qualifier=qualifier)
    if qualifier.isdigit():
        return ResolvedQualifier(version=version_get(function, qualifier), alias=None, qualifier=qualifier)
    alias = alias_get(function, qualifier)
    return ResolvedQualifier(
        version=version_get(function, alias.function_version), alias=alias, qualifier=qualifier
    )


def qualifier_exists_check(function: Function, qualifier: str) -> None:
    """Raise ResourceNotFound unless ``qualifier`` names $LATEST, a version or an alias."""
    qualifier_resolve(function, qualifier)


def total_code_size() -> int:
    """The code the request's account stores (every account's outside a request)."""
    used = CodeArtifact.objects.filter(versions__function__in=functions_of_account()).distinct()
    return used.aggregate(total=Sum("size"))["total"] or 0


def reserved_concurrency_total(*, excluding: Function | None = None) -> int:
    """What all functions (but ``excluding``) reserve; cached unless in a transaction (which
    checks a new reservation against it)."""
    if excluding is None:
        return _reserved_total.get("total", _reserved_concurrency_sum)
    return _reserved_concurrency_sum(excluding=excluding)


def _reserved_concurrency_sum(*, excluding: Function | None = None) -> int:
    functions = Function.objects.filter(reserved_concurrency__isnull=False)
    if excluding is not None:
        functions = functions.exclude(pk=excluding.pk)
    return functions.aggregate(total=Sum("reserved_concurrency"))["total"] or 0
