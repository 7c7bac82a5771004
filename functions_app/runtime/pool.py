"""A worker's warm execution environments, keyed by function version and revision.

``acquire`` hands out an idle environment for the same code and configuration or starts a
new one (a cold start); ``release`` puts it back. Environments idle for longer than
``STRATUS_ENV_IDLE_SECONDS`` are shut down, and so is every environment of a version
whose code or configuration changed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from functions_app.runtime.code_cache import code_dir, runtime_dir
from functions_app.runtime.environment import ExecutionEnvironment
from functions_app.runtime.runtime_api import RuntimeApiServer
from functions_app.runtime.spec import FunctionSpec

logger = logging.getLogger("stratus.pool")


@dataclass
class Acquired:
    environment: ExecutionEnvironment
    cold: bool
    init_duration_ms: float | None


class EnvironmentPool:
    def __init__(
        self, *, cache_root: Path, idle_seconds: float, on_idle_change: Callable | None = None
    ) -> None:
        self.cache_root = cache_root
        self.idle_seconds = idle_seconds
        self.api = RuntimeApiServer()
        self.runtime_dir = runtime_dir(cache_root)
        self._idle: dict[tuple, list[ExecutionEnvironment]] = {}
        self._busy: set[ExecutionEnvironment] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._on_idle_change = on_idle_change

    # Keys of specs whose environments must go: an older revision of the same version.
    def _stale_keys(self, spec: FunctionSpec) -> list[tuple]:
        return [
            key
            for key in self._idle
            if key[0] == spec.function_name and key[1] == spec.version and key != spec.key
        ]

    def acquire(self, spec: FunctionSpec, *, initialization_type: str = "on-demand") -> Acquired:
        """An idle environment for ``spec`` or a freshly initialized one (raises InitFailed)."""
        retired: list[ExecutionEnvironment] = []
        with self._lock:
            for key in self._stale_keys(spec):
                retired.extend(self._idle.pop(key))
            idle = self._idle.get(spec.key, [])
            environment = None
            while idle:
                candidate = idle.pop()
                if candidate.alive:
                    environment = candidate
                    break
                retired.append(candidate)
            if environment is not None:
                self._busy.add(environment)
        for old in retired:
            old.shutdown()
        if environment is not None:
            return Acquired(environment=environment, cold=False, init_duration_ms=None)
        environment = ExecutionEnvironment(
            spec,
            api=self.api,
            code_dir=code_dir(self.cache_root, sha256=spec.code_sha256, storage_name=spec.code_storage_name),
            runtime_dir=self.runtime_dir,
            initialization_type=initialization_type,
        )
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
            if self._closed or not environment.alive:
                keep = False
            else:
                self._idle.setdefault(environment.spec.key, []).append(environment)
                keep = True
        if not keep:
            environment.shutdown()

    def reap(self) -> int:
        """Shut down environments idle for too long; returns how many went."""
        now = time.monotonic()
        expired: list[ExecutionEnvironment] = []
        with self._lock:
            for key, environments in list(self._idle.items()):
                keep = [env for env in environments if now - env.last_used < self.idle_seconds and env.alive]
                expired.extend(env for env in environments if env not in keep)
                if keep:
                    self._idle[key] = keep
                else:
                    del self._idle[key]
        for environment in expired:
            environment.shutdown()
        return len(expired)

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {"idle": sum(len(envs) for envs in self._idle.values()), "busy": len(self._busy)}

    def idle_count(self, key: tuple) -> int:
        with self._lock:
            return len(self._idle.get(key, []))

    def close(self) -> None:
        with self._lock:
            self._closed = True
            environments = [env for envs in self._idle.values() for env in envs] + list(self._busy)
            self._idle.clear()
        for environment in environments:
            environment.shutdown()
        self.api.close()
