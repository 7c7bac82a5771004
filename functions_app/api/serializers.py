"""Model objects rendered in the shapes botocore's Lambda model names."""

from __future__ import annotations

from datetime import datetime

from functions_app.arns import function_arn
from functions_app.models import (
    Alias,
    EventInvokeConfig,
    FunctionVersion,
    ProvisionedConcurrencyConfig,
)


def aws_timestamp(moment: datetime) -> str:
    """Lambda's LastModified string: ISO-8601 with milliseconds and +0000."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def function_configuration(version: FunctionVersion, *, qualifier: str | None = None) -> dict:
    """FunctionConfiguration. ``qualifier`` is what the caller named (an alias keeps its name in the ARN)."""
    name = version.function.name
    arn_qualifier = qualifier if qualifier is not None else (None if version.is_latest else version.version)
    config = {
        "FunctionName": name,
        "FunctionArn": function_arn(name, arn_qualifier),
        "Runtime": version.runtime,
        "Role": version.role,
        "Handler": version.handler,
        "CodeSize": version.code.size,
        "Description": version.description,
        "Timeout": version.timeout,
        "MemorySize": version.memory_size,
        "LastModified": aws_timestamp(version.last_modified),
        "CodeSha256": version.code.code_sha256,
        "Version": version.version,
        "TracingConfig": {"Mode": version.tracing_mode},
        "RevisionId": version.revision_id,
        "State": version.state,
        "LastUpdateStatus": version.last_update_status,
        "PackageType": "Zip",
        "Architectures": version.architectures,
        "EphemeralStorage": {"Size": version.ephemeral_storage},
        "SnapStart": {"ApplyOn": "None", "OptimizationStatus": "Off"},
        "LoggingConfig": {"LogFormat": version.log_format, "LogGroup": version.effective_log_group},
    }
    if version.environment:
        config["Environment"] = {"Variables": version.environment}
    if version.dead_letter_target_arn:
        config["DeadLetterConfig"] = {"TargetArn": version.dead_letter_target_arn}
    if version.state_reason:
        config["StateReason"] = version.state_reason
        config["StateReasonCode"] = version.state_reason_code
    return config


def alias_configuration(alias: Alias) -> dict:
    body = {
        "AliasArn": alias.function.arn(alias.name),
        "Name": alias.name,
        "FunctionVersion": alias.function_version,
        "Description": alias.description,
        "RevisionId": alias.revision_id,
    }
    if alias.additional_version_weights:
        body["RoutingConfig"] = {"AdditionalVersionWeights": alias.additional_version_weights}
    return body


def provisioned_config(config: ProvisionedConcurrencyConfig, *, with_arn: bool = False) -> dict:
    body = {
        "RequestedProvisionedConcurrentExecutions": config.requested,
        "AvailableProvisionedConcurrentExecutions": config.allocated,
        "AllocatedProvisionedConcurrentExecutions": config.allocated,
        "Status": config.status,
        "LastModified": aws_timestamp(config.last_modified),
    }
    if config.status_reason:
        body["StatusReason"] = config.status_reason
    if with_arn:
        body["FunctionArn"] = config.function.arn(config.qualifier)
    return body


def event_invoke_config(config: EventInvokeConfig) -> dict:
    body: dict = {
        "LastModified": config.last_modified.timestamp(),
        "FunctionArn": config.function.arn(config.qualifier),
        "DestinationConfig": {
            "OnSuccess": {"Destination": config.on_success} if config.on_success else {},
            "OnFailure": {"Destination": config.on_failure} if config.on_failure else {},
        },
    }
    if config.maximum_retry_attempts is not None:
        body["MaximumRetryAttempts"] = config.maximum_retry_attempts
    if config.maximum_event_age_seconds is not None:
        body["MaximumEventAgeInSeconds"] = config.maximum_event_age_seconds
    return body
