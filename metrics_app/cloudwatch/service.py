"""CloudWatch as the front door serves it: in the query, JSON 1.0 and RPC v2 CBOR protocols.

Every operation is authorized as ``cloudwatch:<Operation>`` on ``*`` (CloudWatch's metric
operations have no resource-level permissions); a refusal is ``AccessDenied``, HTTP 403,
naming no resource.
"""

from __future__ import annotations

from awsapi.errors import AwsError
from awsapi.front import Service, on_params
from metrics_app.cloudwatch.errors import (
    AccessDenied,
    CloudWatchError,
    InvalidParameterValue,
    UnknownOperation,
)
from metrics_app.cloudwatch.operations import OPERATIONS


def _unknown(operation: str) -> CloudWatchError:
    return UnknownOperation(
        f"Stratus's CloudWatch does not implement {operation!r}; it serves "
        f"{', '.join(OPERATIONS)} for the AWS/Lambda namespace."
    )


def _denied(message: str) -> CloudWatchError:
    # CloudWatch's refusal names no resource when the action takes none.
    return AccessDenied(message.replace(" on resource: *", "", 1))


def _malformed(error: AwsError) -> CloudWatchError:
    return InvalidParameterValue(error.message)


CLOUDWATCH = Service(
    model_name="cloudwatch",
    signing_name="monitoring",
    family=CloudWatchError,
    operations=on_params(OPERATIONS),
    resource=lambda call: "*",
    action=lambda operation: f"cloudwatch:{operation}",
    denied=_denied,
    unknown=_unknown,
    malformed=_malformed,
    internal=lambda: CloudWatchError("An internal error occurred; the server log has the details."),
    type_prefix="com.amazon.coral.service#",
    shapes_checked=False,
    typed=True,
)
