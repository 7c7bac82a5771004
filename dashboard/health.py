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


def health_report() -> dict:
    checks = {"database": _timed(_database), "redis": _timed(_redis)}
    healthy = all(check["status"] == "ok" for check in checks.values())
    return {"status": "ok" if healthy else "error", **checks}
