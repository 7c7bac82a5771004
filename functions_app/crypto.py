"""Encryption of stored secrets with keys derived from Django's SECRET_KEY.

SigV4 needs the plain secret to verify a signature, so access-key secrets cannot be hashed;
they are encrypted instead, so that a copy of the database alone does not reveal them. A
function's environment variables (which hold its own secrets) are encrypted the same way,
under a key of their own.
"""

from __future__ import annotations

import base64
from functools import lru_cache

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

_ACCESS_KEY_SECRETS = b"access-key-secrets"
_FUNCTION_ENVIRONMENT = b"function-environment"


@lru_cache(maxsize=8)
def _fernet(secret_key: str, purpose: bytes) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"stratus", info=purpose).derive(
        secret_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(key))


def secret_encrypt(plain: str) -> str:
    return _fernet(settings.SECRET_KEY, _ACCESS_KEY_SECRETS).encrypt(plain.encode()).decode()


def secret_decrypt(ciphertext: str) -> str:
    return _fernet(settings.SECRET_KEY, _ACCESS_KEY_SECRETS).decrypt(ciphertext.encode()).decode()


def environment_encrypt(plain: str) -> str:
    return _fernet(settings.SECRET_KEY, _FUNCTION_ENVIRONMENT).encrypt(plain.encode()).decode()


def environment_decrypt(ciphertext: str) -> str:
    return _fernet(settings.SECRET_KEY, _FUNCTION_ENVIRONMENT).decrypt(ciphertext.encode()).decode()
