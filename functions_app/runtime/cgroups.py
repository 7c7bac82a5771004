"""Resource limits for one execution environment through Linux cgroups (v2 or v1).

Each environment gets its own cgroup below the worker's: a memory limit equal to the
function's memory size (no swap), a process limit, and a CPU weight proportional to
memory (as Lambda gives more CPU to bigger functions). The cgroup's peak-memory counter,
reset before each invoke, gives the true "Max Memory Used" of that invoke, and its OOM
counter tells an out-of-memory kill from any other death.

Between invokes the environment is frozen (v2 ``cgroup.freeze``, v1 freezer), as AWS
freezes its environments: a process a handler leaves running gets no CPU until the next
invoke. At shutdown the whole cgroup is killed, not just a process group. A cgroup is
named for the worker that made it (its pid and start time), so when a worker dies without
cleaning up, any other worker on the host finds its environments and kills them
(``orphans_kill``): frozen tasks under the v1 freezer do not even die of SIGKILL until
they are thawed.

Where no cgroup is writable, ``CgroupLimits.create`` returns None and the sandbox falls
back to an address-space limit.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

logger = logging.getLogger("stratus.cgroups")

CGROUP_ROOT = Path("/sys/fs/cgroup")
PIDS_MAX = 1024


def _own_paths() -> dict[str, str]:
    """Controller (or "" for v2) to this process's cgroup path, from /proc/self/cgroup."""
    paths: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for controller in controllers.split(",") if controllers else [""]:
                paths[controller] = path
    return paths


@dataclass(frozen=True)
class _Layout:
    version: int
    memory: Path  # parent directory under which environment cgroups are made
    pids: Path | None
    cpu: Path | None
    freezer: Path | None = None  # v1 only; v2 freezes through the memory directory

    @property
    def parents(self) -> tuple[Path, ...]:
        return tuple(dict.fromkeys(p for p in (self.memory, self.pids, self.cpu, self.freezer) if p))


def _writable_parent(base: Path) -> Path | None:
    probe = base / f"stratus-probe-{os.getpid()}"
    try:
        probe.mkdir()
        probe.rmdir()
        return base
    except OSError:
        return None


@lru_cache(maxsize=1)
def cgroup_layout() -> _Layout | None:
    own = _own_paths()
    unified = CGROUP_ROOT / "cgroup.controllers"
    if unified.exists() and "" in own:
        base = CGROUP_ROOT / own[""].lstrip("/")
        controllers = (
            set((base / "cgroup.controllers").read_text().split())
            if (base / "cgroup.controllers").exists()
            else set()
        )
        if "memory" in controllers:
            parent = _writable_parent(base)
            if parent is not None:
                # v2 needs controllers enabled in the parent's subtree (and no processes in it).
                with contextlib.suppress(OSError):
                    (parent / "cgroup.subtree_control").write_text("+memory +pids +cpu")
                return _Layout(version=2, memory=parent, pids=parent, cpu=parent)
    memory_mount = CGROUP_ROOT / "memory"
    if (memory_mount / "memory.limit_in_bytes").exists() or (memory_mount / "cgroup.procs").exists():
        memory = _writable_parent(memory_mount / own.get("memory", "/").lstrip("/"))
        if memory is not None:
            pids = _writable_parent(CGROUP_ROOT / "pids" / own.get("pids", "/").lstrip("/"))
            cpu_key = next((key for key in own if "cpu" in key.split(",") or key == "cpu"), "cpu")
            cpu = _writable_parent(CGROUP_ROOT / "cpu" / own.get(cpu_key, "/").lstrip("/"))
            freezer = _writable_parent(CGROUP_ROOT / "freezer" / own.get("freezer", "/").lstrip("/"))
            return _Layout(version=1, memory=memory, pids=pids, cpu=cpu, freezer=freezer)
    return None


def _start_time(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


@lru_cache(maxsize=1)
def _owner_tag() -> str:
    """``<pid>x<start time>``: names this process's cgroups, and tells whether it still lives."""
    return f"{os.getpid()}x{_start_time(os.getpid())}"


def cgroup_name(environment_id: str) -> str:
    return f"stratus-{_owner_tag()}-{environment_id}"


def _owner_alive(name: str) -> bool:
    try:
        tag = name.split("-", 2)[1]
        pid, started = tag.split("x", 1)
    except (IndexError, ValueError):
        return True  # not named by this scheme: not ours to judge
    return _start_time(int(pid)) == started


def _kill_directory(path: Path, *, version: int) -> None:
    """SIGKILL every process in ``path``; v2 through cgroup.kill where the kernel has it."""
    if version == 2 and (path / "cgroup.kill").exists():
        with contextlib.suppress(OSError):
            _write(path / "cgroup.kill", "1")
            return
    with contextlib.suppress(OSError, ValueError):
        for pid in (path / "cgroup.procs").read_text().split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)


def orphans_kill() -> int:
    """Kill and remove the environment cgroups of workers that are gone; returns how many."""
    layout = cgroup_layout()
    if layout is None:
        return 0
    orphans: set[str] = set()
    for parent in layout.parents:
        with contextlib.suppress(OSError):
            orphans.update(
                entry.name
                for entry in parent.iterdir()
                if entry.is_dir() and entry.name.startswith("stratus-") and not _owner_alive(entry.name)
            )
    for name in orphans:
        limits = CgroupLimits(layout, name)
        limits.dirs = [parent / name for parent in layout.parents if (parent / name).is_dir()]
        limits.kill()
        limits.remove()
    return len(orphans)


def _write(path: Path, value: str) -> None:
    path.write_text(value)


class CgroupLimits:
    """The cgroup(s) of one environment."""

    def __init__(self, layout: _Layout, name: str) -> None:
        self.layout = layout
        self.name = name
        self.dirs: list[Path] = []
        # Files written or read on every invoke (freezer, memory peak), kept open: an open
        # and a close per access cost more than the access. On cgroup v2 a peak reset also
        # applies only to the descriptor that wrote it, so the reads must share it.
        self._kept: dict[Path, int] = {}
        self._kept_lock = threading.Lock()

    def _kept_fd(self, path: Path) -> int:
        with self._kept_lock:
            fd = self._kept.get(path)
            if fd is None:
                fd = self._kept[path] = os.open(path, os.O_RDWR | os.O_CLOEXEC)
            return fd

    def _kept_write(self, path: Path, value: str) -> None:
        os.pwrite(self._kept_fd(path), value.encode(), 0)

    def _kept_read(self, path: Path) -> str:
        return os.pread(self._kept_fd(path), 4096, 0).decode()

    def _kept_close(self) -> None:
        with self._kept_lock:
            for fd in self._kept.values():
                with contextlib.suppress(OSError):
                    os.close(fd)
            self._kept.clear()

    @classmethod
    def create(cls, *, name: str, memory_mb: int) -> CgroupLimits | None:
        layout = cgroup_layout()
        if layout is None:
            return None
        limits = cls(layout, name)
        try:
            limits._setup(memory_mb)
        except OSError as exc:
            logger.warning("cgroup setup failed (%s); falling back to an address-space limit", exc)
            limits.remove()
            return None
        return limits

    def _make(self, parent: Path) -> Path:
        path = parent / self.name
        path.mkdir(exist_ok=True)
        self.dirs.append(path)
        return path

    def _setup(self, memory_mb: int) -> None:
        limit = memory_mb * 1024 * 1024
        # CPU weight proportional to memory: 1,769 MB is one full vCPU on Lambda.
        if self.layout.version == 2:
            path = self._make(self.layout.memory)
            _write(path / "memory.max", str(limit))
            with contextlib.suppress(OSError):
                _write(path / "memory.swap.max", "0")
            with contextlib.suppress(OSError):
                _write(path / "pids.max", str(PIDS_MAX))
            with contextlib.suppress(OSError):
                _write(path / "cpu.weight", str(max(1, min(10000, memory_mb * 100 // 1769))))
            return
        memory = self._make(self.layout.memory)
        _write(memory / "memory.limit_in_bytes", str(limit))
        with contextlib.suppress(OSError):
            _write(memory / "memory.memsw.limit_in_bytes", str(limit))
        if self.layout.pids is not None:
            pids = self._make(self.layout.pids)
            _write(pids / "pids.max", str(PIDS_MAX))
        if self.layout.cpu is not None:
            cpu = self._make(self.layout.cpu)
            _write(cpu / "cpu.shares", str(max(2, memory_mb * 1024 // 1769)))
        if self.layout.freezer is not None:
            self._make(self.layout.freezer)

    # ---- freezing and killing ---------------------------------------------------------

    def _freezer_file(self) -> tuple[Path, str, str] | None:
        """(file, frozen value, thawed value) of this cgroup's freezer, if it has one."""
        if self.layout.version == 2:
            return (self._memory_dir / "cgroup.freeze", "1", "0") if self.dirs else None
        if self.layout.freezer is None:
            return None
        return self.layout.freezer / self.name / "freezer.state", "FROZEN", "THAWED"

    def freeze(self) -> None:
        """Stop every process of the environment from running (until ``thaw``)."""
        freezer = self._freezer_file()
        if freezer is not None:
            with contextlib.suppress(OSError):
                self._kept_write(freezer[0], freezer[1])

    def thaw(self) -> None:
        freezer = self._freezer_file()
        if freezer is not None:
            with contextlib.suppress(OSError):
                self._kept_write(freezer[0], freezer[2])

    def frozen(self) -> bool:
        freezer = self._freezer_file()
        if freezer is None:
            return False
        try:
            value = freezer[0].read_text().strip()
        except OSError:
            return False
        return value == "1" if self.layout.version == 2 else value in {"FROZEN", "FREEZING"}

    def kill(self) -> None:
        """SIGKILL every process of the environment, frozen ones included."""
        for path in self.dirs:
            _kill_directory(path, version=self.layout.version)
        # A task frozen by the v1 freezer takes its SIGKILL only once thawed.
        self.thaw()

    def procs_files(self) -> tuple[str, ...]:
        return tuple(str(path / "cgroup.procs") for path in self.dirs)

    @property
    def _memory_dir(self) -> Path:
        return self.dirs[0]

    def peak_reset(self) -> None:
        name = "memory.peak" if self.layout.version == 2 else "memory.max_usage_in_bytes"
        with contextlib.suppress(OSError):
            self._kept_write(self._memory_dir / name, "0" if self.layout.version == 1 else "reset")

    def peak_bytes(self) -> int | None:
        if not self.dirs:
            return None
        name = "memory.peak" if self.layout.version == 2 else "memory.max_usage_in_bytes"
        try:
            return int(self._kept_read(self._memory_dir / name).strip())
        except (OSError, ValueError):
            return None

    def oom_kills(self) -> int:
        if not self.dirs:
            return 0
        if self.layout.version == 2:
            path, key = self._memory_dir / "memory.events", "oom_kill"
        else:
            path, key = self._memory_dir / "memory.oom_control", "oom_kill"
        try:
            for line in path.read_text().splitlines():
                name, _, value = line.partition(" ")
                if name == key:
                    return int(value)
        except (OSError, ValueError):
            pass
        return 0

    def remove(self) -> None:
        self._kept_close()
        for path in reversed(self.dirs):
            # Processes may take a moment to leave after being killed.
            for _ in range(50):
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)
        self.dirs.clear()
