"""A function's execution role, as the credentials its environments run with.

An environment of a function whose ``Role`` is a role of the account that trusts
``lambda.amazonaws.com`` gets temporary credentials for it in ``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY`` and ``AWS_SESSION_TOKEN`` (session name: the function's name), as
AWS injects them; with ``AWS_ENDPOINT_URL`` pointing at Stratus, plain ``boto3.client("sqs")``
in a handler acts with exactly the role's permissions. The credentials outlive the
environment (environments are retired before they would expire, see pool.py).

A role that does not exist or does not trust Lambda gives no credentials (functions created
before roles were checked keep running; their SDK calls are refused, unsigned).
"""

from __future__ import annotations

import logging

from iam.errors import IamError
from iam.models import Role
from iam.selectors import role_by_arn, role_trusts_service
from iam.services import SERVICE_SESSION_SECONDS, role_session_issue

logger = logging.getLogger("stratus.execution_role")

LAMBDA_SERVICE = "lambda.amazonaws.com"
CREDENTIALS_SECONDS = SERVICE_SESSION_SECONDS


def execution_role_credentials(*, function_name: str, role_arn: str) -> dict[str, str]:
    """The environment variables that carry the role's credentials, or none."""
    try:
        role = role_by_arn(role_arn)
    except (IamError, Role.DoesNotExist, ValueError):
        return {}
    if not role_trusts_service(role, LAMBDA_SERVICE):
        logger.warning(
            "role %s does not trust %s: %s runs without credentials", role_arn, LAMBDA_SERVICE, function_name
        )
        return {}
    credentials = role_session_issue(
        role=role, session_name=function_name, duration_seconds=CREDENTIALS_SECONDS, beyond_role_maximum=True
    )
    return {
        "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
        "AWS_SESSION_TOKEN": credentials["SessionToken"],
    }
