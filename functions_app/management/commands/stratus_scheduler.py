"""``python manage.py stratus_scheduler``: fire schedules' ticks until SIGTERM or Ctrl-C.

Run one per host if you like: a tick fires once however many schedulers are running
(``functions_app.triggers.schedules``).
"""

from __future__ import annotations

import logging
import os
import signal
import threading

from django.core.management.base import BaseCommand

from functions_app.triggers.schedules import scheduler_run

logger = logging.getLogger("stratus.scheduler")


class Command(BaseCommand):
    help = "Run a scheduler: invokes functions on their schedules (several may run; a tick fires once)."

    def handle(self, *args, **options):
        stopping = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stopping.set())
        logger.info("scheduler started (pid %d)", os.getpid())
        scheduler_run(stop_event=stopping)
        logger.info("scheduler stopped")
