"""``python manage.py stratus_worker``: one Stratus host process (see ``runtime/worker.py``).

It holds as many execution environments as fit in ``STRATUS_HOST_MEMORY_MB``, serves
synchronous invokes on the direct path and asynchronous events with
``STRATUS_ASYNC_WORKERS`` RQ workers, and outlives Redis going away. The host itself reads
no database: this command hands it the Django side (``functions_app/hosting``).
"""

from __future__ import annotations

import contextlib

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connections

from functions_app.hosting.provisioning import provisioned_sync
from functions_app.hosting.specs import spec_credentials, spec_load
from functions_app.redis_client import redis_client
from functions_app.runtime.worker import Host, host_name
from functions_app.services.artifacts import artifact_copy


def _thread_connections_close() -> None:
    """The host runs invocations on long-lived threads: each closes the database connections
    it opened (loading a spec, issuing credentials) once its task is done."""
    connections.close_all()


def _database_check() -> None:
    """Raises while the database cannot be reached (the host then takes no work).

    On a fresh connection each time: a query on an open one whose packets are dropped
    hangs until the route returns, while connecting gives up after connect_timeout."""
    connection = connections["default"]
    connection.close()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        with contextlib.suppress(Exception):
            connection.close()  # the next check connects afresh
        raise


class Command(BaseCommand):
    help = "Run a Stratus host: executes invocations in sandboxed, warm execution environments."

    def add_arguments(self, parser):
        parser.add_argument("--name", default=None, help="Host name (default: host, slot and pid).")
        parser.add_argument("--slot", default="1", help="Which of the supervisor's hosts this is.")

    def handle(self, *args, name=None, slot="1", **options):
        Host(
            name=name or host_name(slot),
            connection=redis_client(),
            rq_workers=settings.STRATUS_ASYNC_WORKERS,
            memory_mb=settings.STRATUS_HOST_MEMORY_MB,
            cache_root=settings.DATA_DIR / "worker-cache",
            idle_seconds=settings.STRATUS_ENV_IDLE_SECONDS,
            payload_capture_bytes=settings.STRATUS_PAYLOAD_CAPTURE_BYTES,
            spec_load=spec_load,
            code_fetch=artifact_copy,
            credentials=spec_credentials,
            provisioned_sync=provisioned_sync,
            after_task=_thread_connections_close,
            database_check=_database_check,
        ).run()
