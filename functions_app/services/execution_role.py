"""A function's execution role: the check that Lambda may assume it, the console's "basic"
role, and the credentials its environments run with.

CreateFunction and UpdateFunctionConfiguration refuse a ``Role`` that is not a role of the
function's account whose trust policy lets ``lambda.amazonaws.com`` call sts:AssumeRole, as
AWS does (``execution_role_check``). An environment of the function then gets temporary
credentials for it in ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY`` and
``AWS_SESSION_TOKEN`` (session name: the function's name), as AWS injects them; with
``AWS_ENDPOINT_URL`` pointing at Stratus, plain ``boto3.client("sqs")`` in a handler acts
with exactly the role's permissions. The credentials outlive the environment (environments
are retired before they would expire, see pool.py).

A role deleted, or its trust changed, after the function was created gives no credentials
(nor does one of a function created before roles were checked): such a function keeps
running and its SDK calls are refused, unsigned.
"""

from __future__ import annotations

import json
import logging
import secrets
import string

from django.conf import settings

from functions_app.errors import InvalidParameterValue
from iam.errors import IamError
from iam.models import Role
from iam.selectors import account_get, role_by_arn, role_trusts_service
from iam.services import (
    SERVICE_SESSION_SECONDS,
    account_default,
    policy_attach,
    role_create,
    role_session_issue,
)
from iam.tenancy import current_account

logger = logging.getLogger("stratus.execution_role")

LAMBDA_SERVICE = "lambda.amazonaws.com"
CREDENTIALS_SECONDS = SERVICE_SESSION_SECONDS
BASIC_EXECUTION_POLICY = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
LAMBDA_TRUST_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": LAMBDA_SERVICE}, "Action": "sts:AssumeRole"}
        ],
    }
)
_SUFFIX_ALPHABET = string.ascii_lowercase + string.digits
_ROLE_NAME_MAX = 64


def _account(account_id: str | None) -> str:
    """The function's account: given, else the request's (iam.tenancy), else the install's."""
    return account_id or current_account() or settings.STRATUS_ACCOUNT_ID


def _lambda_role(role_arn: str, account_id: str | None = None) -> Role | None:
    """The role at ``role_arn`` if it is one of the function's account that Lambda may
    assume, else None."""
    try:
        role = role_by_arn(role_arn)
    except IamError:
        return None
    if role.account_id != _account(account_id) or not role_trusts_service(role, LAMBDA_SERVICE):
        return None
    return role


def execution_role_check(role_arn: str) -> str:
    """``role_arn`` if Lambda can assume it, else AWS's InvalidParameterValueException.

    The ARN's shape is ``validation.role_check``'s (a ValidationException, as on AWS); this
    asks the database. A role with a path resolves by name and path, as IAM names it."""
    if _lambda_role(role_arn) is None:
        raise InvalidParameterValue("The role defined for the function cannot be assumed by Lambda.")
    return role_arn


def execution_roles_available() -> list[Role]:
    """The account's roles a function may use, by name: those whose trust policy lets Lambda in."""
    roles = Role.objects.filter(account_id=_account(None)).order_by("name")
    return [role for role in roles if role_trusts_service(role, LAMBDA_SERVICE)]


def execution_role_basic_create(*, function_name: str) -> Role:
    """What the console's "Create a new role with basic Lambda permissions" makes:
    ``<function>-role-<8 random characters>`` at ``/service-role/``, trusting Lambda, with
    AWSLambdaBasicExecutionRole attached. ``function_name`` must already be checked."""
    suffix = "".join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(8))
    prefix = function_name[: _ROLE_NAME_MAX - len(f"-role-{suffix}")]
    role = role_create(
        account=account_default()
        if _account(None) == settings.STRATUS_ACCOUNT_ID
        else account_get(account_id=_account(None)),
        name=f"{prefix}-role-{suffix}",
        path="/service-role/",
        trust_policy=LAMBDA_TRUST_POLICY,
    )
    policy_attach(principal=role, policy_arn=BASIC_EXECUTION_POLICY)
    return role


def execution_role_credentials(*, function_name: str, role_arn: str, account_id: str) -> dict[str, str]:
    """The environment variables that carry the role's credentials, or none."""
    role = _lambda_role(role_arn, account_id)
    if role is None:
        logger.warning(
            "role %s is not one %s may assume: %s runs without credentials",
            role_arn,
            LAMBDA_SERVICE,
            function_name,
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
