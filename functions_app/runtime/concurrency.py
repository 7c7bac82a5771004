"""Concurrency admission: one atomic step in Redis, with leases that expire.

Each admitted invocation holds a lease, a member of two sorted sets scored by its expiry:
the function's, and the account's unreserved pool (functions without reserved
concurrency). Admission drops expired leases, compares the count with the limit and adds
the lease, all in one Lua script. A worker releases the lease when the invocation ends; if
the worker dies, the lease simply expires.
"""

from __future__ import annotations

import redis
from redis.client import Pipeline
from redis.commands.core import Script

ACCOUNT_KEY = "stratus:concurrency:unreserved"
FUNCTION_KEY = "stratus:concurrency:function:{name}"

# A Lua function, so the direct path's one step (direct.py) admits exactly as this does.
ADMIT_FUNCTION = """
local function admit(account_key, function_key, lease, ttl, reserved, unreserved_capacity)
  local now = redis.call('TIME')
  local now_s = tonumber(now[1]) + tonumber(now[2]) / 1000000
  local expiry = now_s + tonumber(ttl)
  reserved = tonumber(reserved)
  redis.call('ZREMRANGEBYSCORE', account_key, '-inf', now_s)
  redis.call('ZREMRANGEBYSCORE', function_key, '-inf', now_s)
  if reserved >= 0 then
    if redis.call('ZCARD', function_key) >= reserved then
      return 'ReservedFunctionConcurrentInvocationLimitExceeded'
    end
    redis.call('ZADD', function_key, expiry, lease)
    return 'OK'
  end
  if redis.call('ZCARD', account_key) >= tonumber(unreserved_capacity) then
    return 'ConcurrentInvocationLimitExceeded'
  end
  redis.call('ZADD', account_key, expiry, lease)
  redis.call('ZADD', function_key, expiry, lease)
  return 'OK'
end
"""


def lua_script(source: bytes) -> Script:
    """A Lua script loaded on first use, on whichever connection each call passes."""
    # Script wants the client it is registered with; these have none, so every call passes one.
    return Script(None, source)  # type: ignore[arg-type]


_ADMIT = lua_script(
    (ADMIT_FUNCTION + "return admit(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[4])").encode()
)

_EXTEND = lua_script(
    b"""
local now = redis.call('TIME')
local expiry = tonumber(now[1]) + tonumber(now[2]) / 1000000 + tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], 'XX', expiry, ARGV[1])
redis.call('ZADD', KEYS[2], 'XX', expiry, ARGV[1])
return 1
""",
)


def keys(function_name: str) -> list[str]:
    """The sorted sets an invocation of ``function_name`` holds its lease in."""
    return [ACCOUNT_KEY, FUNCTION_KEY.format(name=function_name)]


def admit(
    connection: redis.Redis,
    *,
    function_name: str,
    lease: str,
    ttl_seconds: float,
    reserved: int | None,
    unreserved_capacity: int,
) -> str | None:
    """Take a lease; returns None when admitted, else the throttle reason."""
    answer = _ADMIT(
        keys=keys(function_name),
        args=[lease, ttl_seconds, -1 if reserved is None else reserved, unreserved_capacity],
        client=connection,
    )
    answer = answer.decode() if isinstance(answer, bytes) else answer
    return None if answer == "OK" else answer


def extend(connection: redis.Redis, *, function_name: str, lease: str, ttl_seconds: float) -> None:
    _EXTEND(keys=keys(function_name), args=[lease, ttl_seconds], client=connection)


def release_queue(pipeline: Pipeline, *, function_name: str, lease: str) -> None:
    """Queue the lease's release on ``pipeline`` (the caller executes it)."""
    for key in keys(function_name):
        pipeline.zrem(key, lease)


def release(connection: redis.Redis, *, function_name: str, lease: str) -> None:
    pipe = connection.pipeline(transaction=False)
    release_queue(pipe, function_name=function_name, lease=lease)
    pipe.execute()
