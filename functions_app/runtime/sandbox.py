"""The command line that starts one execution environment inside a bubblewrap sandbox.

Inside: its own mount, PID, IPC and UTS namespaces; the host's base userland (/usr), the
runtime's interpreter and Stratus's bootstrap (/var/runtime) and the function's code
(/var/task) read-only; a private /tmp of the function's ephemeral-storage size; an
unprivileged uid with no capabilities; only the environment variables it is given. It
shares the host's network, as a Lambda function outside a VPC does; the platform's Redis
and database ask for credentials that never enter the sandbox.

``STRATUS_SANDBOX=off`` runs the bootstrap as a plain child process, for development on a
machine without bubblewrap; the worker and the dashboard warn about it.
"""

from __future__ import annotations

import os
import random
import resource
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

TASK_ROOT = "/var/task"
RUNTIME_DIR = "/var/runtime"
OPEN_FILES_MAX = 1024
PROCESSES_MAX = 1024
# Files from /etc that programs need for DNS, TLS and time zones; nothing else of /etc.
_ETC_FILES = (
    "resolv.conf",
    "hosts",
    "nsswitch.conf",
    "host.conf",
    "localtime",
    "ssl",
    "ca-certificates",
    "alternatives",
)
SANDBOX_UID_BASE = 20000
SANDBOX_UID_SPAN = 30000


class SandboxUnavailable(RuntimeError):
    pass


def sandbox_enabled() -> bool:
    return os.environ.get("STRATUS_SANDBOX", "on").lower() not in {"off", "0", "false", "no"}


def bwrap_path() -> str:
    found = shutil.which("bwrap")
    if not found:
        raise SandboxUnavailable(
            "bubblewrap (bwrap) is not installed. Install it (Debian/Ubuntu: `sudo apt-get install bubblewrap`), "
            "or set STRATUS_SANDBOX=off to run functions unsandboxed (development only)."
        )
    return found


@dataclass(frozen=True)
class SandboxSpec:
    command: list[str]  # what to run inside, with paths as seen inside
    environment: dict[str, str]
    code_dir: Path  # host path, mounted at /var/task
    runtime_dir: Path  # host path, mounted at /var/runtime
    extra_ro_binds: tuple[str, ...]  # host paths bound at the same path (an interpreter's prefix)
    tmp_size_mb: int
    memory_mb: int
    cgroup_procs: tuple[str, ...]  # cgroup.procs files the sandbox joins; empty without cgroups
    # A readable fd (passed to bwrap) whose contents become the sandbox's /etc/hosts instead
    # of the host's: it names the environment's Runtime API endpoint (see runtime_api.py).
    etc_hosts_fd: int | None = None


def _limits(memory_mb: int, has_cgroup: bool, cgroup_procs: tuple[str, ...]) -> Callable[[], None]:
    def apply() -> None:
        # Join the environment's cgroups before exec, so every process of the sandbox is
        # charged there from its first page on.
        for procs in cgroup_procs:
            with open(procs, "w") as handle:
                handle.write(str(os.getpid()))
        resource.setrlimit(resource.RLIMIT_NOFILE, (OPEN_FILES_MAX, OPEN_FILES_MAX))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if not has_cgroup:
            # Without a memory cgroup, cap the address space instead; interpreters reserve
            # more virtual memory than they touch, hence the headroom.
            limit = (memory_mb + 512) * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            # And bound processes with RLIMIT_NPROC, which counts per uid: each sandbox gets
            # a uid of its own, so this is per environment (root, before setpriv, is exempt).
            resource.setrlimit(resource.RLIMIT_NPROC, (PROCESSES_MAX, PROCESSES_MAX))

    return apply


def sandbox_command(spec: SandboxSpec) -> tuple[list[str], dict[str, str], Callable[[], None], str | None]:
    """Return (argv, environment, preexec function, working directory) for ``subprocess.Popen``."""
    preexec = _limits(spec.memory_mb, bool(spec.cgroup_procs), spec.cgroup_procs)
    if not sandbox_enabled():
        return _unsandboxed(spec), spec.environment, preexec, str(spec.code_dir)
    argv = [
        bwrap_path(),
        "--die-with-parent",
        "--new-session",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--hostname",
        "stratus-sandbox",
        "--ro-bind",
        "/usr",
        "/usr",
    ]
    # Directories bwrap creates on the way to a mount point would be 0700 (root's); the
    # unprivileged uid inside must be able to walk through them.
    for directory in _ancestors(["/etc/x", f"{RUNTIME_DIR}", f"{TASK_ROOT}", *spec.extra_ro_binds]):
        argv += ["--perms", "0755", "--dir", directory]
    for name in ("bin", "sbin", "lib", "lib64", "lib32", "libx32"):
        path = Path("/") / name
        if path.is_symlink():
            argv += ["--symlink", os.readlink(path), f"/{name}"]
        elif path.is_dir():
            argv += ["--ro-bind", str(path), f"/{name}"]
    for name in _ETC_FILES:
        if name == "hosts" and spec.etc_hosts_fd is not None:
            # bwrap copies it into a file of its own; 0444 so the unprivileged uid can read it.
            argv += ["--perms", "0444", "--ro-bind-data", str(spec.etc_hosts_fd), "/etc/hosts"]
        else:
            argv += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    for path in spec.extra_ro_binds:
        argv += ["--ro-bind", path, path]
    argv += [
        "--ro-bind",
        str(spec.runtime_dir),
        RUNTIME_DIR,
        "--ro-bind",
        str(spec.code_dir),
        TASK_ROOT,
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--size",
        str(spec.tmp_size_mb * 1024 * 1024),
        "--perms",
        "1777",
        "--tmpfs",
        "/tmp",
        "--chdir",
        TASK_ROOT,
    ]
    uid = SANDBOX_UID_BASE + random.randrange(SANDBOX_UID_SPAN)
    if os.geteuid() == 0:
        # bwrap runs privileged to set up the mounts; setpriv then becomes an unprivileged
        # uid with no capabilities before anything of the function's runs.
        argv += [
            "--",
            "setpriv",
            f"--reuid={uid}",
            f"--regid={uid}",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--no-new-privs",
            "--",
        ]
    else:
        argv += [
            "--unshare-user",
            "--uid",
            str(uid),
            "--gid",
            str(uid),
            "--disable-userns",
            "--cap-drop",
            "ALL",
            "--",
        ]
    return argv + spec.command, spec.environment, preexec, None


def _ancestors(paths: list[str]) -> list[str]:
    """Every proper ancestor directory of ``paths`` (not /), parents first, once each."""
    seen: list[str] = []
    for path in paths:
        parts = Path(path).parts[1:-1]
        for depth in range(1, len(parts) + 1):
            directory = "/" + "/".join(parts[:depth])
            if directory not in seen:
                seen.append(directory)
    return seen


def _unsandboxed(spec: SandboxSpec) -> list[str]:
    """The same command with /var/task and /var/runtime replaced by the host paths."""

    def host(arg: str) -> str:
        if arg.startswith(TASK_ROOT):
            return str(spec.code_dir) + arg[len(TASK_ROOT) :]
        if arg.startswith(RUNTIME_DIR):
            return str(spec.runtime_dir) + arg[len(RUNTIME_DIR) :]
        return arg

    return [host(arg) for arg in spec.command]
