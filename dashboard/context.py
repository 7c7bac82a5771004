"""Template context: the platform banner (sandbox off, no worker, poller or scheduler
alive, a worker's platform faults or lost database)."""

from __future__ import annotations

import redis
from django.conf import settings


def platform(request) -> dict:
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    from dashboard.health import platform_status

    try:
        status = platform_status()
    except redis.RedisError:
        return {"platform_banner": "Redis is unreachable: invocations cannot run."}
    if status["workers"] == 0:
        return {"platform_banner": "No Stratus worker is running: invocations will wait until one starts."}
    for host in status["hosts"]:
        if host["faults"]:
            return {"platform_banner": f"Worker {host['name']} could not run invocations: {host['last_fault']}"}
        if host["database"] != "ok":
            return {"platform_banner": f"Worker {host['name']} cannot reach the database and takes no work."}
    if settings.STRATUS_SANDBOX == "off" or status["unsandboxed_workers"]:
        return {
            "platform_banner": "STRATUS_SANDBOX is off: functions run unsandboxed on this host (development only)."
        }
    if status.get("host_network_workers"):
        return {
            "platform_banner": "STRATUS_SANDBOX_NETWORK is host: functions share this host's network and can "
            "reach every service on it (development only)."
        }
    return _triggers_banner(status)


def _triggers_banner(status: dict) -> dict:
    """Triggers configured with nothing running them: say so rather than let them sit silently."""
    from functions_app.triggers.models import EventSourceMapping, Schedule

    if status["pollers"] == 0 and EventSourceMapping.objects.filter(enabled=True).exists():
        return {
            "platform_banner": "No event source poller is running (manage.py stratus_poller): "
            "event source mappings wait until one starts."
        }
    if status["schedulers"] == 0 and Schedule.objects.filter(enabled=True).exists():
        return {
            "platform_banner": "No scheduler is running (manage.py stratus_scheduler): "
            "schedules will not fire until one starts."
        }
    return {}
