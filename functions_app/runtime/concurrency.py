"""Concurrency admission: one atomic step in Redis, with leases that expire.

Each admitted invocation holds a lease, a member of two sorted sets scored by its expiry:
the function's, and the account's unreserved pool (functions without reserved
concurrency). Admission drops expired leases, compares the count with the limit and adds
the lease, all in one Lua script. A worker releases the lease when the invocation ends; if
the worker dies, the lease simply expires.
"""

from __future__ import annotations

import redis

ACCOUNT_KEY = "stratus:concurrency:unreserved"
FUNCTION_KEY = "stratus:concurrency:function:{name}"

_ADMIT = """
local now = redis.call('TIME')
local now_s = tonumber(now[1]) + tonumber(now[2]) / 1000000
local expiry = now_s + tonumber(ARGV[2])
local lease = ARGV[1]
local reserved = tonumber(ARGV[3])
local unreserved_capacity = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_s)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now_s)
if reserved >= 0 then
  if redis.call('ZCARD', KEYS[2]) >= reserved then
    return 'ReservedFunctionConcurrentInvocationLimitExceeded'
  end
  redis.call('ZADD', KEYS[2], expiry, lease)
  return 'OK'
end
if redis.call('ZCARD', KEYS[1]) >= unreserved_capacity then
  return 'ConcurrentInvocationLimitExceeded'
end
redis.call('ZADD', KEYS[1], expiry, lease)
redis.call('ZADD', KEYS[2], expiry, lease)
return 'OK'
"""

_EXTEND = """
local now = redis.call('TIME')
local expiry = tonumber(now[1]) + tonumber(now[2]) / 1000000 + tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], 'XX', expiry, ARGV[1])
redis.call('ZADD', KEYS[2], 'XX', expiry, ARGV[1])
return 1
"""


def _keys(function_name: str) -> list[str]:
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
    answer = connection.eval(
        _ADMIT,
        2,
        *_keys(function_name),
        lease,
        ttl_seconds,
        -1 if reserved is None else reserved,
        unreserved_capacity,
    )
    answer = answer.decode() if isinstance(answer, bytes) else answer
    return None if answer == "OK" else answer


def extend(connection: redis.Redis, *, function_name: str, lease: str, ttl_seconds: float) -> None:
    connection.eval(_EXTEND, 2, *_keys(function_name), lease, ttl_seconds)


def release(connection: redis.Redis, *, function_name: str, lease: str) -> None:
    pipe = connection.pipeline(transaction=False)
    for key in _keys(function_name):
        pipe.zrem(key, lease)
    pipe.execute()
