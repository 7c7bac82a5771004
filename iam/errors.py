"""IAM's and STS's errors, with the codes and HTTP statuses of botocore's models, so botocore
raises its modeled exceptions (``iam.exceptions.NoSuchEntityException`` and the rest)."""

from __future__ import annotations


class IamError(Exception):
    code = "ServiceFailure"
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def fault(self) -> str:
        """Who is to blame, in the query protocol's words."""
        return "Sender" if self.status < 500 else "Receiver"


class NoSuchEntity(IamError):
    code = "NoSuchEntity"
    status = 404


class EntityAlreadyExists(IamError):
    code = "EntityAlreadyExists"
    status = 409


class MalformedPolicyDocument(IamError):
    code = "MalformedPolicyDocument"
    status = 400


class DeleteConflict(IamError):
    code = "DeleteConflict"
    status = 409


class ValidationError(IamError):
    code = "ValidationError"
    status = 400


class LimitExceeded(IamError):
    code = "LimitExceeded"
    status = 409


class InvalidInput(IamError):
    code = "InvalidInput"
    status = 400


class AccessDenied(IamError):
    code = "AccessDenied"
    status = 403


class InvalidAction(IamError):
    code = "InvalidAction"
    status = 400


class SignatureFailure(IamError):
    """A request ``caller_verify`` refused, under the query protocol's name for why."""

    status = 403

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code
