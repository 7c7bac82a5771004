"""``python manage.py stratus_worker``: one Stratus worker (an RQ worker with a warm pool)."""

from __future__ import annotations

import os
import socket

from django.core.management.base import BaseCommand

from functions_app.runtime.redis_client import redis_client
from functions_app.runtime.worker import StratusWorker, worker_queues


class Command(BaseCommand):
    help = "Run a Stratus worker: executes invocations in sandboxed, warm execution environments."

    def add_arguments(self, parser):
        parser.add_argument("--name", default=None, help="Worker name (default: host, slot and pid).")
        parser.add_argument("--slot", default="1", help="Which of the supervisor's workers this is.")
        parser.add_argument("--burst", action="store_true", help="Exit when the queue is empty.")

    def handle(self, *args, name=None, slot="1", burst=False, **options):
        # A pid in the name: a worker killed without a clean exit leaves its name registered
        # in Redis for a while, and the replacement must not collide with it.
        name = name or f"{socket.gethostname()}-worker{slot}-{os.getpid()}"
        connection = redis_client()
        worker = StratusWorker(worker_queues(name, connection), connection=connection, name=name)
        worker.work(burst=burst, with_scheduler=True, logging_level="WARNING")
