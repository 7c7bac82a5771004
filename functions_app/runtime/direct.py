"""The direct path of a synchronous invoke: one Redis request out, one reply back, no RQ job.

The caller makes one atomic step (``submit``): it admits the invocation against
concurrency, claims a warm token (one per idle environment, kept by each host in a list per
function version) of a host that is alive, and pushes the request onto that host's list.
With no token to claim, the request goes onto the shared list, which every host with
memory to spare takes from. Either way the caller then blocks on a reply key of its own.

A host answers on the reply key in the same round trip that releases the lease and appends
the invocation's record and log lines (``jobs.execute``). A synchronous caller needs no
durability from a queue: if the host running its request dies, the caller hears within
seconds (the host's alive key lapses) and answers ``ServiceException``; the lease expires.
Asynchronous events stay on RQ, which retries and redelivers them.

Messages are pickled, as RQ pickles its jobs: Redis is a trusted store that sandboxes
cannot reach.
"""

from __future__ import annotations

import json
import pickle
import time
from dataclasses import dataclass
from typing import Any

import redis
from redis.client import Pipeline

from functions_app.runtime import concurrency
from functions_app.runtime.concurrency import lua_script
from functions_app.runtime.redis_values import redis_bytes, redis_text

ALIVE_PREFIX = "stratus:worker-alive:"
ALIVE_SECONDS = 5
WARM_KEY = "stratus:warm:{function}:{version}"
SHARED_LIST = "stratus:direct:shared"
HOST_LIST_PREFIX = "stratus:direct:host:"
REPLY_KEY = "stratus:direct:reply:{request_id}"
TAKEN_KEY = "stratus:direct:taken:{request_id}"
# Every host process's last heartbeat by "role:name", alive or not: /healthz reports the
# ones that stopped (for a while) as well as the live ones.
HOSTS_SEEN = "stratus:hosts-seen"
# A reply nobody collects (the caller gave up or died) and a dead host's list go away.
REPLY_TTL_SECONDS = 60
LIST_TTL_SECONDS = 300

_SUBMIT = lua_script(
    (
        concurrency.ADMIT_FUNCTION
        + """
local admitted = admit(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[4])
if admitted ~= 'OK' then return {admitted, ''} end
local target = KEYS[4]
local host = ''
while true do
  local worker = redis.call('LPOP', KEYS[3])
  if not worker then break end
  if redis.call('EXISTS', ARGV[5] .. worker) == 1 then
    host = worker
    target = ARGV[6] .. worker
    break
  end
end
redis.call('LPUSH', target, ARGV[7])
redis.call('EXPIRE', target, ARGV[8])
return {'OK', host}
"""
    ).encode(),
)


def warm_key(function: str, version: str) -> str:
    return WARM_KEY.format(function=function, version=version)


def host_list(worker: str) -> str:
    return HOST_LIST_PREFIX + worker


@dataclass(frozen=True)
class Submitted:
    """Where a submitted request went: ``host`` ('' for the shared list) and its encoding,
    which the caller needs to withdraw it from the shared list if nobody takes it."""

    host: str
    encoded: bytes


def submit(
    connection: redis.Redis,
    message: dict[str, Any],
    *,
    lease_ttl: float,
    reserved: int | None,
    unreserved_capacity: int,
) -> Submitted | str:
    """Admit, claim a warm host and push ``message`` in one step; a ``str`` is the throttle reason."""
    encoded = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    function = message["function_name"]
    status, host = _SUBMIT(
        keys=[*concurrency.keys(function), warm_key(function, message["version"]), SHARED_LIST],
        args=[
            message["lease"],
            lease_ttl,
            -1 if reserved is None else reserved,
            unreserved_capacity,
            ALIVE_PREFIX,
            HOST_LIST_PREFIX,
            encoded,
            LIST_TTL_SECONDS,
        ],
        client=connection,
    )
    status = status.decode() if isinstance(status, bytes) else status
    if status != "OK":
        return status
    return Submitted(host=host.decode() if isinstance(host, bytes) else host, encoded=encoded)


def reply_wait(
    connection: redis.Redis,
    *,
    request_id: str,
    submitted: Submitted,
    pickup_seconds: float,
    run_seconds: float,
    poll_seconds: float = 1.0,
) -> dict[str, Any] | str:
    """The host's reply; or, as text, why there will be none: nobody took the request up in
    ``pickup_seconds``, the host running it stopped, or it outran ``run_seconds``."""
    key = REPLY_KEY.format(request_id=request_id)
    picked_up_by = time.monotonic() + pickup_seconds
    finished_by = picked_up_by + run_seconds
    host = submitted.host
    while True:
        answer = connection.blpop([key], timeout=poll_seconds)
        if answer is not None:
            reply: dict[str, Any] = pickle.loads(redis_bytes(answer[1]))
            return reply
        if not host:
            taken = connection.get(TAKEN_KEY.format(request_id=request_id))
            host = redis_text(taken) if taken else ""
        now = time.monotonic()
        if host and not connection.exists(ALIVE_PREFIX + host):
            return f"The worker running the invocation stopped ({host}); the invocation did not complete."
        if not host and now > picked_up_by:
            # redis-py types lrem's value as str; any Redis string will do, and this is bytes.
            if connection.lrem(SHARED_LIST, 1, submitted.encoded):  # type: ignore[arg-type]
                return "No worker picked the invocation up in time; check that Stratus workers are running."
            continue  # taken just now: its host has said so by the next poll
        if now > finished_by:
            return "The invocation did not complete in time."


# ---- the host's side ---------------------------------------------------------------------


def take(connection: redis.Redis, *, worker: str, shared: bool, timeout: float) -> dict[str, Any] | None:
    """The next request for this host: its own list first, then (when ``shared``) the shared one."""
    lists = [host_list(worker), SHARED_LIST] if shared else [host_list(worker)]
    answer = connection.brpop(lists, timeout=timeout)  # submit pushes on the left: first in, first out
    if answer is None:
        return None
    source, encoded = answer
    message: dict[str, Any] = pickle.loads(redis_bytes(encoded))
    if redis_text(source) == SHARED_LIST:
        connection.set(TAKEN_KEY.format(request_id=message["request_id"]), worker, ex=REPLY_TTL_SECONDS)
    else:
        message["token_taken"] = True  # the caller claimed one of this host's warm tokens
    return message


def reply_queue(pipeline: Pipeline, *, request_id: str, reply: dict[str, Any]) -> None:
    """Queue the reply on ``pipeline`` (executed with the invocation's record and lease release)."""
    key = REPLY_KEY.format(request_id=request_id)
    pipeline.lpush(key, pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL))
    pipeline.expire(key, REPLY_TTL_SECONDS)


def alive_refresh(connection: redis.Redis, *, worker: str, status: str = "{}") -> None:
    """Keep ``worker`` counted as alive; ``status`` (JSON) tells /healthz and /metrics about it."""
    pipe = connection.pipeline(transaction=False)
    pipe.set(ALIVE_PREFIX + worker, status, ex=ALIVE_SECONDS)
    pipe.hset(HOSTS_SEEN, f"worker:{worker}", status)
    pipe.execute()


def tokens_withdraw(connection: redis.Redis, *, worker: str) -> None:
    """Withdraw every warm token of ``worker``; requests still on its list go to the shared one."""
    for key in connection.scan_iter(match=WARM_KEY.format(function="*", version="*"), count=500):
        connection.lrem(key, 0, worker)
    while connection.lmove(host_list(worker), SHARED_LIST, "LEFT", "RIGHT"):  # oldest ends rightmost
        pass


def tokens_forget(connection: redis.Redis, *, worker: str) -> None:
    """On a clean stop: withdraw every token, the request list and the alive key of ``worker``."""
    tokens_withdraw(connection, worker=worker)
    connection.delete(ALIVE_PREFIX + worker)
    connection.hdel(HOSTS_SEEN, f"worker:{worker}")


def workers_alive(connection: redis.Redis) -> dict[str, dict[str, Any]]:
    """Every live host and the status it last reported."""
    keys = list(connection.scan_iter(match=ALIVE_PREFIX + "*", count=500))
    values = connection.mget(keys) if keys else []
    alive: dict[str, dict[str, Any]] = {}
    for key, value in zip(keys, values, strict=True):
        if value is None:
            continue
        try:
            status = json.loads(value)
        except ValueError:
            status = {}
        alive[redis_text(key)[len(ALIVE_PREFIX) :]] = status if isinstance(status, dict) else {}
    return alive
