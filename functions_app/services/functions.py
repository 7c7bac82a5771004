"""Create, update and delete functions ($LATEST) and their code."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from functions_app import validation
from functions_app.arns import function_ref_parse
from functions_app.errors import InvalidParameterValue, PreconditionFailed, ResourceConflict
from functions_app.models import LATEST, Function, FunctionVersion, new_revision_id
from functions_app.redis_client import redis_client
from functions_app.runtime.retirement import retire_announce
from functions_app.selectors import version_get
from functions_app.services.artifacts import artifact_store
from functions_app.services.execution_role import execution_role_basic_create, execution_role_check
from iam.models import default_account_id
from iam.tenancy import current_account

# Settings AWS accepts that Stratus cannot honour: refused when they carry a value, so a
# caller is never told something took effect when it did not.
_UNSUPPORTED = {
    "Layers": "Stratus does not support layers yet; include dependencies in the zip.",
    "KMSKeyArn": "Stratus does not support customer-managed KMS keys.",
    "FileSystemConfigs": "Stratus does not support EFS file systems.",
    "ImageConfig": "Stratus runs zip packages only; ImageConfig does not apply.",
    "SnapStart": None,  # {"ApplyOn": "None"} is the default and is accepted
    "CodeSigningConfigArn": "Stratus does not support code signing.",
}


def _unsupported_check(fields: dict[str, Any]) -> None:
    for key, message in _UNSUPPORTED.items():
        value = fields.get(key)
        if not value:
            continue
        if key == "SnapStart" and value.get("ApplyOn", "None") == "None":
            continue
        raise InvalidParameterValue(message or f"Stratus does not support {key}.")
    vpc = fields.get("VpcConfig") or {}
    if vpc.get("SubnetIds") or vpc.get("SecurityGroupIds"):
        raise InvalidParameterValue(
            "Stratus functions have outbound network access; VpcConfig is not supported."
        )


def _code_zip(code: object) -> validation.CheckedZip:
    if not isinstance(code, dict):
        raise InvalidParameterValue("Code must be an object holding ZipFile (the base64 of a zip).")
    if code.get("ImageUri"):
        raise InvalidParameterValue("Stratus runs zip packages only; ImageUri is not supported.")
    if code.get("S3Bucket") or code.get("S3Key"):
        raise InvalidParameterValue("Stratus has no S3; upload the package as Code.ZipFile.")
    if "ZipFile" not in code:
        raise InvalidParameterValue("Code.ZipFile is required: the base64 of the deployment package zip.")
    return validation.zip_decode(code["ZipFile"])


def _revision_check(expected: str | None, actual: str) -> None:
    if expected and expected != actual:
        raise PreconditionFailed(
            "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API "
            "to retrieve the latest Revision Id"
        )


def _create_name(value: object) -> object:
    """CreateFunction takes a name, partial ARN or full ARN, as AWS does, but never a qualifier."""
    if not isinstance(value, str) or ":" not in value:
        return value
    ref = function_ref_parse(value)
    if ref.qualifier:
        raise InvalidParameterValue(
            f"FunctionName {value} names a version or alias; give the unqualified name or ARN to create it."
        )
    if ref.account and ref.account != (current_account() or default_account_id()):
        raise InvalidParameterValue(f"FunctionName {value} names another account than the one creating it.")
    return ref.name


def _role_check(value: object) -> str:
    """A role ARN of the right shape (else ValidationException) that Lambda can assume (else
    InvalidParameterValueException), in the order AWS checks them."""
    return execution_role_check(validation.role_check(value))


def function_create(*, fields: dict[str, Any]) -> FunctionVersion:
    """CreateFunction: validate everything first, then store code and rows in one transaction.

    Returns ``$LATEST``, or version 1 when ``Publish`` is true.
    """
    name = validation.function_name_check(_create_name(fields.get("FunctionName")))
    if fields.get("PackageType", "Zip") != "Zip":
        raise InvalidParameterValue("Stratus runs zip packages only (PackageType Zip).")
    _unsupported_check(fields)
    runtime = validation.runtime_check(fields.get("Runtime"))
    checked = _code_zip(fields.get("Code"))
    log_format, log_group = validation.logging_config_check(fields.get("LoggingConfig"), function_name=name)
    config = {
        "runtime": runtime,
        "handler": validation.handler_check(fields.get("Handler"), runtime=runtime),
        "role": _role_check(fields.get("Role")),
        "description": validation.description_check(fields.get("Description", "")),
        "memory_size": validation.memory_size_check(fields.get("MemorySize", 128)),
        "timeout": validation.timeout_check(fields.get("Timeout", 3)),
        "ephemeral_storage": validation.ephemeral_storage_check(
            fields.get("EphemeralStorage", {"Size": 512})
        ),
        "environment": validation.environment_check(fields.get("Environment")),
        "dead_letter_target_arn": validation.dead_letter_check(fields.get("DeadLetterConfig")),
        "tracing_mode": validation.tracing_check(fields.get("TracingConfig")),
        "architectures": validation.architectures_check(fields.get("Architectures")),
        "log_format": log_format,
        "log_group": log_group,
    }
    tags = validation.tags_check(fields.get("Tags"))
    publish = bool(fields.get("Publish", False))

    # Names are unique across the install for now (iam/tenancy.py), whichever account asks.
    if Function.objects.filter(name=name).exists():
        raise ResourceConflict(f"Function already exist: {name}")
    try:
        with transaction.atomic():
            artifact = artifact_store(checked)
            function = Function.objects.create(
                name=name, account_id=current_account() or default_account_id(), tags=tags
            )
            latest = FunctionVersion.objects.create(
                function=function, version=LATEST, number=0, code=artifact, **config
            )
            if publish:
                from functions_app.services.versions import version_publish

                return version_publish(function=function)
            return latest
    except IntegrityError:
        raise ResourceConflict(f"Function already exist: {name}") from None


@transaction.atomic
def function_create_with_basic_role(*, fields: dict[str, Any]) -> FunctionVersion:
    """CreateFunction as the console's "Create a new role with basic Lambda permissions" does
    it: a new role for the function (``execution_role_basic_create``), then the function with
    that role; if the function is refused, the role is not kept."""
    name = validation.function_name_check(_create_name(fields.get("FunctionName")))
    role = execution_role_basic_create(function_name=name)
    return function_create(fields={**fields, "Role": role.arn})


_CONFIG_FIELDS = {
    "Role": ("role", lambda value, **_: _role_check(value)),
    "Handler": None,  # depends on the runtime; handled below
    "Description": ("description", lambda value, **_: validation.description_check(value)),
    "Timeout": ("timeout", lambda value, **_: validation.timeout_check(value)),
    "MemorySize": ("memory_size", lambda value, **_: validation.memory_size_check(value)),
    "EphemeralStorage": ("ephemeral_storage", lambda value, **_: validation.ephemeral_storage_check(value)),
    "Environment": ("environment", lambda value, **_: validation.environment_check(value)),
    "DeadLetterConfig": ("dead_letter_target_arn", lambda value, **_: validation.dead_letter_check(value)),
    "TracingConfig": ("tracing_mode", lambda value, **_: validation.tracing_check(value)),
}


def function_update_configuration(*, function: Function, fields: dict[str, Any]) -> FunctionVersion:
    """UpdateFunctionConfiguration on ``$LATEST``; only the fields given change."""
    _unsupported_check(fields)
    with transaction.atomic():
        latest = (
            FunctionVersion.objects.select_for_update()
            .select_related("code")
            .get(function=function, version=LATEST)
        )
        _revision_check(fields.get("RevisionId"), latest.revision_id)
        changes: dict[str, Any] = {}
        for key, spec in _CONFIG_FIELDS.items():
            if spec is not None and key in fields:
                attribute, check = spec
                changes[attribute] = check(fields[key])
        runtime = latest.runtime
        if "Runtime" in fields:
            runtime = changes["runtime"] = validation.runtime_check(fields["Runtime"])
        if "Handler" in fields or "Runtime" in fields:
            changes["handler"] = validation.handler_check(
                fields.get("Handler", latest.handler), runtime=runtime
            )
        if "LoggingConfig" in fields:
            changes["log_format"], changes["log_group"] = validation.logging_config_check(
                fields["LoggingConfig"], function_name=function.name
            )
        for attribute, value in changes.items():
            setattr(latest, attribute, value)
        latest.revision_id = new_revision_id()
        latest.last_modified = timezone.now()
        latest.save()
        _environments_retire(function.name, LATEST)
    return latest


def _environments_retire(function_name: str, version: str | None) -> None:
    """Once the change commits, workers shut down the environments of the old state."""
    transaction.on_commit(
        lambda: retire_announce(redis_client(), function_name=function_name, version=version)
    )


def function_update_code(*, function: Function, fields: dict[str, Any]) -> FunctionVersion:
    """UpdateFunctionCode on ``$LATEST``; ``Publish`` also publishes, ``DryRun`` only validates."""
    _unsupported_check({"Layers": fields.get("Layers")})
    checked = _code_zip(fields)
    if fields.get("Architectures") is not None:
        validation.architectures_check(fields["Architectures"])
    latest = version_get(function, LATEST)
    _revision_check(fields.get("RevisionId"), latest.revision_id)
    if fields.get("DryRun"):
        return latest
    with transaction.atomic():
        latest = FunctionVersion.objects.select_for_update().get(pk=latest.pk)
        _revision_check(fields.get("RevisionId"), latest.revision_id)
        latest.code = artifact_store(checked)
        if fields.get("Architectures") is not None:
            latest.architectures = fields["Architectures"]
        latest.revision_id = new_revision_id()
        latest.last_modified = timezone.now()
        latest.save()
        _environments_retire(function.name, LATEST)
        if fields.get("Publish"):
            from functions_app.services.versions import version_publish

            return version_publish(function=function)
    return latest


def function_delete(*, function: Function, qualifier: str | None) -> None:
    """DeleteFunction: the whole function, or one published version when ``qualifier`` is given."""
    if not qualifier:
        with transaction.atomic():
            function.delete()
            _environments_retire(function.name, None)
        return
    if qualifier == LATEST:
        raise InvalidParameterValue("$LATEST version cannot be deleted without deleting the function.")
    if not qualifier.isdigit():
        raise InvalidParameterValue(
            "Deletion of aliases is not supported by DeleteFunction; use DeleteAlias. "
            f"Qualifier {qualifier} is not a version number."
        )
    version = version_get(function, qualifier)
    referencing = sorted(
        alias.name
        for alias in function.aliases.all()
        if alias.function_version == qualifier or qualifier in alias.additional_version_weights
    )
    if referencing:
        raise ResourceConflict(
            f"Unable to delete version because the following aliases reference it: [{', '.join(referencing)}]"
        )
    with transaction.atomic():
        function.provisioned_configs.filter(qualifier=qualifier).delete()
        function.event_invoke_configs.filter(qualifier=qualifier).delete()
        function.policy_statements.filter(qualifier=qualifier).delete()
        version.delete()
        _environments_retire(function.name, qualifier)


def function_tags_set(*, function: Function, tags: dict[str, str]) -> None:
    merged = {**function.tags, **validation.tags_check(tags)}
    validation.tags_check(merged)
    function.tags = merged
    function.save(update_fields=["tags"])


def function_tags_remove(*, function: Function, keys: list[str]) -> None:
    function.tags = {key: value for key, value in function.tags.items() if key not in set(keys)}
    function.save(update_fields=["tags"])
