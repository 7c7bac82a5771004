"""The process's Redis connection for invocations (enqueue, results, leases, streams).

No socket timeout: a synchronous Invoke blocks on Redis (XREAD BLOCK) for as long as the
function may run, and a client-side timeout would cut that wait short.
"""

from __future__ import annotations

from functools import lru_cache

import redis
from django.conf import settings
from rq import Queue


@lru_cache(maxsize=1)
def redis_client() -> redis.Redis:
    # redis-py 8 defaults to a 5 s socket timeout; blocking reads must be allowed to wait.
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=None, health_check_interval=30)


def invocation_queue(name: str) -> Queue:
    return Queue(name, connection=redis_client())
