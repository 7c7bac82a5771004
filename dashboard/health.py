"""What ``GET /healthz`` reports: each dependency's state, checked for real."""

from __future__ import annotations

import time

import redis
from django.conf import settings
from django.db import connection

from functions_app.redis_client import redis_client_new


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
    client = redis_client_new(settings.REDIS, socket_timeout=2, connect_timeout=2)
    client.ping()
    return {"managed": settings.REDIS_IS_MANAGED}


# A host that stopped reporting is listed (and makes the report degraded) this long.
HOST_GRACE_SECONDS = 600


def platform_status() -> dict:
    """Workers alive (and whether they sandbox), metrics consumers, schedulers and event
    source pollers, from Redis."""
    from functions_app.redis_client import redis_client
    from functions_app.runtime.direct import workers_alive
    from functions_app.triggers.presence import alive_list, seen_list

    connection = redis_client()
    alive = workers_alive(connection)
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
        "consumers": len(alive_list(connection, "consumer")),
        "hosts": hosts_capacity(alive),
        "seen": seen_list(connection, grace_seconds=HOST_GRACE_SECONDS),
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
            "faults": status.get("faults", 0),
            "last_fault": status.get("last_fault", ""),
            "database": status.get("database", "ok"),
        }
        for name, status in sorted(alive.items())
    ]


def platform_verdict(status: dict) -> tuple[str, list[str]]:
    """``ok``, ``degraded`` or ``error`` for ``platform_status()``'s answer, and why in words."""
    if "error" in status:
        return "error", [status["error"]]
    problems = _degradations(status)
    if not [host for host in status.get("hosts", []) if host["database"] == "ok"]:
        return "error", ["no worker host is alive and able to run invocations", *problems]
    return ("degraded" if problems else "ok"), problems


def _degradations(status: dict) -> list[str]:
    """What is wrong though invocations can still run; empty when nothing is."""
    problems = []
    for host in status.get("hosts", []):
        if host["database"] != "ok":
            problems.append(f"worker {host['name']} cannot reach the database and takes no work")
        if host["faults"]:
            problems.append(
                f"worker {host['name']}: {host['faults']} platform fault(s), last: {host['last_fault']}"
            )
    for process in status.get("seen", []):
        if not process["alive"]:
            problems.append(
                f"{process['role']} {process['name']} stopped reporting {process['age_s']:.0f} s ago"
            )
    if not status.get("consumers"):
        problems.append("no metrics consumer is running: charts, logs and the invocation history fall behind")
    return problems


def health_report() -> dict:
    """``ok``; ``degraded`` (still HTTP 200) when invocations run but something is wrong: a
    host stopped reporting, a worker lost the database or hit platform faults, no metrics
    consumer runs; ``error`` (HTTP 503) when the database or Redis is unreachable or no
    worker host can run invocations. ``problems`` says what, in words."""
    checks = {"database": _timed(_database), "redis": _timed(_redis)}
    healthy = all(check["status"] == "ok" for check in checks.values())
    report = {"status": "ok" if healthy else "error", **checks}
    if checks["redis"]["status"] == "ok":
        try:
            status = platform_status()
        except redis.RedisError as exc:
            status = {"error": str(exc)}
        verdict, problems = platform_verdict(status)
        if healthy:
            report["status"] = verdict
        report["problems"] = problems
        report["processes"] = status.get("seen", [])
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
