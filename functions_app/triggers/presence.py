"""Which schedulers and pollers are running: each marks itself alive in Redis on every pass,
and the mark lapses a few seconds after the process stops (``/healthz`` reads them)."""

from __future__ import annotations

import json

import redis

ALIVE_TTL_SECONDS = 10


def _key(role: str, ident: str) -> str:
    return f"stratus:alive:{role}:{ident}"


def alive_mark(connection: redis.Redis, role: str, ident: str, **details: object) -> None:
    connection.set(_key(role, ident), json.dumps(details), ex=ALIVE_TTL_SECONDS)


def alive_list(connection: redis.Redis, role: str) -> list[dict]:
    keys = list(connection.scan_iter(match=_key(role, "*"), count=1000))
    values = connection.mget(keys) if keys else []
    return [json.loads(value) for value in values if value]
