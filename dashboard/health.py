"""What ``GET /healthz`` reports: each dependency's state, checked for real."""

from __future__ import annotations

import time

import redis
from django.conf import settings
from django.db import connection


def _timed(check) -> dict:
    started = time.perf_counter()
    try:
        detail = check()
    except Exception as exc:  # any failure is the answer we want to report
        return {"status": "error", "error": f"{type(exc).__name__}: {exc}"}
    result = {"status": "ok", "ms": round((time.perf_counter() - started) * 1000, 2)}
    if detail:
        result.update(detail)
    return result


def _database() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"vendor": connection.vendor}


def _redis() -> dict:
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    client.ping()
    return {"managed": settings.REDIS_IS_MANAGED}


def platform_status() -> dict:
    """Workers alive (and whether they sandbox) and metrics consumers, from Redis."""
    from functions_app.runtime.redis_client import redis_client
    from functions_app.runtime.routing import workers_alive

    connection = redis_client()
    alive = workers_alive(connection)
    consumers = 0
    try:
        for group in connection.xinfo_groups("stratus:records"):
            consumers += group.get("consumers") or 0
    except redis.ResponseError:
        pass
    return {
        "workers": len(alive),
        "unsandboxed_workers": sum(1 for status in alive.values() if status.get("sandbox") is False),
        "consumers": consumers,
    }


def _workers() -> dict:
    status = platform_status()
    if status["workers"] == 0:
        raise RuntimeError("no Stratus worker is alive: invocations will wait")
    return status


def health_report() -> dict:
    checks = {"database": _timed(_database), "redis": _timed(_redis)}
    if checks["redis"]["status"] == "ok":
        checks["workers"] = _timed(_workers)
    healthy = all(check["status"] == "ok" for check in checks.values())
    return {"status": "ok" if healthy else "error", **checks}
