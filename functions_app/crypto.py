"""Encryption of stored secrets with a key derived from Django's SECRET_KEY.

SigV4 needs the plain secret to verify a signature, so access-key secrets cannot be hashed;
they are encrypted instead, so that a copy of the database alone does not reveal them.
"""

from __future__ import annotations

import base64
from functools import lru_cache

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


@lru_cache(maxsize=4)
def _fernet(secret_key: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"stratus", info=b"access-key-secrets").derive(
        secret_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(key))


def secret_encrypt(plain: str) -> str:
    return _fernet(settings.SECRET_KEY).encrypt(plain.encode()).decode()


def secret_decrypt(ciphertext: str) -> str:
    return _fernet(settings.SECRET_KEY).decrypt(ciphertext.encode()).decode()
