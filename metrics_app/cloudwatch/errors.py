"""CloudWatch's errors, carrying both of the names each one has on the wire.

``code`` is the query protocol's ``<Code>`` (and, for JSON and CBOR, the first half of the
``x-amzn-query-error`` header that botocore maps back onto ``client.exceptions``); ``type_name``
is the ``__type`` of a JSON or CBOR error body.
"""

from __future__ import annotations

from awsapi.errors import AwsError

_CLOUDWATCH = "com.amazonaws.cloudwatch#"
_CORAL = "com.amazon.coral.service#"


class CloudWatchError(AwsError):
    code = "InternalServiceError"
    type_name = _CLOUDWATCH + "InternalServiceFault"
    status = 500


class InvalidParameterValue(CloudWatchError):
    code = "InvalidParameterValue"
    type_name = _CLOUDWATCH + "InvalidParameterValueException"
    status = 400


class MissingParameter(CloudWatchError):
    code = "MissingParameter"
    type_name = _CLOUDWATCH + "MissingRequiredParameterException"
    status = 400


class InvalidParameterCombination(CloudWatchError):
    code = "InvalidParameterCombination"
    type_name = _CLOUDWATCH + "InvalidParameterCombinationException"
    status = 400


class InvalidNextToken(CloudWatchError):
    code = "InvalidNextToken"
    type_name = _CLOUDWATCH + "InvalidNextToken"
    status = 400


class ValidationError(CloudWatchError):
    """What GetMetricData answers for a malformed query (CloudWatch's own choice of code)."""

    code = "ValidationError"
    type_name = _CLOUDWATCH + "ValidationError"
    status = 400


class UnknownOperation(CloudWatchError):
    code = "InvalidAction"
    type_name = _CORAL + "UnknownOperationException"
    status = 400


class AccessDenied(CloudWatchError):
    """The caller's policies do not allow the operation."""

    code = "AccessDenied"
    type_name = _CORAL + "AccessDeniedException"
    status = 403
