"""Which schedulers and pollers are running: each marks itself alive in Redis on every pass,
and the mark lapses a few seconds after the process stops (``/healthz`` reads them)."""

from __future__ import annotations

import json
import time

import redis

from functions_app.runtime.direct import ALIVE_PREFIX, HOSTS_SEEN

ALIVE_TTL_SECONDS = 10


def _key(role: str, ident: str) -> str:
    return f"stratus:alive:{role}:{ident}"


def alive_mark(connection: redis.Redis, role: str, ident: str, **details: object) -> None:
    value = json.dumps({**details, "role": role, "at": time.time()})
    pipe = connection.pipeline(transaction=False)
    pipe.set(_key(role, ident), value, ex=ALIVE_TTL_SECONDS)
    pipe.hset(HOSTS_SEEN, f"{role}:{ident}", value)
    pipe.execute()


def alive_clear(connection: redis.Redis, role: str, ident: str) -> None:
    """On a clean stop: no longer alive, and not reported as a process that went missing."""
    try:
        connection.delete(_key(role, ident))
        connection.hdel(HOSTS_SEEN, f"{role}:{ident}")
    except redis.RedisError:
        pass  # its marks lapse by themselves


def seen_list(connection: redis.Redis, *, grace_seconds: float) -> list[dict]:
    """Every process that reported in (workers, consumers, schedulers, pollers): its role,
    name, last heartbeat and whether it is alive; ones gone longer than ``grace_seconds``
    are forgotten."""
    now = time.time()
    seen = []
    for field, value in connection.hgetall(HOSTS_SEEN).items():
        role, _, name = (field.decode() if isinstance(field, bytes) else field).partition(":")
        try:
            status = json.loads(value)
        except ValueError:
            status = {}
        age = now - float(status.get("at") or 0)
        if age > grace_seconds:
            connection.hdel(HOSTS_SEEN, field)
            continue
        key = ALIVE_PREFIX + name if role == "worker" else _key(role, name)
        seen.append(
            {
                **status,
                "role": role,
                "name": name,
                "alive": bool(connection.exists(key)),
                "age_s": round(age, 1),
            }
        )
    return sorted(seen, key=lambda entry: (entry["role"], entry["name"]))


def alive_list(connection: redis.Redis, role: str) -> list[dict]:
    keys = list(connection.scan_iter(match=_key(role, "*"), count=1000))
    values = connection.mget(keys) if keys else []
    return [json.loads(value) for value in values if value]
