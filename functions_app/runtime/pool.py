"""A host's execution environments, keyed by function version and revision.

``acquire`` hands out an idle environment for the same code and configuration or starts a
new one (a cold start); ``release`` puts it back. Many threads acquire at once: the pool
holds as many environments as fit in its memory budget, each counted by its function's
MemorySize as Lambda places them. A cold start that does not fit shuts down idle
environments, least recently used first, and otherwise waits for memory to be freed.
Environments idle for longer than ``STRATUS_ENV_IDLE_SECONDS`` are shut down, and so is
every environment of a version whose code or configuration changed. Provisioned
environments (``provision``) are initialized ahead of any invoke and never reaped for
idleness.

A listener hears every environment that becomes idle or stops being idle, which is how the
host keeps its warm tokens in Redis (one per idle environment) true.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from redis.client import Pipeline

from functions_app.runtime.cgroups import orphans_kill
from functions_app.runtime.code_cache import (
    ArtifactRefused,
    CodeFetch,
    CodeUnavailable,
    code_dir,
    runtime_dir,
)
from functions_app.runtime.env_outcomes import InitFailed, failure_outcome
from functions_app.runtime.environment import ExecutionEnvironment
from functions_app.runtime.sandbox_host import sandbox_host_create
from functions_app.runtime.spec import FunctionSpec

logger = logging.getLogger("stratus.pool")

MAX_AGE_SECONDS = 11 * 3600


# How long a cold start waits for memory that busy environments hold.
MEMORY_WAIT_SECONDS = 60.0


class IdleListener(Protocol):
    def idle_added(self, spec: FunctionSpec, pipeline: Pipeline | None = None) -> None: ...

    def idle_removed(self, spec: FunctionSpec, count: int) -> None: ...


class _Silent:
    def idle_added(self, spec: FunctionSpec, pipeline: Pipeline | None = None) -> None:
        pass

    def idle_removed(self, spec: FunctionSpec, count: int) -> None:
        pass


class NoCapacity(Exception):
    """The environment does not fit in the host's memory, now or within the wait."""


@dataclass
class Acquired:
    environment: ExecutionEnvironment
    cold: bool
    init_duration_ms: float | None


class EnvironmentPool:
    def __init__(
        self,
        *,
        cache_root: Path,
        idle_seconds: float,
        memory_mb: int,
        code_fetch: CodeFetch,
        listener: IdleListener | None = None,
    ) -> None:
        self.cache_root = cache_root
        self.code_fetch = code_fetch
        self.idle_seconds = idle_seconds
        self.memory_mb = memory_mb
        # Environments hold their role's credentials, issued for 12 hours: retire them first.
        self.max_age_seconds = MAX_AGE_SECONDS
        self.host = sandbox_host_create(cache_root)
        orphans_kill()
        self.runtime_dir = runtime_dir(cache_root)
        self.listener: IdleListener = listener or _Silent()
        self._idle: dict[tuple[str, str, str, str], list[ExecutionEnvironment]] = {}  # by spec.key
        self._busy: set[ExecutionEnvironment] = set()
        self._provisioned: dict[str, ExecutionEnvironment] = {}  # slot id -> environment
        # (function, version or None for all) -> when its environments were retired
        self._retired: dict[tuple[str, str | None], float] = {}
        self._lock = threading.Lock()
        self._memory_freed = threading.Condition(self._lock)
        self._memory_used = 0  # MB held by environments starting, idle or busy
        self._closed = False
        # (when, what) of the latest platform faults, such as code it could not fetch.
        self.faults: collections.deque[tuple[float, str]] = collections.deque(maxlen=20)

    def _new_environment(self, spec: FunctionSpec, initialization_type: str) -> ExecutionEnvironment:
        return ExecutionEnvironment(
            spec,
            host=self.host,
            code_dir=code_dir(
                self.cache_root,
                sha256=spec.code_sha256,
                storage_name=spec.code_storage_name,
                fetch=self.code_fetch,
            ),
            runtime_dir=self.runtime_dir,
            initialization_type=initialization_type,
        )

    def _code_failed(self, spec: FunctionSpec, error: Exception) -> None:
        """An environment that got no code: give back its memory; note a platform fault."""
        with self._lock:
            self._memory_used -= spec.memory_size
            self._memory_freed.notify_all()
        if isinstance(error, CodeUnavailable):
            self.faults.append((time.time(), str(error)))

    def _take_idle(
        self, spec: FunctionSpec, retired: list[ExecutionEnvironment]
    ) -> ExecutionEnvironment | None:
        """Pop a live idle environment for ``spec`` (provisioned ones first). Holds the lock."""
        for key in [key for key in self._idle if key[:2] == spec.key[:2] and key != spec.key]:
            retired.extend(self._idle.pop(key))  # an older revision of the same version
        idle = self._idle.get(spec.key, [])
        idle.sort(key=lambda env: env.initialization_type == "provisioned-concurrency")
        while idle:
            candidate = idle.pop()
            if candidate.alive:
                return candidate
            retired.append(candidate)
        return None

    def _memory_take(
        self,
        memory_mb: int,
        evicted: list[ExecutionEnvironment],
        *,
        spec: FunctionSpec | None = None,
        retired: list[ExecutionEnvironment] | None = None,
    ) -> ExecutionEnvironment | None:
        """Count ``memory_mb`` as held, shutting down least recently used idle environments
        (into ``evicted``) or waiting for busy ones to go; raises NoCapacity. Holds the lock.

        Given ``spec``, an idle environment of it that turns up while waiting is taken and
        returned instead (no memory is counted then): a warm start beats an eviction."""
        if memory_mb > self.memory_mb:
            raise NoCapacity(
                f"The function's {memory_mb} MB does not fit in this host's {self.memory_mb} MB "
                "(STRATUS_HOST_MEMORY_MB)."
            )
        deadline = time.monotonic() + MEMORY_WAIT_SECONDS
        while self._memory_used + memory_mb > self.memory_mb:
            if spec is not None:
                stale: list[ExecutionEnvironment] = []
                ready = self._take_idle(spec, stale)
                for old in stale:
                    self._memory_give(old)
                if retired is not None:
                    retired.extend(stale)
                if ready is not None:
                    return ready
            pinned = set(self._provisioned.values())
            candidates = [
                (env.last_used, key, env)
                for key, envs in self._idle.items()
                for env in envs
                if env not in pinned
            ]
            if candidates:
                _, key, oldest = min(candidates, key=lambda item: item[0])
                self._idle[key].remove(oldest)
                if not self._idle[key]:
                    del self._idle[key]
                self._memory_used -= oldest.spec.memory_size
                evicted.append(oldest)
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._closed:
                raise NoCapacity(
                    f"No memory for another {memory_mb} MB environment on this host: "
                    f"{self._memory_used} of {self.memory_mb} MB are in use (STRATUS_HOST_MEMORY_MB)."
                )
            self._memory_freed.wait(remaining)
        self._memory_used += memory_mb
        return None

    def _memory_give(self, environment: ExecutionEnvironment) -> None:
        """Stop counting ``environment``'s memory. Holds the lock."""
        self._memory_used -= environment.spec.memory_size
        self._memory_freed.notify_all()

    def _shutdown(self, environments: list[ExecutionEnvironment], *, were_idle: bool) -> None:
        """Shut environments down whose memory is no longer counted; tell the listener about
        the idle ones. Without the lock."""
        if were_idle:
            for environment in environments:
                self.listener.idle_removed(environment.spec, 1)
        for environment in environments:
            environment.shutdown()

    def acquire(self, spec: FunctionSpec, *, token_taken: bool = False) -> Acquired:
        """An idle environment for ``spec`` or a freshly initialized one (raises InitFailed).

        ``token_taken``: the caller already took the idle environment's warm token (the
        direct path claims one), so the listener is not told that one went."""
        retired: list[ExecutionEnvironment] = []
        evicted: list[ExecutionEnvironment] = []
        failure: NoCapacity | None = None
        with self._lock:
            environment = self._take_idle(spec, retired)
            for old in retired:
                self._memory_give(old)
            if environment is None:
                try:
                    environment = self._memory_take(spec.memory_size, evicted, spec=spec, retired=retired)
                except NoCapacity as exc:
                    failure = exc
            if environment is not None:
                self._busy.add(environment)
        self._shutdown(retired + evicted, were_idle=True)
        if environment is not None:
            if not token_taken:
                self.listener.idle_removed(spec, 1)
            return Acquired(environment=environment, cold=False, init_duration_ms=None)
        if failure is not None:
            raise InitFailed(failure_outcome("Stratus.NoCapacity", str(failure), "init_error"), 0.0)
        try:
            environment = self._new_environment(spec, "on-demand")
        except (ArtifactRefused, CodeUnavailable) as exc:
            self._code_failed(spec, exc)
            if isinstance(exc, CodeUnavailable):
                raise
            raise InitFailed(
                failure_outcome("Runtime.InvalidEntrypoint", str(exc), "init_error"), 0.0
            ) from None
        with self._lock:
            self._busy.add(environment)
        try:
            init_ms = environment.start()
        except Exception:
            with self._lock:
                self._busy.discard(environment)
                self._memory_give(environment)
            raise
        return Acquired(environment=environment, cold=True, init_duration_ms=init_ms)

    def release(self, environment: ExecutionEnvironment, *, pipeline: Pipeline | None = None) -> None:
        """Put ``environment`` back; the listener may queue what it says on ``pipeline``
        (a Redis pipeline the caller executes next), saving a round trip."""
        with self._lock:
            self._busy.discard(environment)
            keep = not self._closed and environment.alive and not self._is_retired(environment)
            if keep:
                self._idle.setdefault(environment.spec.key, []).append(environment)
                self._memory_freed.notify_all()  # a cold start waiting for memory may use or evict it
            else:
                self._memory_give(environment)
        if keep:
            self.listener.idle_added(environment.spec, pipeline)
        else:
            environment.shutdown()

    def _is_retired(self, environment: ExecutionEnvironment) -> bool:
        """Whether ``environment`` was started before its function's last change. Holds the lock."""
        spec = environment.spec
        return any(
            environment.created_at <= self._retired.get((spec.function_name, version), -1.0)
            for version in (spec.version, None)
        )

    def retire(self, function_name: str, version: str | None) -> int:
        """Shut down the idle environments of ``function_name`` (``version``, or every
        version), and busy ones when released; returns how many were idle."""
        retired: list[ExecutionEnvironment] = []
        with self._lock:
            self._retired[(function_name, version)] = time.monotonic()
            for key in list(self._idle):
                if key[0] == function_name and version in (None, key[1]):
                    retired.extend(self._idle.pop(key))
            for slot, environment in list(self._provisioned.items()):
                if environment in retired:
                    del self._provisioned[slot]  # the provisioning loop starts a new one
            for environment in retired:
                self._memory_give(environment)
        self._shutdown(retired, were_idle=True)
        return len(retired)

    # ---- provisioned concurrency -----------------------------------------------------

    def provision(self, slot: str, spec: FunctionSpec) -> bool:
        """Make sure ``slot`` holds an initialized environment for ``spec``; True when it does."""
        with self._lock:
            current = self._provisioned.get(slot)
        if current is not None and current.spec.key == spec.key and current.state != "dead":
            return True
        if current is not None:
            self.unprovision(slot)
        evicted: list[ExecutionEnvironment] = []
        try:
            with self._lock:
                self._memory_take(spec.memory_size, evicted)
        except NoCapacity as exc:
            logger.warning(
                "no room for a provisioned environment of %s:%s: %s", spec.function_name, spec.version, exc
            )
            return False
        finally:
            self._shutdown(evicted, were_idle=True)
        try:
            environment = self._new_environment(spec, "provisioned-concurrency")
        except (ArtifactRefused, CodeUnavailable) as exc:
            self._code_failed(spec, exc)
            logger.warning(
                "no code for a provisioned environment of %s:%s: %s", spec.function_name, spec.version, exc
            )
            return False
        try:
            environment.start()
        except Exception:
            with self._lock:
                self._memory_give(environment)
            logger.warning(
                "provisioned environment for %s:%s failed to initialize", spec.function_name, spec.version
            )
            return False
        with self._lock:
            self._provisioned[slot] = environment
            self._idle.setdefault(spec.key, []).append(environment)
        self.listener.idle_added(spec)
        return True

    def unprovision(self, slot: str) -> None:
        with self._lock:
            environment = self._provisioned.pop(slot, None)
            was_idle = False
            if environment is not None:
                idle = self._idle.get(environment.spec.key, [])
                if environment in idle:
                    idle.remove(environment)
                    self._memory_give(environment)
                    was_idle = True
        if environment is not None and was_idle:
            self._shutdown([environment], were_idle=True)
        # A busy one is shut down when it is released: it is no longer pinned, so it ages out.

    def provisioned_slots(self) -> set[str]:
        with self._lock:
            return set(self._provisioned)

    # ---- housekeeping ----------------------------------------------------------------

    def reap(self) -> int:
        """Shut down environments idle for too long (provisioned ones stay), and kill what is
        left of the environments of workers on this host that died; returns how many."""
        self.host.routes_refresh()
        orphans = orphans_kill()
        if orphans:
            logger.warning("killed %d environment(s) left behind by a worker that died", orphans)
        now = time.monotonic()
        expired: list[ExecutionEnvironment] = []
        with self._lock:
            pinned = set(self._provisioned.values())
            for key, environments in list(self._idle.items()):
                keep = [
                    env
                    for env in environments
                    if env.alive
                    and (env in pinned or now - env.last_used < self.idle_seconds)
                    and now - env.created_at < self.max_age_seconds
                ]
                expired.extend(env for env in environments if env not in keep)
                if keep:
                    self._idle[key] = keep
                else:
                    del self._idle[key]
            for environment in expired:
                self._memory_give(environment)
        self._shutdown(expired, were_idle=True)
        return len(expired)

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {
                "idle": sum(len(envs) for envs in self._idle.values()),
                "busy": len(self._busy),
                "provisioned": len(self._provisioned),
                "memory_mb": self.memory_mb,
                "memory_used_mb": self._memory_used,
                "memory_busy_mb": sum(env.spec.memory_size for env in self._busy),
            }

    def memory_free_for_work_mb(self) -> int:
        """Memory a new environment could have now, counting idle ones as reclaimable."""
        with self._lock:
            return self.memory_mb - sum(env.spec.memory_size for env in self._busy)

    def idle_counts(self) -> dict[tuple[str, str], int]:
        """Live idle environments by (function, version)."""
        counts: dict[tuple[str, str], int] = {}
        with self._lock:
            for key, envs in self._idle.items():
                alive = sum(1 for env in envs if env.alive)
                if alive:
                    counts[key[:2]] = counts.get(key[:2], 0) + alive
        return counts

    def idle_count(self, function_name: str, version: str) -> int:
        return self.idle_counts().get((function_name, version), 0)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            environments = [env for envs in self._idle.values() for env in envs] + list(self._busy)
            self._idle.clear()
            self._provisioned.clear()
            self._memory_used = 0
            self._memory_freed.notify_all()
        for environment in environments:
            environment.shutdown()
        self.host.close()
