"""The Stratus worker: an RQ worker that does not fork per job and keeps environments warm.

RQ's ``SimpleWorker`` runs each job in the worker process itself, which is what lets the
pool of execution environments (and their warm state) outlive a job.
"""

from __future__ import annotations

import logging
import threading

from django.conf import settings
from rq import SimpleWorker

from functions_app.runtime.pool import EnvironmentPool
from functions_app.runtime.sandbox import bwrap_path, sandbox_enabled
from functions_app.runtime.worker_state import pool_install

logger = logging.getLogger("stratus.worker")

INVOCATIONS_QUEUE = "invocations"


class StratusWorker(SimpleWorker):
    def work(self, *args, **kwargs):
        if sandbox_enabled():
            bwrap_path()  # fail at start, with a message that says how to fix it
        else:
            logger.warning("STRATUS_SANDBOX=off: functions run UNSANDBOXED on this host (development only)")
        pool = EnvironmentPool(
            cache_root=settings.DATA_DIR / "worker-cache",
            idle_seconds=settings.STRATUS_ENV_IDLE_SECONDS,
        )
        pool_install(pool)
        stop = threading.Event()
        reaper = threading.Thread(target=self._reap, args=(pool, stop), daemon=True, name="pool-reaper")
        reaper.start()
        try:
            return super().work(*args, **kwargs)
        finally:
            stop.set()
            pool_install(None)
            pool.close()

    @staticmethod
    def _reap(pool: EnvironmentPool, stop: threading.Event) -> None:
        while not stop.wait(5):
            try:
                pool.reap()
            except Exception:  # the reaper must outlive any one failure
                logger.exception("reaping idle environments failed")
