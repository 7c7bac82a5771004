"""A worker's warm execution environments, keyed by function version and revision.

``acquire`` hands out an idle environment for the same code and configuration or starts a
new one (a cold start); ``release`` puts it back. Environments idle for longer than
``STRATUS_ENV_IDLE_SECONDS`` are shut down, and so is every environment of a version
whose code or configuration changed. Provisioned environments (``provision``) are
initialized ahead of any invoke and never reaped for idleness.

A listener hears every environment that becomes idle or stops being idle, which is how
the worker keeps its warm-routing tokens in Redis true.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from functions_app.runtime.cgroups import orphans_kill
from functions_app.runtime.code_cache import ArtifactRefused, code_dir, runtime_dir
from functions_app.runtime.environment import ExecutionEnvironment, InitFailed, failure_outcome
from functions_app.runtime.sandbox_host import sandbox_host_create
from functions_app.runtime.spec import FunctionSpec

logger = logging.getLogger("stratus.pool")

MAX_AGE_SECONDS = 11 * 3600


class IdleListener(Protocol):
    def idle_changed(self, pool: EnvironmentPool, spec: FunctionSpec) -> None: ...


class _Silent:
    def idle_changed(self, pool: EnvironmentPool, spec: FunctionSpec) -> None:
        pass


@dataclass
class Acquired:
    environment: ExecutionEnvironment
    cold: bool
    init_duration_ms: float | None


class EnvironmentPool:
    def __init__(
        self, *, cache_root: Path, idle_seconds: float, listener: IdleListener | None = None
    ) -> None:
        self.cache_root = cache_root
        self.idle_seconds = idle_seconds
        # Environments hold their role's credentials, issued for 12 hours: retire them first.
        self.max_age_seconds = MAX_AGE_SECONDS
        self.host = sandbox_host_create(cache_root)
        orphans_kill()
        self.runtime_dir = runtime_dir(cache_root)
        self.listener: IdleListener = listener or _Silent()
        self._idle: dict[tuple, list[ExecutionEnvironment]] = {}
        self._busy: set[ExecutionEnvironment] = set()
        self._provisioned: dict[str, ExecutionEnvironment] = {}  # slot id -> environment
        # (function, version or None for all) -> when its environments were retired
        self._retired: dict[tuple[str, str | None], float] = {}
        self._lock = threading.Lock()
        self._closed = False

    def _new_environment(self, spec: FunctionSpec, initialization_type: str) -> ExecutionEnvironment:
        return ExecutionEnvironment(
            spec,
            host=self.host,
            code_dir=code_dir(self.cache_root, sha256=spec.code_sha256, storage_name=spec.code_storage_name),
            runtime_dir=self.runtime_dir,
            initialization_type=initialization_type,
        )

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

    def acquire(self, spec: FunctionSpec) -> Acquired:
        """An idle environment for ``spec`` or a freshly initialized one (raises InitFailed)."""
        retired: list[ExecutionEnvironment] = []
        with self._lock:
            environment = self._take_idle(spec, retired)
            if environment is not None:
                self._busy.add(environment)
        for old in retired:
            self.listener.idle_changed(self, old.spec)
            old.shutdown()
        if environment is not None:
            self.listener.idle_changed(self, spec)
            return Acquired(environment=environment, cold=False, init_duration_ms=None)
        try:
            environment = self._new_environment(spec, "on-demand")
        except ArtifactRefused as exc:
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
            raise
        return Acquired(environment=environment, cold=True, init_duration_ms=init_ms)

    def release(self, environment: ExecutionEnvironment) -> None:
        with self._lock:
            self._busy.discard(environment)
            keep = not self._closed and environment.alive and not self._is_retired(environment)
            if keep:
                self._idle.setdefault(environment.spec.key, []).append(environment)
        if keep:
            self.listener.idle_changed(self, environment.spec)
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
            self.listener.idle_changed(self, environment.spec)
            environment.shutdown()
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
        environment = self._new_environment(spec, "provisioned-concurrency")
        try:
            environment.start()
        except Exception:
            logger.warning(
                "provisioned environment for %s:%s failed to initialize", spec.function_name, spec.version
            )
            return False
        with self._lock:
            self._provisioned[slot] = environment
            self._idle.setdefault(spec.key, []).append(environment)
        self.listener.idle_changed(self, spec)
        return True

    def unprovision(self, slot: str) -> None:
        with self._lock:
            environment = self._provisioned.pop(slot, None)
            was_idle = False
            if environment is not None:
                idle = self._idle.get(environment.spec.key, [])
                if environment in idle:
                    idle.remove(environment)
                    was_idle = True
        if environment is None:
            return
        if was_idle:
            self.listener.idle_changed(self, environment.spec)
            environment.shutdown()
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
            self.listener.idle_changed(self, environment.spec)
            environment.shutdown()
        return len(expired)

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {
                "idle": sum(len(envs) for envs in self._idle.values()),
                "busy": len(self._busy),
                "provisioned": len(self._provisioned),
            }

    def idle_count(self, function_name: str, version: str) -> int:
        with self._lock:
            return sum(
                1
                for key, envs in self._idle.items()
                if key[:2] == (function_name, version)
                for env in envs
                if env.alive
            )

    def close(self) -> None:
        with self._lock:
            self._closed = True
            environments = [env for envs in self._idle.values() for env in envs] + list(self._busy)
            self._idle.clear()
            self._provisioned.clear()
        for environment in environments:
            environment.shutdown()
        self.host.close()
