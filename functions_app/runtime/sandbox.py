"""The command line that starts one execution environment inside a bubblewrap sandbox.

Inside: its own mount, PID, IPC and UTS namespaces and, unless STRATUS_SANDBOX_NETWORK is
``host``, a network namespace of its own (netns.py); the host's base userland (/usr), the
runtime's interpreter and Stratus's bootstrap (/var/runtime) and the function's code
(/var/task) read-only; a private /tmp of the function's ephemeral-storage size, on disk
where it can be (tmp_volume.py); an unprivileged uid with no capabilities and a seccomp
filter (seccomp.py); only the environment variables it is given. bubblewrap reads its
arguments from a pipe, so the sandbox's /proc/1/cmdline shows none of the host's paths.

``STRATUS_SANDBOX=off`` runs the bootstrap as a plain child process, for development on a
machine without bubblewrap; the worker and the dashboard warn about it.
"""

from __future__ import annotations

import contextlib
import os
import random
import resource
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from functions_app.runtime.netns import netns_enter
from functions_app.runtime.seccomp import seccomp_fd
from functions_app.runtime.tmp_volume import mount_inside

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
    # (host path, sandbox path) pairs bound read-only: the AWS SDK of the runtime's language
    # (python_sdk.py, node_sdk.py).
    sdk_binds: tuple[tuple[str, str], ...] = ()
    netns_fd: int | None = None  # the network namespace to run in; None shares the host's
    tmp_device: str | None = None  # a loop device to mount as /tmp; None: a sized tmpfs
    tmp_mount_point: str | None = None  # an empty host directory to mount it on, privately


@dataclass
class Launch:
    """What ``subprocess.Popen`` needs to start the sandbox; close ``fds`` once it has."""

    argv: list[str]
    environment: dict[str, str]
    preexec: Callable[[], None]
    cwd: str | None
    fds: tuple[int, ...] = ()

    def close_fds(self) -> None:
        for fd in self.fds:
            with contextlib.suppress(OSError):
                os.close(fd)


def _limits(spec: SandboxSpec) -> Callable[[], None]:
    memory_mb, cgroup_procs = spec.memory_mb, spec.cgroup_procs
    has_cgroup = bool(cgroup_procs)

    def apply() -> None:
        # Join the environment's cgroups before exec, so every process of the sandbox is
        # charged there from its first page on.
        for procs in cgroup_procs:
            with open(procs, "w") as handle:
                handle.write(str(os.getpid()))
        os.umask(0o022)  # the platform's own 077 is not the function's business
        if spec.netns_fd is not None:
            netns_enter(spec.netns_fd)
        if spec.tmp_device is not None and spec.tmp_mount_point is not None:
            mount_inside(spec.tmp_device, spec.tmp_mount_point)
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


def sandbox_command(spec: SandboxSpec) -> Launch:
    """How to start ``spec``'s sandbox (or, with STRATUS_SANDBOX=off, the plain process)."""
    preexec = _limits(spec)
    if not sandbox_enabled():
        return Launch(_unsandboxed(spec), spec.environment, preexec, str(spec.code_dir))
    fds: list[int] = []
    argv = [
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
    targets = [target for _, target in spec.sdk_binds]
    for directory in _ancestors(["/etc/x", f"{RUNTIME_DIR}", f"{TASK_ROOT}", *spec.extra_ro_binds, *targets]):
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
    for bind in spec.extra_ro_binds:
        argv += ["--ro-bind", bind, bind]
    for source, target in spec.sdk_binds:
        argv += ["--ro-bind", source, target]
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
    ]
    if spec.tmp_device is not None and spec.tmp_mount_point is not None:
        argv += ["--bind", spec.tmp_mount_point, "/tmp"]
    else:
        argv += ["--size", str(spec.tmp_size_mb * 1024 * 1024), "--perms", "1777", "--tmpfs", "/tmp"]
    argv += ["--chdir", TASK_ROOT]
    seccomp = seccomp_fd()
    fds.append(seccomp)
    argv += ["--seccomp", str(seccomp)]
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
    if spec.etc_hosts_fd is not None:
        fds.append(spec.etc_hosts_fd)
    # The options (with every host path in them) go through a pipe; only the command, in
    # the sandbox's own paths, stays on the command line that /proc/1/cmdline shows.
    separator = argv.index("--")
    arguments = _arguments_pipe(argv[:separator])
    fds.append(arguments)
    command = [bwrap_path(), "--args", str(arguments), *argv[separator:], *spec.command]
    return Launch(command, spec.environment, preexec, None, tuple(fds))


def _arguments_pipe(argv: list[str]) -> int:
    """The read end of a pipe holding ``argv`` NUL-separated, for bwrap's ``--args``."""
    data = b"".join(arg.encode() + b"\0" for arg in argv)
    read_fd, write_fd = os.pipe()
    try:
        if len(data) > 60000:  # a pipe holds 64 KB; never block on our own pipe
            raise SandboxUnavailable("the sandbox's command line is too long")
        os.write(write_fd, data)
    finally:
        os.close(write_fd)
    return read_fd


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
