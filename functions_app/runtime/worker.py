"""The Stratus worker: an RQ worker that does not fork per job and keeps environments warm.

RQ's ``SimpleWorker`` runs each job in the worker process itself, which is what lets the
pool of execution environments (and their warm state) outlive a job. Beside the job loop,
background threads keep the worker's alive key fresh, reap idle environments, keep the
provisioned-concurrency environments this worker holds, and rescue jobs left on the
queues of workers that died.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading

import redis
from django.conf import settings
from rq import Queue, SimpleWorker

from functions_app.runtime import events, provisioning, routing
from functions_app.runtime.pool import EnvironmentPool
from functions_app.runtime.redis_client import redis_client
from functions_app.runtime.retirement import retire_listen
from functions_app.runtime.sandbox import bwrap_path, sandbox_enabled
from functions_app.runtime.spec import FunctionSpec
from functions_app.runtime.worker_state import pool_install
from functions_app.services.execution_role import execution_role_credentials

logger = logging.getLogger("stratus.worker")

INVOCATIONS_QUEUE = routing.SHARED_QUEUE


class _WarmTokens:
    """Keeps this worker's warm-routing tokens equal to its idle environments."""

    def __init__(self, connection: redis.Redis, worker: str) -> None:
        self.connection = connection
        self.worker = worker

    def idle_changed(self, pool: EnvironmentPool, spec: FunctionSpec) -> None:
        count = pool.idle_count(spec.function_name, spec.version)
        key = routing.warm_key(spec.function_name, spec.version)
        pipe = self.connection.pipeline(transaction=True)
        pipe.lrem(key, 0, self.worker)
        if count:
            pipe.rpush(key, *([self.worker] * count))
        try:
            pipe.execute()
        except redis.RedisError:
            logger.warning("could not update warm tokens for %s:%s", spec.function_name, spec.version)


def _role_credentials(spec: FunctionSpec) -> dict[str, str]:
    return execution_role_credentials(
        function_name=spec.function_name, role_arn=spec.role, account_id=spec.account_id
    )


def worker_queues(name: str, connection: redis.Redis) -> list[Queue]:
    """This worker's own queue first, then the shared one, then asynchronous events."""
    return [
        Queue(routing.private_queue(name), connection=connection),
        Queue(INVOCATIONS_QUEUE, connection=connection),
        Queue(events.ASYNC_QUEUE, connection=connection),
    ]


class StratusWorker(SimpleWorker):
    def work(self, *args, **kwargs):
        if sandbox_enabled():
            bwrap_path()  # fail at start, with a message that says how to fix it
        else:
            logger.warning("STRATUS_SANDBOX=off: functions run UNSANDBOXED on this host (development only)")
        connection = redis_client()
        pool = EnvironmentPool(
            cache_root=settings.DATA_DIR / "worker-cache",
            idle_seconds=settings.STRATUS_ENV_IDLE_SECONDS,
            listener=_WarmTokens(connection, self.name),
        )
        pool.host.credentials = _role_credentials
        pool_install(pool)
        stop = threading.Event()
        routing.alive_refresh(connection, worker=self.name)
        threads = [
            threading.Thread(
                target=self._every, args=(stop, 1.0, self._heartbeat, connection, pool), daemon=True
            ),
            threading.Thread(target=self._every, args=(stop, 2.0, pool.reap), daemon=True),
            threading.Thread(
                target=self._every, args=(stop, 5.0, routing.orphaned_queues_rescue, connection), daemon=True
            ),
            threading.Thread(
                target=self._every,
                args=(stop, 5.0, self._rescue_events, connection),
                daemon=True,
            ),
            threading.Thread(
                target=retire_listen, args=(connection, pool.retire, stop), daemon=True, name="retire"
            ),
            # Provisioned environments are started from this long-lived thread: bwrap's
            # --die-with-parent is tied to the thread that spawned it.
            threading.Thread(
                target=self._every,
                args=(stop, 2.0, provisioning.provisioned_sync, connection, pool, self.name),
                daemon=True,
            ),
        ]
        for thread in threads:
            thread.start()
        try:
            return super().work(*args, **kwargs)
        finally:
            stop.set()
            pool_install(None)
            pool.close()
            with contextlib.suppress(redis.RedisError):
                routing.tokens_forget(connection, worker=self.name)

    @staticmethod
    def _rescue_events(connection: redis.Redis) -> None:
        rescued = events.orphaned_events_rescue(connection, alive_prefix=routing.ALIVE_PREFIX)
        if rescued:
            logger.warning("re-queued %d event(s) left running by a dead worker", rescued)
        stranded = events.stranded_events_rescue(connection)
        if stranded:
            logger.warning("re-queued %d event(s) whose job the queue had lost", stranded)

    def _heartbeat(self, connection: redis.Redis, pool: EnvironmentPool) -> None:
        status = {**pool.counts(), "sandbox": sandbox_enabled(), "network": pool.host.mode}
        routing.alive_refresh(connection, worker=self.name, status=json.dumps(status))

    @staticmethod
    def _every(stop: threading.Event, seconds: float, task, *args) -> None:
        while not stop.is_set():
            try:
                task(*args)
            except Exception:  # a background task must outlive any one failure
                logger.exception("background task %s failed", getattr(task, "__name__", task))
            stop.wait(seconds)
