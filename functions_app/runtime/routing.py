"""Sending an invocation to a worker that already holds a warm environment for it.

Each worker listens on its own queue (``invocations.<worker>``) before the shared one, and
keeps one token per idle environment in a Redis list per function version. The invocation
service claims a token atomically, checking that the worker is alive and not busy, and
enqueues on that worker's queue; with no usable token the job goes to the shared queue
and whichever worker takes it starts (or reuses) an environment.

A worker that dies stops refreshing its alive key within seconds; claims then skip its
tokens, and the other workers move whatever was left in its queue to the shared queue.
"""

from __future__ import annotations

import redis

SHARED_QUEUE = "invocations"
WARM_KEY = "stratus:warm:{function}:{version}"
ALIVE_PREFIX = "stratus:worker-alive:"
BUSY_PREFIX = "stratus:worker-busy:"
ALIVE_SECONDS = 5
RESERVE_MS = 10_000

_CLAIM = """
local n = redis.call('LLEN', KEYS[1])
for i = 1, n do
  local worker = redis.call('LPOP', KEYS[1])
  if not worker then return false end
  if redis.call('EXISTS', ARGV[1] .. worker) == 1 then
    if redis.call('SET', ARGV[2] .. worker, 'reserved', 'NX', 'PX', ARGV[3]) then
      return worker
    end
    redis.call('RPUSH', KEYS[1], worker)
  end
end
return false
"""


def private_queue(worker: str) -> str:
    return f"{SHARED_QUEUE}.{worker}"


def warm_key(function: str, version: str) -> str:
    return WARM_KEY.format(function=function, version=version)


def claim(connection: redis.Redis, *, function: str, version: str) -> str | None:
    """The name of an alive, idle worker with a warm environment for this version, reserved for us."""
    worker = connection.eval(_CLAIM, 1, warm_key(function, version), ALIVE_PREFIX, BUSY_PREFIX, RESERVE_MS)
    if not worker:
        return None
    return worker.decode() if isinstance(worker, bytes) else worker


def token_add(connection: redis.Redis, *, worker: str, function: str, version: str) -> None:
    connection.rpush(warm_key(function, version), worker)


def token_remove(
    connection: redis.Redis, *, worker: str, function: str, version: str, count: int = 1
) -> None:
    connection.lrem(warm_key(function, version), count, worker)


def alive_refresh(connection: redis.Redis, *, worker: str, status: str = "{}") -> None:
    """Keep ``worker`` counted as alive; ``status`` (JSON) tells /metrics and /healthz about its pool."""
    connection.set(ALIVE_PREFIX + worker, status, ex=ALIVE_SECONDS)


def workers_alive(connection: redis.Redis) -> dict[str, dict]:
    """Every live worker and the status it last reported."""
    import json

    keys = list(connection.scan_iter(match=ALIVE_PREFIX + "*", count=500))
    values = connection.mget(keys) if keys else []
    alive = {}
    for key, value in zip(keys, values, strict=True):
        if value is None:
            continue
        try:
            status = json.loads(value)
        except ValueError:
            status = {}
        alive[key.decode()[len(ALIVE_PREFIX) :]] = status if isinstance(status, dict) else {}
    return alive


def busy_set(connection: redis.Redis, *, worker: str, seconds: int) -> None:
    connection.set(BUSY_PREFIX + worker, "busy", ex=seconds)


def busy_clear(connection: redis.Redis, *, worker: str) -> None:
    connection.delete(BUSY_PREFIX + worker)


def orphaned_queues_rescue(connection: redis.Redis) -> int:
    """Move jobs waiting on the queues of dead workers to the shared queue."""
    moved = 0
    prefix = f"rq:queue:{SHARED_QUEUE}."
    for key in connection.scan_iter(match=f"{prefix}*", count=200):
        name = key.decode() if isinstance(key, bytes) else key
        worker = name[len(prefix) :]
        if connection.exists(ALIVE_PREFIX + worker):
            continue
        while connection.lmove(name, f"rq:queue:{SHARED_QUEUE}", "LEFT", "RIGHT"):
            moved += 1
    return moved


def tokens_forget(connection: redis.Redis, *, worker: str) -> None:
    """On a clean stop: withdraw every token and the alive key of ``worker``."""
    for key in connection.scan_iter(match=WARM_KEY.format(function="*", version="*"), count=500):
        connection.lrem(key, 0, worker)
    connection.delete(ALIVE_PREFIX + worker, BUSY_PREFIX + worker)
