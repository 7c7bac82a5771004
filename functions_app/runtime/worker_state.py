"""The worker process's one pool of execution environments, for jobs to find."""

from __future__ import annotations

from functions_app.runtime.pool import EnvironmentPool

_pool: EnvironmentPool | None = None


def pool_install(pool: EnvironmentPool | None) -> None:
    global _pool
    _pool = pool


def current_pool() -> EnvironmentPool:
    if _pool is None:
        raise RuntimeError("no environment pool: invocation jobs run only inside a Stratus worker")
    return _pool
