"""Errors in AWS Lambda's wire shape.

Services raise these; the front door (``awsapi.protocols.REST_JSON``) turns each into the
status, the ``x-amzn-ErrorType`` header and the JSON body that botocore maps back onto
``client.exceptions.<Code>``. The message key's casing follows botocore's model (``Message``
for a few codes, ``message`` for the rest). A failed signature check is one of
``awsapi.errors``' own.
"""

from __future__ import annotations

from awsapi.errors import AwsError


class LambdaError(AwsError):
    code = "ServiceException"
    status = 500
    message_key = "Message"


class AccessDenied(LambdaError):
    """The caller's policies (and the resource's) do not allow the operation."""

    code = "AccessDeniedException"
    status = 403
    message_key = "Message"


class ResourceNotFound(LambdaError):
    code = "ResourceNotFoundException"
    status = 404


class InvalidParameterValue(LambdaError):
    code = "InvalidParameterValueException"
    status = 400
    message_key = "message"


class ValidationFailed(LambdaError):
    code = "ValidationException"
    status = 400
    message_key = "message"


class ResourceConflict(LambdaError):
    code = "ResourceConflictException"
    status = 409
    message_key = "message"


class PreconditionFailed(LambdaError):
    code = "PreconditionFailedException"
    status = 412
    message_key = "message"


class RequestTooLarge(LambdaError):
    code = "RequestTooLargeException"
    status = 413
    message_key = "message"


class InvalidRequestContent(LambdaError):
    code = "InvalidRequestContentException"
    status = 400
    message_key = "message"


class UnsupportedMediaType(LambdaError):
    code = "UnsupportedMediaTypeException"
    status = 415
    message_key = "message"


class TooManyRequests(LambdaError):
    code = "TooManyRequestsException"
    status = 429
    message_key = "message"

    def __init__(self, message: str = "Rate Exceeded.", *, reason: str, retry_after_seconds: int = 1):
        super().__init__(message, Reason=reason)
        self.retry_after_seconds = retry_after_seconds

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_seconds)}


class ProvisionedConcurrencyConfigNotFound(LambdaError):
    code = "ProvisionedConcurrencyConfigNotFoundException"
    status = 404
    message_key = "message"


class CodeStorageExceeded(LambdaError):
    code = "CodeStorageExceededException"
    status = 400
    message_key = "message"


class PolicyLengthExceeded(LambdaError):
    code = "PolicyLengthExceededException"
    status = 400
    message_key = "message"


class UnknownOperation(LambdaError):
    code = "UnknownOperationException"
    status = 404
    message_key = "message"


class MethodNotAllowed(LambdaError):
    code = "MethodNotAllowedException"
    status = 405
    message_key = "message"


class ServiceFault(LambdaError):
    code = "ServiceException"
    status = 500
