"""Starts Stratus's processes in the foreground and stops every one of them on Ctrl-C.

Each child runs in its own process group so that stopping it also stops anything it
started; a child that dies unexpectedly is restarted (with a short back-off) unless the
supervisor itself is stopping.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field

logger = logging.getLogger("stratus.supervisor")


@dataclass
class Child:
    name: str
    start: Callable[[], subprocess.Popen]
    restart: bool = True
    process: subprocess.Popen | None = None
    restarts: int = 0
    started_at: float = field(default=0.0)
    restart_at: float = field(default=0.0)


class Supervisor:
    def __init__(self) -> None:
        self.children: list[Child] = []
        self._stopping = False
        self._tick_tasks: list[Callable[[], None]] = []
        self._retiring: list[tuple[Child, float]] = []

    def on_tick(self, task: Callable[[], None]) -> None:
        """Run ``task`` on every turn of the loop (scaling decisions and the like)."""
        self._tick_tasks.append(task)

    def add(self, name: str, start: Callable[[], subprocess.Popen], *, restart: bool = True) -> Child:
        child = Child(name=name, start=start, restart=restart)
        child.process = start()
        child.started_at = time.monotonic()
        self.children.append(child)
        return child

    def remove(self, child: Child, *, grace_seconds: float = 30) -> None:
        """Stop one child for good: SIGTERM now, SIGKILL if it is still there after the grace period."""
        self.children.remove(child)
        if child.process is not None and child.process.poll() is None:
            _signal_group(child.process, signal.SIGTERM)
            self._retiring.append((child, time.monotonic() + grace_seconds))

    def _check_retiring(self) -> None:
        still = []
        for child, deadline in self._retiring:
            if child.process.poll() is not None:
                continue
            if time.monotonic() > deadline:
                _signal_group(child.process, signal.SIGKILL)
            still.append((child, deadline))
        self._retiring = still

    def run_forever(self, *, poll_seconds: float = 0.5) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, self._on_signal)
        try:
            while not self._stopping:
                self._check_children()
                self._check_retiring()
                for task in self._tick_tasks:
                    try:
                        task()
                    except Exception:  # one failed decision must not stop the stack
                        logger.exception("supervisor task failed")
                time.sleep(poll_seconds)
        finally:
            self.stop_all()

    def _on_signal(self, signum, frame) -> None:
        self._stopping = True

    def _check_children(self) -> None:
        now = time.monotonic()
        for child in self.children:
            if child.process is not None and child.process.poll() is None:
                continue
            if child.process is not None:
                status = child.process.returncode
                child.process = None
                if not child.restart:
                    logger.error("%s exited with status %s; stopping Stratus", child.name, status)
                    self._stopping = True
                    return
                # Back off when it keeps dying right after start, without blocking the loop.
                quick_death = now - child.started_at < 5
                child.restart_at = now + (min(10, 1 + child.restarts) if quick_death else 0)
                logger.warning("%s exited with status %s; restarting it", child.name, status)
            if now >= child.restart_at:
                child.restarts += 1
                child.process = child.start()
                child.started_at = time.monotonic()

    def stop_all(self, *, grace_seconds: float = 10) -> None:
        self._stopping = True
        running = [
            child for child in reversed(self.children) if child.process and child.process.poll() is None
        ]
        for child in running:
            _signal_group(child.process, signal.SIGTERM)
        deadline = time.monotonic() + grace_seconds
        for child in running:
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                logger.warning("%s did not stop within %s s; killing it", child.name, grace_seconds)
                _signal_group(child.process, signal.SIGKILL)
                child.process.wait()


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)


def spawn(command: list[str], *, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start a child in its own process group (so Ctrl-C reaches it only through us)."""
    return subprocess.Popen(command, env=env, start_new_session=True)
