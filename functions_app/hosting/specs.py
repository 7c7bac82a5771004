"""Function versions as the runtime needs them, read from the database.

A host keeps the specs it has loaded: a caller that names the revision it saw (the direct
path and async events do) gets the cached spec of that revision without a query.
"""

from __future__ import annotations

from django.conf import settings

from functions_app.models import FunctionVersion
from functions_app.runtime.spec import FunctionSpec
from functions_app.services.execution_role import execution_role_credentials

_spec_cache: dict[tuple[str, str], FunctionSpec] = {}


def spec_load(function_name: str, version: str, revision_id: str | None = None) -> FunctionSpec:
    """``function_name``'s ``version`` (raises FunctionVersion.DoesNotExist); see ``runtime.spec.SpecLoad``."""
    cached = _spec_cache.get((function_name, version))
    if cached is not None and revision_id is not None and cached.revision_id == revision_id:
        return cached
    row = FunctionVersion.objects.select_related("function", "code").get(
        function__name=function_name, version=version
    )
    spec = FunctionSpec(
        function_name=function_name,
        version=version,
        revision_id=row.revision_id,
        code_sha256=row.code.sha256,
        code_storage_name=row.code.storage_name,
        runtime=row.runtime,
        handler=row.handler,
        memory_size=row.memory_size,
        timeout=row.timeout,
        ephemeral_storage=row.ephemeral_storage,
        environment=dict(row.environment),
        log_group=row.effective_log_group,
        log_format=row.log_format,
        region=settings.STRATUS_REGION,
        account_id=row.function.account_id,
        role=row.role,
    )
    _spec_cache[(function_name, version)] = spec
    return spec


def spec_credentials(spec: FunctionSpec) -> dict[str, str]:
    """The environment variables with the credentials of ``spec``'s execution role."""
    return execution_role_credentials(
        function_name=spec.function_name, role_arn=spec.role, account_id=spec.account_id
    )
