"""``python manage.py stratus_worker``: one Stratus worker (an RQ worker with a warm pool).

A worker outlives Redis going away: RQ retries a lost connection while it waits for work,
but losing it while finishing a job ends ``work()`` with the error. The worker then waits,
backing off, until Redis answers again and works on under a new name (a worker's name is
registered in Redis, and the old registration may still stand); its environments are
started again as invocations need them.
"""

from __future__ import annotations

import logging
import os
import socket
import time

import redis
from django.core.management.base import BaseCommand

from functions_app.runtime.redis_client import redis_client
from functions_app.runtime.worker import StratusWorker, worker_queues

logger = logging.getLogger("stratus.worker")

RECONNECT_FIRST_SECONDS = 0.5
RECONNECT_MAX_SECONDS = 10.0


def _redis_wait(connection: redis.Redis) -> None:
    """Return once Redis answers, asking again with a growing pause."""
    pause = RECONNECT_FIRST_SECONDS
    while True:
        try:
            connection.ping()
            return
        except redis.RedisError:
            time.sleep(pause)
            pause = min(pause * 2, RECONNECT_MAX_SECONDS)


class Command(BaseCommand):
    help = "Run a Stratus worker: executes invocations in sandboxed, warm execution environments."

    def add_arguments(self, parser):
        parser.add_argument("--name", default=None, help="Worker name (default: host, slot and pid).")
        parser.add_argument("--slot", default="1", help="Which of the supervisor's workers this is.")
        parser.add_argument("--burst", action="store_true", help="Exit when the queue is empty.")

    def handle(self, *args, name=None, slot="1", burst=False, **options):
        restarts = 0
        while True:
            # A pid in the name: a worker killed without a clean exit leaves its name registered
            # in Redis for a while, and the replacement must not collide with it; so does this
            # worker after losing Redis, hence the restart count.
            again = f"r{restarts}" if restarts else ""
            worker_name = name or f"{socket.gethostname()}-worker{slot}{again}-{os.getpid()}"
            if name and restarts:
                worker_name = f"{name}-r{restarts}"
            connection = redis_client()
            worker = StratusWorker(
                worker_queues(worker_name, connection), connection=connection, name=worker_name
            )
            try:
                worker.work(burst=burst, with_scheduler=True, logging_level="WARNING")
                return
            except (redis.ConnectionError, redis.TimeoutError) as error:
                if burst:
                    raise
                restarts += 1
                logger.warning("worker %s lost Redis (%s); working on once it answers", worker_name, error)
                _redis_wait(connection)
