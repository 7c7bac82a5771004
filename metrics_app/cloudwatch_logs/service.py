"""CloudWatch Logs as the front door serves it: JSON 1.1, ``X-Amz-Target: Logs_20140328.<Op>``.

Request bodies are checked against botocore's model of the operation (a wrong JSON type is a
``SerializationException``, a broken constraint an ``InvalidParameterException`` in AWS's
words). Every operation is authorized as ``logs:<Operation>`` on the log group it names,
written as CloudWatch Logs writes it in a refusal (``…:log-group:NAME:log-stream:``, the
stream's name after it when one is given); a refusal is ``AccessDeniedException``, HTTP 400.
"""

from __future__ import annotations

from awsapi.errors import AwsError
from awsapi.front import Call, Service, on_params
from awsapi.shapes import ValidationException
from metrics_app.cloudwatch_logs.errors import AccessDenied, InvalidParameter, LogsError, UnknownOperation
from metrics_app.cloudwatch_logs.operations import OPERATIONS, group_arn


def _resource(call: Call) -> str:
    """The log group (and stream) the request names: an ARN in the account it names, a name in
    the caller's; with no group, the account's groups as AWS writes them
    (``log-group::log-stream:``), which only a policy on every group matches."""
    params = call.params
    group = params.get("logGroupName") or params.get("logGroupIdentifier") or ""
    arn = group.removesuffix(":*") if group.startswith("arn:") else group_arn(group)
    return f"{arn}:log-stream:{params.get('logStreamName') or ''}"


def _unknown(operation: str) -> LogsError:
    served = f"Stratus serves {', '.join(OPERATIONS)}."
    if operation in LOGS.model.operation_names:
        return UnknownOperation(f"Stratus does not serve CloudWatch Logs' {operation}; {served}")
    return UnknownOperation(f"{operation!r} is not a CloudWatch Logs operation; {served}")


def _malformed(error: AwsError) -> AwsError:
    return InvalidParameter(error.message) if isinstance(error, ValidationException) else error


LOGS = Service(
    model_name="logs",
    signing_name="logs",
    family=LogsError,
    operations=on_params(OPERATIONS),
    resource=_resource,
    denied=AccessDenied,
    unknown=_unknown,
    malformed=_malformed,
    internal=lambda: LogsError("An internal error occurred; the server log has the details."),
)
