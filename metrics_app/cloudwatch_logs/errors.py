"""CloudWatch Logs' errors, as botocore reads them from a JSON 1.1 body: ``__type`` and ``message``."""

from __future__ import annotations

from functions_app.errors import LambdaError


class LogsError(Exception):
    type_name = "ServiceUnavailableException"
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidParameter(LogsError):
    type_name = "InvalidParameterException"
    status = 400


class ResourceNotFound(LogsError):
    type_name = "ResourceNotFoundException"
    status = 400


class ResourceAlreadyExists(LogsError):
    type_name = "ResourceAlreadyExistsException"
    status = 400


class SerializationFailed(LogsError):
    """A body that is not JSON, or a member of the wrong JSON type."""

    type_name = "SerializationException"
    status = 400


class UnknownOperation(LogsError):
    type_name = "UnknownOperationException"
    status = 400


class AccessDenied(LogsError):
    """The caller's policies do not allow the operation (a 400, as CloudWatch Logs answers it)."""

    type_name = "AccessDeniedException"
    status = 400


class AuthFailure(LogsError):
    status = 403

    def __init__(self, message: str, *, type_name: str) -> None:
        super().__init__(message)
        self.type_name = type_name


def auth_failure(error: LambdaError) -> LogsError:
    """The CloudWatch Logs form of an error raised by ``caller_verify`` (its codes are AWS's own)."""
    if error.status == 403:
        return AuthFailure(error.message, type_name=error.code)
    return LogsError(error.message)


def group_not_found() -> ResourceNotFound:
    return ResourceNotFound("The specified log group does not exist.")


def stream_not_found() -> ResourceNotFound:
    return ResourceNotFound("The specified log stream does not exist.")


def token_invalid() -> InvalidParameter:
    return InvalidParameter("The specified nextToken is invalid.")
