"""The process's Redis connection for invocations (requests, replies, leases, streams).

Every wait on Redis is bounded and short (a synchronous caller polls its reply key in
one-second slices; the longest block is an SQS long poll of 20 s), so the socket timeout
can be too: a Redis host that stops answering surfaces as an error within seconds instead
of a hang.

Under Redis Sentinel (``settings.REDIS``, see ``dashboard/redis_settings.py``) a client asks
the sentinels for the master's address each time it opens a connection. When the master
dies, commands fail until a replica is promoted; the loop that sent them backs off and tries
again, and its next connection goes to the new master.
"""

from __future__ import annotations

import contextlib
import time
from functools import lru_cache
from typing import Any

import redis
from django.conf import settings
from redis.sentinel import MasterNotFoundError, Sentinel, SentinelConnectionPool

from dashboard.redis_settings import RedisSettings

SOCKET_TIMEOUT_SECONDS = 30
CONNECT_TIMEOUT_SECONDS = 5
# A failover forced with SENTINEL FAILOVER (maintenance) leaves the old master up and taking
# writes until Sentinel demotes it some ten seconds later, and whatever it took then is lost.
MASTER_CHECK_SECONDS = 1.0


class _MasterFollowingPool(SentinelConnectionPool):
    """Asks the sentinels which node is the master, at most once a second, before handing out
    a connection: redis-py then drops the idle connections to a node that is no longer the
    master, and the busy ones as they are released, so writes move over within a second."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._master_checked = 0.0

    def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        now = time.monotonic()
        if now - self._master_checked >= MASTER_CHECK_SECONDS:
            self._master_checked = now
            # No sentinel answering is no reason to drop a master that still answers.
            with contextlib.suppress(MasterNotFoundError):
                self.get_master_address()
        return super().get_connection(*args, **kwargs)


def redis_client_new(
    location: RedisSettings,
    *,
    socket_timeout: float = SOCKET_TIMEOUT_SECONDS,
    connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
) -> redis.Redis:
    """A new client of ``location``: of its URL, or of the master its sentinels name."""
    timeouts = {
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": connect_timeout,
        "health_check_interval": 30,
    }
    if not location.uses_sentinel:
        return redis.Redis.from_url(location.url, **timeouts)
    sentinel = Sentinel(location.sentinels, sentinel_kwargs=location.sentinel_kwargs())
    return sentinel.master_for(
        location.master,
        connection_pool_class=_MasterFollowingPool,
        password=location.password,
        db=location.db,
        **timeouts,
    )


@lru_cache(maxsize=1)
def redis_client() -> redis.Redis:
    return redis_client_new(settings.REDIS)
