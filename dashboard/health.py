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
    """Workers alive (and whether they sandbox), metrics consumers, schedulers and event
    source pollers, from Redis."""
    from functions_app.redis_client import redis_client
    from functions_app.runtime.direct import workers_alive

    connection = redis_client()
    alive = workers_alive(connection)
    consumers = 0
    try:
        for group in connection.xinfo_groups("stratus:records"):
            consumers += group.get("consumers") or 0
    except redis.ResponseError:
        pass
    from functions_app.triggers.presence import alive_list

    pollers = alive_list(connection, "poller")
    return {
        "pollers": len(pollers),
        "poller_units": sum(poller.get("units", 0) for poller in pollers),
        "schedulers": len(alive_list(connection, "scheduler")),
        "workers": len(alive),
        "unsandboxed_workers": sum(1 for status in alive.values() if status.get("sandbox") is False),
        # Workers whose sandboxes share the host's network (STRATUS_SANDBOX_NETWORK=host).
        "host_network_workers": sum(
            1 for status in alive.values() if status.get("sandbox") and status.get("network") == "host"
        ),
        "sandbox_networks": sorted(
            {str(status.get("network")) for status in alive.values() if status.get("network")}
        ),
        "consumers": consumers,
        "hosts": hosts_capacity(alive),
    }


def hosts_capacity(alive: dict[str, dict]) -> list[dict]:
    """Each live host's memory budget and what its environments hold, from its heartbeat."""
    return [
        {
            "name": name,
            "memory_mb": status.get("memory_mb", 0),
            "memory_used_mb": status.get("memory_used_mb", 0),
            "environments": status.get("idle", 0) + status.get("busy", 0),
            "busy": status.get("busy", 0),
            "provisioned": status.get("provisioned", 0),
        }
        for name, status in sorted(alive.items())
    ]


def health_report() -> dict:
    """Database and Redis decide healthy or not; workers and consumers are reported alongside.

    No worker is a warning rather than a failure: the web server and the API still work, and
    invocations wait in the queue until a worker starts.
    """
    checks = {"database": _timed(_database), "redis": _timed(_redis)}
    healthy = all(check["status"] == "ok" for check in checks.values())
    report = {"status": "ok" if healthy else "error", **checks}
    if checks["redis"]["status"] == "ok":
        try:
            status = platform_status()
        except redis.RedisError as exc:
            status = {"error": str(exc)}
        report["workers"] = {
            "status": "ok" if status.get("workers") else "warning",
            "alive": status.get("workers", 0),
            "unsandboxed": status.get("unsandboxed_workers", 0),
            "host_network": status.get("host_network_workers", 0),
            "sandbox_networks": status.get("sandbox_networks", []),
            "hosts": status.get("hosts", []),
        }
        report["consumers"] = {
            "status": "ok" if status.get("consumers") else "warning",
            "registered": status.get("consumers", 0),
        }
        report["schedulers"] = {
            "status": "ok" if status.get("schedulers") else "warning",
            "alive": status.get("schedulers", 0),
        }
        report["pollers"] = {
            "status": "ok" if status.get("pollers") else "warning",
            "alive": status.get("pollers", 0),
            "units": status.get("poller_units", 0),
        }
    return report
