"""``python manage.py stratus_poller``: poll event sources for their mappings until SIGTERM.

Run as many as you like, on as many hosts: each unit of work (a shard, a slot) is owned by
one poller at a time through a lease in Redis (``functions_app.triggers.pollers``).
"""

from __future__ import annotations

import signal
import threading

from django.core.management.base import BaseCommand

from functions_app.triggers.pollers import poller_run


class Command(BaseCommand):
    help = "Run an event source poller: feeds queues, streams, RabbitMQ and Kafka to functions."

    def handle(self, *args, **options):
        stopping = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stopping.set())
        poller_run(stop=stopping)
