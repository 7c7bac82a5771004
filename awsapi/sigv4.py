"""Verification of AWS Signature Version 4 on incoming requests.

The signature is recomputed with botocore's own signer over the request exactly as it came
off the wire (raw path, raw query string, the headers the client listed as signed), so
whatever botocore or the AWS CLI sends verifies without re-implementing SigV4 here.

Two kinds of credentials sign: an IAM user's access key (``AKIA…``), and an STS session's
temporary credentials (``ASIA…``), which also need the session token the session was issued
with (``X-Amz-Security-Token``) and stop at the session's expiration.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from botocore.auth import EMPTY_SHA256_HASH, UNSIGNED_PAYLOAD, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from django.conf import settings

from awsapi.errors import (
    ExpiredToken,
    IncompleteSignature,
    InvalidSignature,
    MissingAuthenticationToken,
    UnrecognizedClient,
)
from dashboard.caches import Cache
from functions_app.models import AccessKey
from functions_app.services.access_keys import secret_decrypted
from iam.callers import SignedCaller
from iam.models import StsSession, user_principal

_AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<credential>[^,\s]+),\s*SignedHeaders=(?P<signed>[^,\s]+),\s*"
    r"Signature=(?P<signature>[0-9a-f]{64})\s*$"
)
_AMZ_DATE = "%Y%m%dT%H%M%SZ"
_INVALID_TOKEN = "The security token included in the request is invalid."


# Active keys with their users, by key id: each request gets its own copy (request.user is
# the key's user). Deleting or deactivating a key or its user empties it (iam.authorization).
_keys = Cache("access keys", copies=True)


def _active_key(access_key_id: str) -> AccessKey:
    key = (
        AccessKey.objects.select_related("user__iam_user")
        .filter(access_key_id=access_key_id, revoked_at__isnull=True)
        .first()
    )
    if key is None or not key.user.is_active:
        raise UnrecognizedClient(_INVALID_TOKEN)
    return key


def _key_caller(access_key_id: str) -> tuple[SignedCaller, str]:
    """The caller behind an access key and the key's secret (one indexed query, or none while
    the key is cached)."""
    key = _keys.get(access_key_id, lambda: _active_key(access_key_id))
    principal_arn, account_id = user_principal(key.user)
    caller = SignedCaller(
        access_key_id=access_key_id,
        region="",
        service="",
        user=key.user,
        principal_arn=principal_arn,
        account_id=account_id,
        key=key,
    )
    return caller, secret_decrypted(key.secret_ciphertext)


def _session_caller(request, access_key_id: str) -> tuple[SignedCaller, str]:
    """The caller behind temporary credentials and their secret (one indexed query)."""
    session = StsSession.objects.select_related("role").filter(access_key_id=access_key_id).first()
    token = request.headers.get("X-Amz-Security-Token", "")
    if (
        session is None
        or not token
        or not hmac.compare_digest(hashlib.sha256(token.encode()).hexdigest(), session.token_sha256)
    ):
        raise UnrecognizedClient(_INVALID_TOKEN)
    if session.expires_at <= datetime.now(UTC):
        raise ExpiredToken("The security token included in the request is expired")
    caller = SignedCaller(
        access_key_id=access_key_id,
        region="",
        service="",
        key=session,
        user=session.user,
        principal_arn=session.arn,
        account_id=session.account_id,
        session=session,
    )
    return caller, secret_decrypted(session.secret_ciphertext)


def raw_path(request) -> str | None:
    """The request's path as the client sent it (still percent-encoded), from the ASGI scope:
    Django's ASGI request carries it, and so does the WSGI environ a2wsgi builds."""
    scope = getattr(request, "scope", None) or request.META.get("asgi.scope")
    raw = scope.get("raw_path") if scope else None
    return raw.decode("latin-1").split("?", 1)[0] if raw else None


def _raw_path(request) -> str:
    return raw_path(request) or quote(request.path, safe="/~!$&'()*+,;=:@-._")


def caller_verify(request, *, service: str | None = None) -> SignedCaller:
    """Return the verified caller of ``request`` or raise the AWS error that explains why not.

    With ``service``, the credential must also be scoped to that service (``lambda``, ``sqs``,
    ``monitoring``, ...), as AWS requires: a request signed for one API is refused by another.
    """
    scoped_to = service
    authorization = request.headers.get("Authorization", "")
    if not authorization:
        raise MissingAuthenticationToken("Missing Authentication Token")
    match = _AUTHORIZATION.match(authorization)
    if not match:
        raise IncompleteSignature(
            "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters with "
            "algorithm AWS4-HMAC-SHA256."
        )
    try:
        access_key_id, scope_date, region, service, terminator = match["credential"].split("/")
    except ValueError:
        raise IncompleteSignature(
            "Credential must be <AccessKeyId>/<date>/<region>/<service>/aws4_request."
        ) from None
    if terminator != "aws4_request":
        raise IncompleteSignature("Credential must end in aws4_request.")

    if access_key_id.startswith("ASIA"):
        caller, secret = _session_caller(request, access_key_id)
    else:
        caller, secret = _key_caller(access_key_id)

    amz_date = request.headers.get("X-Amz-Date", "")
    try:
        signed_at = datetime.strptime(amz_date, _AMZ_DATE).replace(tzinfo=UTC)
    except ValueError:
        raise IncompleteSignature("X-Amz-Date must be present and of the form YYYYMMDDTHHMMSSZ.") from None
    now = datetime.now(UTC)
    skew = timedelta(seconds=settings.STRATUS_SIGV4_MAX_SKEW_SECONDS)
    if signed_at < now - skew:
        raise InvalidSignature(
            f"Signature expired: {amz_date} is now earlier than {(now - skew).strftime(_AMZ_DATE)} "
            f"({now.strftime(_AMZ_DATE)} - {skew.seconds // 60} min.)"
        )
    if signed_at > now + skew:
        raise InvalidSignature(
            f"Signature not yet current: {amz_date} is still later than {(now + skew).strftime(_AMZ_DATE)} "
            f"({now.strftime(_AMZ_DATE)} + {skew.seconds // 60} min.)"
        )
    if scope_date != amz_date[:8]:
        raise InvalidSignature("Credential should be scoped to the date in X-Amz-Date.")

    signed_names = match["signed"].split(";")
    if "host" not in signed_names:
        raise InvalidSignature("The host header must be signed.")
    headers = {}
    for name in signed_names:
        value = request.headers.get(name)
        if value is None:
            raise InvalidSignature(f"The signed header {name} is missing from the request.")
        headers[name] = value

    body = request.body
    declared_hash = request.headers.get("X-Amz-Content-SHA256")
    if declared_hash and declared_hash != UNSIGNED_PAYLOAD:
        actual = hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256_HASH
        if not hmac.compare_digest(declared_hash, actual):
            raise InvalidSignature(
                "The provided X-Amz-Content-SHA256 header does not match what was computed."
            )

    query = request.META.get("QUERY_STRING", "")
    url = f"http://{headers['host']}{_raw_path(request)}" + (f"?{query}" if query else "")
    wire = AWSRequest(method=request.method, url=url, data=body, headers=headers)
    wire.context["timestamp"] = amz_date
    signer = SigV4Auth(Credentials(access_key_id, secret), service, region)
    canonical = signer.canonical_request(wire)
    expected = signer.signature(signer.string_to_sign(wire, canonical), wire)
    if not hmac.compare_digest(expected, match["signature"]):
        raise InvalidSignature(
            "The request signature we calculated does not match the signature you provided. Check your AWS "
            "Secret Access Key and signing method. Consult the service documentation for details."
        )
    if scoped_to is not None and service != scoped_to:
        raise InvalidSignature(
            f"Credential should be scoped to correct service: '{scoped_to}'. (It names {service!r}.)"
        )
    return replace(caller, region=region, service=service)
