"""CloudWatch Logs' errors, as botocore reads them from a JSON 1.1 body: ``__type`` and ``message``."""

from __future__ import annotations

from awsapi.errors import AwsError


class LogsError(AwsError):
    code = "ServiceUnavailableException"
    status = 500


class InvalidParameter(LogsError):
    code = "InvalidParameterException"
    status = 400


class ResourceNotFound(LogsError):
    code = "ResourceNotFoundException"
    status = 400


class ResourceAlreadyExists(LogsError):
    code = "ResourceAlreadyExistsException"
    status = 400


class UnknownOperation(LogsError):
    code = "UnknownOperationException"
    status = 400


class AccessDenied(LogsError):
    """The caller's policies do not allow the operation (a 400, as CloudWatch Logs answers it)."""

    code = "AccessDeniedException"
    status = 400


def group_not_found() -> ResourceNotFound:
    return ResourceNotFound("The specified log group does not exist.")


def stream_not_found() -> ResourceNotFound:
    return ResourceNotFound("The specified log stream does not exist.")


def token_invalid() -> InvalidParameter:
    return InvalidParameter("The specified nextToken is invalid.")
