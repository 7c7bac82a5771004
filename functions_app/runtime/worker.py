"""A Stratus host: one process that holds many execution environments and runs them at once.

The process serves synchronous invokes on the direct path (``direct.py``): a dispatcher
thread takes requests from the host's own list (warm environments it advertised) and from
the shared list while the host has memory to spare, and hands each to a thread of its own.
Asynchronous events stay on RQ, served by a few RQ workers running as threads of the same
process. Both draw on one pool of environments, sized by ``STRATUS_HOST_MEMORY_MB``.

Beside them, background threads keep the host's alive key fresh (with its capacity, for
/healthz and the dashboard), reap idle environments, keep the provisioned-concurrency
environments this host holds, rescue events left by hosts that died, and keep the host's
warm tokens equal to its idle environments.

The host reads no database and no settings: the ``stratus_worker`` command hands it how to
load a function version, fetch code, issue role credentials and keep provisioned
concurrency (``functions_app/hosting``), and what to do after each task on a thread.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import redis
from redis.client import Pipeline
from rq import Queue, SimpleWorker
from rq.job import Job
from rq.scheduler import RQScheduler
from rq.scripts import release_lock
from rq.timeouts import BaseDeathPenalty

from functions_app.runtime import direct, events
from functions_app.runtime.code_cache import CodeFetch
from functions_app.runtime.jobs import execute, invoke_reply
from functions_app.runtime.languages import available_runtimes
from functions_app.runtime.pool import EnvironmentPool
from functions_app.runtime.redis_values import redis_text
from functions_app.runtime.retirement import retire_listen
from functions_app.runtime.sandbox import bwrap_path, sandbox_enabled
from functions_app.runtime.sandbox_host import Credentials
from functions_app.runtime.seccomp import seccomp_program
from functions_app.runtime.spec import FunctionSpec, SpecLoad
from functions_app.runtime.worker_state import pool_install

logger = logging.getLogger("stratus.worker")

# An RQ worker is alive while its host refreshes this key (events.orphaned_events_rescue).
RQ_ALIVE_PREFIX = "stratus:rq-alive:"
# The smallest environment (128 MB): below this much spare memory the host stops taking
# requests from the shared list and leaves them to hosts with room.
SMALLEST_MB = 128
TOKENS_RESYNC_SECONDS = 30.0
# How often a host checks that it reaches the database (it takes no work while it cannot).
DATABASE_CHECK_SECONDS = 2.0
# Platform faults (code it could not fetch) that keep the host reported as degraded.
FAULTS_RECENT_SECONDS = 600.0
# RQ waits for a job this long less 15 s: 5 s, so a stopping host's RQ workers notice soon.
RQ_WORKER_TTL = 20
# How long a stopping host lets the invocations in hand finish.
STOP_GRACE_SECONDS = 10.0
RECONNECT_FIRST_SECONDS = 0.5
RECONNECT_MAX_SECONDS = 10.0


def redis_wait(connection: redis.Redis, stop: threading.Event) -> None:
    """Return once Redis answers (or ``stop`` is set), asking again with a growing pause."""
    pause = RECONNECT_FIRST_SECONDS
    while not stop.is_set():
        try:
            connection.ping()
            return
        except redis.RedisError:
            stop.wait(pause)
            pause = min(pause * 2, RECONNECT_MAX_SECONDS)


class _WarmTokens:
    """Keeps this host's warm tokens (one per idle environment, per version) in Redis."""

    def __init__(self, connection: redis.Redis, worker: str) -> None:
        self.connection = connection
        self.worker = worker
        self.dirty = False  # an update failed: resynchronize at the next chance
        self.offered = True  # False while the host takes no work: no token goes out

    def idle_added(self, spec: FunctionSpec, pipeline: Pipeline | None = None) -> None:
        if not self.offered:
            self.dirty = True
            return
        key = direct.warm_key(spec.function_name, spec.version)
        if pipeline is not None:
            pipeline.rpush(key, self.worker)  # goes out with the invocation's reply
        else:
            self._apply(lambda: self.connection.rpush(key, self.worker))

    def idle_removed(self, spec: FunctionSpec, count: int) -> None:
        key = direct.warm_key(spec.function_name, spec.version)
        self._apply(lambda: self.connection.lrem(key, count, self.worker))

    def _apply(self, update: Callable[[], object]) -> None:
        try:
            update()
        except redis.RedisError:
            self.dirty = True

    def resync(self, pool: EnvironmentPool) -> None:
        """Make the tokens equal to the idle environments, whatever happened to Redis."""
        counts = pool.idle_counts()
        pipe = self.connection.pipeline(transaction=True)
        for key in self.connection.scan_iter(
            match=direct.WARM_KEY.format(function="*", version="*"), count=500
        ):
            pipe.lrem(key, 0, self.worker)
        for (function, version), count in counts.items():
            pipe.rpush(direct.warm_key(function, version), *([self.worker] * count))
        self.dirty = False
        pipe.execute()


class _NoDeathPenalty(BaseDeathPenalty):
    """Environments enforce their function's timeout themselves; RQ's SIGALRM-based penalty
    works only on the main thread."""

    def setup_death_penalty(self) -> None:
        pass

    def cancel_death_penalty(self) -> None:
        pass


class _ThreadWorker(SimpleWorker):
    """An RQ worker that runs as a thread of the host process and stops with it."""

    death_penalty_class = _NoDeathPenalty

    def __init__(self, *args: Any, stop: threading.Event, paused: Callable[[], bool], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.host_stop = stop
        self.host_paused = paused

    def _install_signal_handlers(self) -> None:
        pass  # the host's main thread handles signals

    def dequeue_job_and_maintain_ttl(
        self, timeout: int | None, max_idle_time: int | None = None
    ) -> tuple[Job, Queue] | None:
        # RQ stops an idle worker by raising from a signal handler; a thread instead waits
        # in short slices and, once the host stops, answers "no job", which ends work().
        while not self.host_stop.is_set():
            if self.host_paused():  # the host cannot reach the database: leave events to others
                self.host_stop.wait(1.0)
                continue
            result = super().dequeue_job_and_maintain_ttl(timeout, max_idle_time=self.dequeue_timeout)
            if result is not None:
                return result
        return None


class _Threads:
    """Long-lived threads that run tasks, started as demand grows and never stopped: a
    sandbox dies with the thread that started it (bwrap's --die-with-parent)."""

    def __init__(self, name: str, *, after_task: Callable[[], None]) -> None:
        self.name = name
        self._after_task = after_task
        self._lock = threading.Lock()
        self._tasks: list[Callable[[], None]] = []
        self._ready = threading.Condition(self._lock)
        self._idle = 0
        self.started = 0

    def submit(self, task: Callable[[], None]) -> None:
        with self._lock:
            self._tasks.append(task)
            if self._idle:
                self._idle -= 1
                self._ready.notify()
                return
            self.started += 1
            number = self.started
        threading.Thread(target=self._run, daemon=True, name=f"{self.name}-{number}").start()

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._tasks:
                    self._ready.wait()
                task = self._tasks.pop(0)
            try:
                task()
            except Exception:
                logger.exception("a %s task failed", self.name)
            finally:
                self._after_task()
                with self._lock:
                    self._idle += 1


# Keeps the host's share of provisioned concurrency: (connection, pool, host name).
ProvisionedSync = Callable[[redis.Redis, EnvironmentPool, str], None]


def _nothing() -> None:
    pass


class Host:
    """One host process: its pool, the direct path's dispatcher, RQ workers and housekeeping.

    What it needs from the rest of Stratus it is handed: ``spec_load`` finds a function
    version, ``code_fetch`` an artifact's bytes, ``credentials`` an environment's role
    credentials, and ``provisioned_sync`` claims and keeps provisioned environments.
    ``after_task`` runs on an invocation thread after each task (the worker command closes
    the thread's database connections there). ``database_check`` raises while the database
    cannot be reached: the host then takes no work (it withdraws its warm tokens and hands
    the requests it was sent to other hosts) until it can again.
    """

    def __init__(
        self,
        *,
        name: str,
        connection: redis.Redis,
        rq_workers: int,
        memory_mb: int,
        cache_root: Path,
        idle_seconds: float,
        payload_capture_bytes: int,
        spec_load: SpecLoad,
        code_fetch: CodeFetch,
        credentials: Credentials,
        provisioned_sync: ProvisionedSync,
        after_task: Callable[[], None] = _nothing,
        database_check: Callable[[], None] = _nothing,
    ) -> None:
        self.name = name
        self.database_check = database_check
        self.database_problem = ""  # why the host takes no work now; empty when it does
        self.rq_workers = rq_workers
        self.connection = connection
        self.spec_load = spec_load
        self.payload_capture_bytes = payload_capture_bytes
        self.provisioned_sync = provisioned_sync
        self.tokens = _WarmTokens(self.connection, name)
        self.pool = EnvironmentPool(
            cache_root=cache_root,
            idle_seconds=idle_seconds,
            memory_mb=memory_mb,
            code_fetch=code_fetch,
            listener=self.tokens,
        )
        self.pool.host.credentials = credentials
        self.stop = threading.Event()
        self.executors = _Threads("invoke", after_task=after_task)
        self._in_flight_mb = 0  # memory of direct requests taken and not yet answered
        self._in_flight_lock = threading.Lock()
        self._rq: list[_ThreadWorker] = []
        self._rq_lock = threading.Lock()
        self._resynced = 0.0

    # ---- running -------------------------------------------------------------------

    def run(self) -> None:
        if sandbox_enabled():
            bwrap_path()  # fail at start, with a message that says how to fix it
            seccomp_program()  # built (libseccomp found, which runs ldconfig) before any cold start
        else:
            logger.warning("STRATUS_SANDBOX=off: functions run UNSANDBOXED on this host (development only)")
        available_runtimes()  # probed before the first cold start needs it
        pool_install(self.pool)
        redis_wait(self.connection, self.stop)
        self._heartbeat()
        with _stop_on_signals(self.stop):
            threads = [
                self._thread("direct", self._dispatch),
                self._thread("heartbeat", self._every, 1.0, self._heartbeat),
                self._thread("database", self._every, DATABASE_CHECK_SECONDS, self._database_watch),
                self._thread("reap", self._every, 2.0, self._reap),
                self._thread("rescue", self._every, 5.0, self._rescue_events),
                self._thread("schedule", self._schedule),
                self._thread("retire", retire_listen, self.connection, self.pool.retire, self.stop),
                # Provisioned environments are started from this long-lived thread: bwrap's
                # --die-with-parent is tied to the thread that spawned it.
                self._thread("provision", self._every, 2.0, self._provision),
            ]
            rq_threads = [
                self._thread(f"rq-{slot}", self._rq_serve, slot) for slot in range(1, self.rq_workers + 1)
            ]
            self.stop.wait()
            logger.info("host %s stopping", self.name)
            with self._rq_lock:
                for worker in self._rq:
                    worker._stop_requested = True  # RQ's own flag: finish the job in hand, then leave
            deadline = time.monotonic() + STOP_GRACE_SECONDS
            for thread in rq_threads + threads:
                thread.join(timeout=max(0.0, deadline - time.monotonic()))
            while self._in_flight() and time.monotonic() < deadline:
                time.sleep(0.05)  # the direct requests in hand finish and answer
        pool_install(None)
        self.pool.close()
        try:
            direct.tokens_forget(self.connection, worker=self.name)
        except redis.RedisError:
            logger.warning("could not withdraw %s's warm tokens (Redis unavailable)", self.name)

    def _thread(self, name: str, target: Callable[..., object], *args: Any) -> threading.Thread:
        thread = threading.Thread(target=target, args=args, daemon=True, name=name)
        thread.start()
        return thread

    def _every(self, seconds: float, task: Callable[[], object]) -> None:
        while not self.stop.is_set():
            try:
                task()
            except Exception:  # a background task must outlive any one failure
                logger.exception("background task %s failed", getattr(task, "__name__", task))
            self.stop.wait(seconds)

    # ---- the direct path ---------------------------------------------------------------

    def _dispatch(self) -> None:
        """Take direct requests while there is room for them and start each on a thread."""
        pause = RECONNECT_FIRST_SECONDS
        while not self.stop.is_set():
            if self.database_problem:
                self.stop.wait(0.5)
                continue
            room = self.pool.memory_mb - self._in_flight() >= SMALLEST_MB
            try:
                message = direct.take(self.connection, worker=self.name, shared=room, timeout=1)
                pause = RECONNECT_FIRST_SECONDS
            except redis.RedisError as error:
                logger.warning("direct path: Redis unavailable (%s); retrying in %.1f s", error, pause)
                self.stop.wait(pause)
                pause = min(pause * 2, RECONNECT_MAX_SECONDS)
                continue
            if message is None:
                continue
            memory = int(message.get("memory_size") or SMALLEST_MB)
            with self._in_flight_lock:
                self._in_flight_mb += memory
            self.executors.submit(functools.partial(self._direct_run, message, memory))

    def _direct_run(self, message: dict[str, Any], memory: int) -> None:
        request_id = message["request_id"]
        try:
            execute(
                message,
                spec_load=self.spec_load,
                payload_capture_bytes=self.payload_capture_bytes,
                connection=self.connection,
                worker=self.name,
                finish=lambda pipe, execution: direct.reply_queue(
                    pipe, request_id=request_id, reply=invoke_reply(message, execution)
                ),
            )
        except Exception as error:
            logger.exception("platform fault running invocation %s", request_id)
            try:
                pipe = self.connection.pipeline(transaction=False)
                direct.reply_queue(
                    pipe, request_id=request_id, reply={"fault": f"{type(error).__name__}: {error}"}
                )
                pipe.execute()
            except redis.RedisError:
                pass  # the caller sees this host's requests go unanswered and gives up
        finally:
            with self._in_flight_lock:
                self._in_flight_mb -= memory

    # ---- asynchronous events on RQ -------------------------------------------------

    def _rq_serve(self, slot: int) -> None:
        """One RQ worker for asynchronous events, working on after Redis comes back (or after
        anything else ends its loop: a host must not quietly lose its event workers)."""
        restarts = 0
        while not self.stop.is_set():
            name = f"{self.name}.rq{slot}" + (f"r{restarts}" if restarts else "")
            worker = _ThreadWorker(
                [Queue(events.ASYNC_QUEUE, connection=self.connection)],
                connection=self.connection,
                name=name,
                worker_ttl=RQ_WORKER_TTL,
                stop=self.stop,
                paused=lambda: bool(self.database_problem),
            )
            with self._rq_lock:
                self._rq.append(worker)
            try:
                self._rq_alive()
                # No scheduler here: RQ's forks a process, and a fork of this process (many
                # threads, subprocesses starting on them) keeps their exec-status pipes open,
                # so a thread starting a subprocess at that moment waits forever. _schedule
                # does the same work on a thread.
                worker.work(with_scheduler=False, logging_level="WARNING")
                if self.stop.is_set():
                    return
            except (redis.ConnectionError, redis.TimeoutError) as error:
                logger.warning("RQ worker %s lost Redis (%s); working on once it answers", name, error)
            except Exception:
                logger.exception("RQ worker %s stopped; starting it again", name)
            finally:
                with self._rq_lock:
                    self._rq.remove(worker)
            restarts += 1
            redis_wait(self.connection, self.stop)
            self.stop.wait(RECONNECT_FIRST_SECONDS)

    def _schedule(self) -> None:
        """Move delayed events (retries, throttled events) to the queue when they are due, as
        RQ's scheduler does, but on this thread. One host at a time holds the queue's
        scheduler lock (named for the host); a host that finds it held by a host no longer
        alive takes it over at once rather than after RQ's ten-minute fallback."""
        queue = Queue(events.ASYNC_QUEUE, connection=self.connection)
        scheduler = RQScheduler([queue], connection=self.connection, logging_level="WARNING", name=self.name)
        lock = RQScheduler.get_locking_key(queue.name)

        # RQScheduler's methods are unannotated (rq ships no types for them).
        def step() -> None:
            if not scheduler.acquired_locks:
                held = self.connection.get(lock)
                holder = redis_text(held) if held is not None else ""
                if holder and not self.connection.exists(direct.ALIVE_PREFIX + holder):
                    release_lock(self.connection, lock, holder)  # only if still the dead host's
                scheduler.acquire_locks()  # type: ignore[no-untyped-call]
            if scheduler.acquired_locks:
                scheduler.heartbeat()  # type: ignore[no-untyped-call]
                scheduler.enqueue_scheduled_jobs()  # type: ignore[no-untyped-call]

        self._every(scheduler.interval, step)  # an error (Redis away) skips one step, never the rest
        with contextlib.suppress(redis.RedisError):
            scheduler.release_locks()  # type: ignore[no-untyped-call]

    def _rq_alive(self) -> None:
        with self._rq_lock:
            names = [worker.name for worker in self._rq]
        pipe = self.connection.pipeline(transaction=False)
        for name in names:
            pipe.set(RQ_ALIVE_PREFIX + name, self.name, ex=direct.ALIVE_SECONDS)
        pipe.execute()

    # ---- housekeeping ----------------------------------------------------------------

    def _in_flight(self) -> int:
        with self._in_flight_lock:
            return self._in_flight_mb

    def status(self) -> dict[str, object]:
        # A copy first: invocation threads append to the deque while this reads it.
        faults = [fault for fault in list(self.pool.faults) if time.time() - fault[0] < FAULTS_RECENT_SECONDS]
        return {
            **self.pool.counts(),
            "role": "worker",
            "at": time.time(),
            "faults": len(faults),
            "last_fault": faults[-1][1] if faults else "",
            "database": self.database_problem or "ok",
            "in_flight_mb": self._in_flight(),
            "threads": self.executors.started,
            "sandbox": sandbox_enabled(),
            "network": self.pool.host.mode,
            "host": socket.gethostname(),
        }

    def _heartbeat(self) -> None:
        direct.alive_refresh(self.connection, worker=self.name, status=json.dumps(self.status()))
        self._rq_alive()

    def _database_watch(self) -> None:
        """Stop taking work while the database is unreachable; take it again once it is back."""
        try:
            self.database_check()
        except Exception as error:
            if not self.database_problem:
                logger.warning(
                    "host %s cannot reach the database (%s): taking no work until it can", self.name, error
                )
            self.database_problem = f"{type(error).__name__}: {error}"
            self.tokens.offered = False
            direct.tokens_withdraw(self.connection, worker=self.name)  # again: runs may have ended since
            return
        if self.database_problem:
            logger.warning("host %s reaches the database again: taking work", self.name)
            self.database_problem = ""
            self.tokens.offered = True
            self.tokens.dirty = True  # the heartbeat puts the idle environments' tokens back

    def _reap(self) -> None:
        self.pool.reap()
        if not self.tokens.offered:
            return  # no tokens while the host takes no work
        if self.tokens.dirty or time.monotonic() - self._resynced > TOKENS_RESYNC_SECONDS:
            self._resynced = time.monotonic()
            self.tokens.resync(self.pool)

    def _rescue_events(self) -> None:
        rescued = events.orphaned_events_rescue(self.connection, alive_prefix=RQ_ALIVE_PREFIX)
        if rescued:
            logger.warning("re-queued %d event(s) left running by a dead worker", rescued)
        stranded = events.stranded_events_rescue(self.connection)
        if stranded:
            logger.warning("re-queued %d event(s) whose job the queue had lost", stranded)

    def _provision(self) -> None:
        if self.database_problem:
            return  # provisioned slots are claimed from the database; other hosts keep them
        self.provisioned_sync(self.connection, self.pool, self.name)


class _stop_on_signals:
    """SIGTERM and SIGINT set ``stop`` while the host runs (the main thread waits on it)."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.previous: dict[int, Callable[[int, FrameType | None], Any] | int | None] = {}

    def __enter__(self) -> None:
        for number in (signal.SIGTERM, signal.SIGINT):
            self.previous[number] = signal.signal(number, lambda *_: self.stop.set())

    def __exit__(self, *exc_info: object) -> None:
        for number, handler in self.previous.items():
            signal.signal(number, handler)


def host_name(slot: str) -> str:
    """Host, slot and pid: a host killed without a clean exit leaves its name registered for
    a while, and its replacement must not collide with it."""
    return f"{socket.gethostname()}-worker{slot}-{os.getpid()}"
