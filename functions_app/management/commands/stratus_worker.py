"""``python manage.py stratus_worker``: one Stratus host process (see ``runtime/worker.py``).

It holds as many execution environments as fit in ``STRATUS_HOST_MEMORY_MB``, serves
synchronous invokes on the direct path and asynchronous events with
``STRATUS_ASYNC_WORKERS`` RQ workers, and outlives Redis going away.
"""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand

from functions_app.runtime.worker import Host, host_name


class Command(BaseCommand):
    help = "Run a Stratus host: executes invocations in sandboxed, warm execution environments."

    def add_arguments(self, parser):
        parser.add_argument("--name", default=None, help="Host name (default: host, slot and pid).")
        parser.add_argument("--slot", default="1", help="Which of the supervisor's hosts this is.")

    def handle(self, *args, name=None, slot="1", **options):
        Host(
            name=name or host_name(slot),
            rq_workers=settings.STRATUS_ASYNC_WORKERS,
            memory_mb=settings.STRATUS_HOST_MEMORY_MB,
        ).run()
