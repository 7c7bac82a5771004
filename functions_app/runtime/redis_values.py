"""Values read back from Redis, as the runtime's connections get them.

Stratus's connections never set ``decode_responses``, so a Redis string comes back as
bytes; redis-py types its answers for either kind of connection. These say which a caller
expects, and fail loudly on anything else.
"""

from __future__ import annotations


def redis_text(value: object) -> str:
    """A Redis string (a key, a member, a value) as text."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, str):
        return value
    raise TypeError(f"expected a Redis string, got {type(value).__name__}")


def redis_bytes(value: object) -> bytes:
    """A Redis string as the bytes it holds."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    raise TypeError(f"expected a Redis string, got {type(value).__name__}")
