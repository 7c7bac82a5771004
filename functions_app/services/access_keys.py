"""Access keys that sign API requests with SigV4.

IAM's view of them (a user's keys, Active or Inactive) is in ``iam.services``: an Inactive key
is one with ``revoked_at`` set, and reactivating it clears it.
"""

from __future__ import annotations

import secrets
import string
from functools import lru_cache

from django.utils import timezone

from functions_app.crypto import secret_decrypt, secret_encrypt
from functions_app.models import AccessKey

_ID_ALPHABET = string.ascii_uppercase + "234567"


def access_key_create(*, user, description: str = "") -> tuple[AccessKey, str]:
    """Issue a key pair; the secret is returned once and stored only encrypted."""
    secret = secrets.token_urlsafe(30)[:40]
    key = AccessKey.objects.create(
        user=user,
        access_key_id="AKIA" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(16)),
        secret_ciphertext=secret_encrypt(secret),
        description=description,
    )
    return key, secret


def access_key_revoke(*, key: AccessKey) -> None:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])


def access_key_activate(*, key: AccessKey) -> None:
    """Make a revoked (IAM: Inactive) key sign requests again."""
    if key.revoked_at is not None:
        key.revoked_at = None
        key.save(update_fields=["revoked_at"])


def access_key_secret(key: AccessKey) -> str:
    return secret_decrypted(key.secret_ciphertext)


@lru_cache(maxsize=1024)
def secret_decrypted(ciphertext: str) -> str:
    """The plain secret of an access key or an STS session, from its stored ciphertext."""
    # Keyed by the ciphertext, so a revoked or replaced key is never served from here: the
    # caller has already found the key active in the database.
    return secret_decrypt(ciphertext)
