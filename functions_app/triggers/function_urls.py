"""Function URLs: their configuration (the Lambda API's *FunctionUrlConfig operations) and who
may call an ``AWS_IAM`` one.

A URL is served at ``/lambda-url/<url-id>/...`` on the Stratus server, and at
``<url-id>.<STRATUS_FUNCTION_URL_DOMAIN>`` when that wildcard name is configured. ``NONE``
URLs are public, as a function URL with a public resource policy is on AWS.
"""

from __future__ import annotations

import secrets
import string

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from functions_app.errors import InvalidParameterValue, ResourceConflict, ResourceNotFound
from functions_app.models import Function, PolicyStatement
from functions_app.selectors import qualifier_exists_check
from functions_app.triggers.models import FunctionUrlConfig

URL_ID_LENGTH = 32
_URL_ID_ALPHABET = string.ascii_lowercase + string.digits
_CORS_LISTS = {"AllowHeaders": 100, "AllowMethods": 6, "AllowOrigins": 100, "ExposeHeaders": 100}
_METHODS = ("GET", "PUT", "HEAD", "POST", "PATCH", "DELETE", "*")
INVOKE_MODES = ("BUFFERED", "RESPONSE_STREAM")


def _qualifier_check(function: Function, qualifier: str | None) -> str:
    """AWS allows a URL on the unqualified function or on an alias, never on a version."""
    if not qualifier or qualifier == "$LATEST":
        return ""
    if qualifier.isdigit():
        raise InvalidParameterValue(
            "Function URLs can be created for the unqualified function ($LATEST) or an alias, not a version."
        )
    qualifier_exists_check(function, qualifier)
    return qualifier


def _auth_type_check(value: object) -> str:
    if value not in FunctionUrlConfig.AuthType.values:
        raise InvalidParameterValue(
            f"1 validation error detected: Value '{value}' at 'authType' failed to satisfy constraint: "
            "Member must satisfy enum value set: [NONE, AWS_IAM]"
        )
    return str(value)


def _cors_check(cors: object) -> dict | None:
    if cors is None:
        return None
    if not isinstance(cors, dict):
        raise InvalidParameterValue("Cors must be an object.")
    unknown = set(cors) - {*_CORS_LISTS, "AllowCredentials", "MaxAge"}
    if unknown:
        raise InvalidParameterValue(f"Cors has unknown members: {', '.join(sorted(unknown))}.")
    for name, limit in _CORS_LISTS.items():
        value = cors.get(name)
        if value is None:
            continue
        if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
            raise InvalidParameterValue(f"Cors.{name} must be a list of non-empty strings.")
        if len(value) > limit:
            raise InvalidParameterValue(f"Cors.{name} may have at most {limit} entries.")
    bad = [method for method in cors.get("AllowMethods") or [] if method.upper() not in _METHODS]
    if bad:
        raise InvalidParameterValue(f"Cors.AllowMethods has an invalid method: {bad[0]}.")
    max_age = cors.get("MaxAge")
    if max_age is not None and (not isinstance(max_age, int) or not 0 <= max_age <= 86400):
        raise InvalidParameterValue("Cors.MaxAge must be an integer from 0 to 86400.")
    if "AllowCredentials" in cors and not isinstance(cors["AllowCredentials"], bool):
        raise InvalidParameterValue("Cors.AllowCredentials must be true or false.")
    return cors


def _invoke_mode_check(value: object) -> str:
    if value not in INVOKE_MODES:
        raise InvalidParameterValue(f"InvokeMode must be one of {', '.join(INVOKE_MODES)}.")
    return str(value)


def _new_url_id() -> str:
    return "".join(secrets.choice(_URL_ID_ALPHABET) for _ in range(URL_ID_LENGTH))


def function_url(config: FunctionUrlConfig, *, base_url: str) -> str:
    """The URL a caller uses: by host name when a wildcard domain is set, else by path."""
    domain = settings.STRATUS_FUNCTION_URL_DOMAIN
    if domain:
        scheme, _, rest = base_url.partition("://")
        port = rest.split("/")[0].rpartition(":")[2] if ":" in rest.split("/")[0] else ""
        return f"{scheme}://{config.url_id}.{domain}{':' + port if port else ''}/"
    return f"{base_url.rstrip('/')}/lambda-url/{config.url_id}/"


def function_url_config_get(*, function: Function, qualifier: str | None) -> FunctionUrlConfig:
    config = function.url_configs.filter(qualifier=_qualifier_check(function, qualifier)).first()
    if config is None:
        raise ResourceNotFound("The resource you requested does not exist.")
    return config


def function_url_config_create(
    *, function: Function, qualifier: str | None, fields: dict
) -> FunctionUrlConfig:
    qualifier = _qualifier_check(function, qualifier)
    config = FunctionUrlConfig(
        function=function,
        qualifier=qualifier,
        url_id=_new_url_id(),
        auth_type=_auth_type_check(fields.get("AuthType")),
        cors=_cors_check(fields.get("Cors")),
        invoke_mode=_invoke_mode_check(fields.get("InvokeMode") or "BUFFERED"),
    )
    try:
        with transaction.atomic():
            config.save()
    except IntegrityError:
        raise ResourceConflict(
            f"Failed to create function url config for [functionArn = {function.name}]. "
            "Error message:  FunctionUrlConfig exists for this Lambda function"
        ) from None
    return config


def function_url_config_update(
    *, function: Function, qualifier: str | None, fields: dict
) -> FunctionUrlConfig:
    config = function_url_config_get(function=function, qualifier=qualifier)
    if fields.get("AuthType") is not None:
        config.auth_type = _auth_type_check(fields["AuthType"])
    if "Cors" in fields:
        config.cors = _cors_check(fields["Cors"])
    if fields.get("InvokeMode") is not None:
        config.invoke_mode = _invoke_mode_check(fields["InvokeMode"])
    config.last_modified = timezone.now()
    config.save()
    return config


def function_url_config_delete(*, function: Function, qualifier: str | None) -> None:
    function_url_config_get(function=function, qualifier=qualifier).delete()


def function_url_caller_allowed(config: FunctionUrlConfig, user) -> bool:
    """Whether an ``AWS_IAM`` URL takes a signed call from ``user``: an account administrator
    (superuser) always, anyone else only when the function's policy grants them
    ``lambda:InvokeFunctionUrl``."""
    if user.is_superuser:
        return True
    account = settings.STRATUS_ACCOUNT_ID
    principals = {
        "*",
        account,
        f"arn:aws:iam::{account}:root",
        f"arn:aws:iam::{account}:user/{user.username}",
    }
    statements = PolicyStatement.objects.filter(
        function=config.function, qualifier__in=["", config.qualifier]
    )
    for row in statements:
        statement = row.statement
        if statement.get("Effect") != "Allow":
            continue
        if statement.get("Action") not in ("lambda:InvokeFunctionUrl", "lambda:*", "*"):
            continue
        principal = statement.get("Principal")
        named = principal.get("AWS") if isinstance(principal, dict) else principal
        if named not in principals:
            continue
        auth_type = statement.get("Condition", {}).get("StringEquals", {}).get("lambda:FunctionUrlAuthType")
        if auth_type in (None, config.auth_type):
            return True
    return False
