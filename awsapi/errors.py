"""The one error family of Stratus's AWS APIs.

An ``AwsError`` carries every name an error has on the wire, and each protocol writes the one
it needs: ``code`` is its name in the JSON protocols (``x-amzn-ErrorType``, and ``__type``
unless ``type_name`` gives a namespaced one such as ``com.amazonaws.cloudwatch#…``);
``query_code``, when it differs, its name in the query protocol, which services that speak
JSON but grew up on the query protocol (SQS, CloudWatch: ``awsQueryCompatible`` in their
models) also send in ``x-amzn-query-error``, and which botocore then reports as the code.
Each service's errors subclass this one (``LambdaError``, ``QueueError``, ``IamError``, ...);
the front door answers only a service's own family, the signature check's and the shape
checker's errors, and treats any other as a bug.
"""

from __future__ import annotations


class AwsError(Exception):
    code = "InternalFailure"
    status = 500
    type_name: str | None = None
    query_code: str | None = None
    message_key = "message"

    def __init__(self, message: str, **members: object) -> None:
        super().__init__(message)
        self.message = message
        self.members = members

    @property
    def fault(self) -> str:
        """Who is to blame, in the query protocol's words."""
        return "Sender" if self.status < 500 else "Receiver"

    def headers(self) -> dict[str, str]:
        """Headers the answer carries beyond the protocol's own (``Retry-After``, say)."""
        return {}


class InternalFailure(AwsError):
    """What a caller sees of a bug: the details go to the server log."""

    def __init__(self, message: str = "An internal error occurred; the server log has the details.") -> None:
        super().__init__(message)


class SignatureError(AwsError):
    """A request the signature check refused. JSON protocols call each kind by ``code``; the
    query protocol by ``query_code``."""

    status = 403


class MissingAuthenticationToken(SignatureError):
    code = "MissingAuthenticationTokenException"
    query_code = "MissingAuthenticationToken"


class IncompleteSignature(SignatureError):
    code = "IncompleteSignatureException"
    query_code = "IncompleteSignature"


class InvalidSignature(SignatureError):
    code = "InvalidSignatureException"
    query_code = "SignatureDoesNotMatch"


class UnrecognizedClient(SignatureError):
    code = "UnrecognizedClientException"
    query_code = "InvalidClientTokenId"


class ExpiredToken(SignatureError):
    """Temporary (STS) credentials used after their expiration."""

    code = "ExpiredTokenException"
    query_code = "ExpiredToken"
