"""The process's Redis connection for invocations (requests, replies, leases, streams).

Every wait on Redis is bounded and short (a synchronous caller polls its reply key in
one-second slices; the longest block is an SQS long poll of 20 s), so the socket timeout
can be too: a Redis host that stops answering surfaces as an error within seconds instead
of a hang.
"""

from __future__ import annotations

from functools import lru_cache

import redis
from django.conf import settings

SOCKET_TIMEOUT_SECONDS = 30
CONNECT_TIMEOUT_SECONDS = 5


@lru_cache(maxsize=1)
def redis_client() -> redis.Redis:
    return redis.Redis.from_url(
        settings.REDIS_URL,
        socket_timeout=SOCKET_TIMEOUT_SECONDS,
        socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
        health_check_interval=30,
    )
