"""IAM's and STS's errors, with the codes and HTTP statuses of botocore's models, so botocore
raises its modeled exceptions (``iam.exceptions.NoSuchEntityException`` and the rest)."""

from __future__ import annotations

from awsapi.errors import AwsError


class IamError(AwsError):
    code = "ServiceFailure"
    status = 500


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
