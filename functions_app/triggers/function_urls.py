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
from iam.authorization import anonymous_allowed, authorize
from iam.callers import SignedCaller
from iam.policy import Policy, policy_parse

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


def _url_policy(config: FunctionUrlConfig) -> Policy | None:
    """The function's resource-based policy as it applies to the URL's qualifier."""
    statements = [
        row.statement
        for row in PolicyStatement.objects.filter(
            function=config.function, qualifier__in=["", config.qualifier]
        )
    ]
    if not statements:
        return None
    document = {"Version": "2012-10-17", "Statement": statements}
    return policy_parse(document, kind="resource", label=config.function.arn())


def function_url_caller_allowed(config: FunctionUrlConfig, caller: SignedCaller | None) -> bool:
    """Whether a call to the URL may invoke the function: as AWS requires for URLs since
    October 2025, both lambda:InvokeFunctionUrl (for the URL's auth type) and
    lambda:InvokeFunction (through a function URL) must be allowed, for the signed caller of
    an AWS_IAM URL by its own policies or the function's, for anyone at all on a NONE URL
    by the function's policy (the statements the dashboard adds with a NONE URL)."""
    resource = config.function.arn(config.qualifier or None)
    policy = _url_policy(config)
    keys = {"lambda:FunctionUrlAuthType": config.auth_type, "lambda:InvokedViaFunctionUrl": "true"}
    for action in ("lambda:InvokeFunctionUrl", "lambda:InvokeFunction"):
        if caller is None:
            allowed = anonymous_allowed(
                action=action, resource=resource, resource_policy=policy, condition_keys=keys
            )
        else:
            decision = authorize(
                caller, action=action, resource=resource, resource_policy=policy, condition_keys=keys
            )
            allowed = decision is None or decision.allowed
        if not allowed:
            return False
    return True
