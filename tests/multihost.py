"""Three Stratus hosts on one machine, as three machines would be: a harness for
``tests/test_multihost.py``.

Each host is a network namespace (``str-api``, ``str-w1``, ``str-w2``) at the end of a veth
pair on the bridge ``strbr0``; the root namespace holds the bridge's addresses, 10.77.0.1
(Redis) and 10.77.0.254 (PostgreSQL), so the hosts share nothing but those two. Each host
runs ``manage.py runstratus`` (what ``make run`` runs) with a data dir of its own, a host name
of its own (its UTS namespace) and its ``STRATUS_ROLE``.

Hosts enter their namespace with ``nsenter --net`` rather than ``ip netns exec``: the latter
also remounts ``/sys`` for the namespace, which hides ``/sys/fs/cgroup`` (the mount under it
is not carried over), and a host without cgroups runs its sandboxes without memory limits or
freezer. A machine is a network namespace and a host name here, not a mount namespace.

Everything the harness makes is recorded in a state file as it is made, so a run that was
killed half-way is cleaned up by the next one; a lock keeps two runs apart (the names are
fixed).
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.conftest import wait_until

ROOT = Path(__file__).resolve().parent.parent

BRIDGE = "strbr0"
SUBNET = "10.77.0.0/24"
GATEWAY = "10.77.0.1"  # Redis listens here
DB_ADDRESS = "10.77.0.254"  # and PostgreSQL here, both in the root namespace
HOSTS = {"str-api": "10.77.0.2", "str-w1": "10.77.0.3", "str-w2": "10.77.0.4"}
VETHS = {"str-api": "strv-api", "str-w1": "strv-w1", "str-w2": "strv-w2"}
API_PORT = 8000
API_URL = f"http://{HOSTS['str-api']}:{API_PORT}"
PG_USER = "nobody"  # initdb refuses root; the cluster belongs to this user

WORK = Path(tempfile.gettempdir()) / "stratus-multihost"
STATE = WORK / "state.json"
LOCK = WORK / "lock"


# ---- small helpers -----------------------------------------------------------------------


def wait_for(condition: Callable[[], Any], *, timeout: float, what: str, every: float = 0.2) -> Any:
    """``wait_until`` for conditions that may fail while the state is not there yet (a host
    still starting, a connection refused)."""
    return wait_until(condition, timeout=timeout, what=what, every=every, ignoring=(Exception,))


def _run(
    command: list[str], *, check: bool = True, timeout: float = 30, **kwargs
) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}): {result.stderr.strip()}")
    return result


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return _run(["ip", *args], check=check)


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state first), or None if gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def start_time(pid: int) -> str | None:
    fields = _stat(pid)
    return fields[19] if fields else None  # field 22 of stat, counted from the state (3)


def alive(pid: int) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields:
                children.setdefault(int(fields[1]), []).append(int(entry))
    found: set[int] = set()
    pending = [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            if child not in found:
                found.add(child)
                pending.append(child)
    return found


def netns_pids(name: str) -> set[int]:
    result = ip("netns", "pids", name, check=False)
    return {int(line) for line in result.stdout.split() if line.strip().isdigit()}


def kill(pids: set[int], signum: int = signal.SIGKILL) -> None:
    for pid in pids:
        if pid == os.getpid():
            continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signum)


def free_port(address: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


def tail(path: Path, lines: int = 60) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError as exc:
        return f"({path}: {exc})"
    return "\n".join(text[-lines:])


def postgres_binaries() -> tuple[str, str] | None:
    """``initdb`` and ``postgres`` from PATH, else from the newest /usr/lib/postgresql/*/bin."""
    initdb, postgres = shutil.which("initdb"), shutil.which("postgres")
    if initdb and postgres:
        return initdb, postgres
    for directory in sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda d: [int(p) for p in Path(d).parent.name.split(".") if p.isdigit()],
        reverse=True,
    ):
        initdb, postgres = f"{directory}/initdb", f"{directory}/postgres"
        if os.access(initdb, os.X_OK) and os.access(postgres, os.X_OK):
            return initdb, postgres
    return None


def missing_prerequisites() -> str | None:
    """Why this machine cannot run the harness, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, a bridge, veth pairs)"
    for command, package in (
        ("ip", "iproute2"),
        ("bwrap", "bubblewrap"),
        ("nsenter", "util-linux"),
        ("unshare", "util-linux"),
        ("redis-server", "redis-server"),
    ):
        if not shutil.which(command):
            return f"`{command}` is not installed (Debian: {package})"
    if postgres_binaries() is None:
        return "PostgreSQL's initdb and postgres are not on PATH nor in /usr/lib/postgresql/*/bin"
    try:
        pwd.getpwnam(PG_USER)
    except KeyError:
        return f"no user {PG_USER!r} to own a private PostgreSQL cluster (initdb refuses root)"
    return None


# ---- state of a run, for the next run to clean up after an aborted one -------------------


def _state_load() -> dict:
    try:
        return json.loads(STATE.read_text())
    except (OSError, ValueError):
        return {}


def _state_save(state: dict) -> None:
    temporary = STATE.with_suffix(".tmp")
    temporary.write_text(json.dumps(state))
    temporary.replace(STATE)


def network_down() -> None:
    for name in HOSTS:
        kill(netns_pids(name))
    for name in HOSTS:
        ip("netns", "del", name, check=False)
    for veth in VETHS.values():
        ip("link", "del", veth, check=False)
    ip("link", "del", BRIDGE, check=False)


def leftovers_clean() -> None:
    """What an aborted run left: its processes (recorded with their start times, so a reused
    pid is never hit), everything in its namespaces, the network, its directories."""
    state = _state_load()
    recorded = [(int(pid), started) for pid, started in state.get("processes", [])]
    for pid, started in recorded:
        if start_time(pid) == started:
            kill(descendants(pid) | {pid})
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)  # postgres and redis lead their own groups
    network_down()
    for directory in state.get("directories", []):
        shutil.rmtree(directory, ignore_errors=True)
    STATE.unlink(missing_ok=True)


# ---- the hosts -----------------------------------------------------------------------------


@dataclass
class Host:
    name: str  # network namespace and host name
    address: str
    role: str
    data_dir: Path
    log_path: Path
    env: dict[str, str]
    process: subprocess.Popen | None = None
    generation: int = 0
    pids_seen: set[int] = field(default_factory=set)

    @property
    def netns(self) -> str:
        return f"/run/netns/{self.name}"

    def command(self, *argv: str) -> list[str]:
        """``argv`` (a manage.py command line) run on this host: in its network namespace,
        with its own host name (a UTS namespace of its own)."""
        launcher = (
            "import os, socket, sys; socket.sethostname(sys.argv[1]); "
            "os.execv(sys.executable, [sys.executable, *sys.argv[2:]])"
        )
        return [
            "nsenter",
            f"--net={self.netns}",
            "--",
            "unshare",
            "--uts",
            "--",
            sys.executable,
            "-c",
            launcher,
            self.name,
            *argv,
        ]


class Cluster:
    """The bridge, the namespaces, PostgreSQL, Redis and the hosts; ``close()`` undoes all of it."""

    def __init__(self) -> None:
        WORK.mkdir(exist_ok=True)
        WORK.chmod(0o755)  # whatever the umask (Stratus sets 077): PostgreSQL's user passes through
        self._lock = open(LOCK, "w")  # noqa: SIM115 - held until close()
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise RuntimeError("another multi-host run holds " + str(LOCK)) from None
        leftovers_clean()
        self.base = Path(tempfile.mkdtemp(prefix="run-", dir=WORK))
        self.base.chmod(0o755)  # PostgreSQL's user must reach its directory below
        self.state: dict = {"processes": [], "directories": [str(self.base)]}
        _state_save(self.state)
        self.hosts: dict[str, Host] = {}
        self.secret_key = secrets.token_urlsafe(40)
        self.admin_password = secrets.token_urlsafe(12)
        self.redis_password = secrets.token_urlsafe(16)
        self.redis_process: subprocess.Popen | None = None
        self.postgres_process: subprocess.Popen | None = None
        self.redis_port = 0
        self.pg_port = 0
        self._logs: list[Path] = []

    # -- bookkeeping

    def _record(self, pid: int) -> None:
        self.state["processes"].append([pid, start_time(pid)])
        _state_save(self.state)

    # -- network

    def network_up(self) -> None:
        used = json.loads(ip("-j", "addr", "show").stdout or "[]")
        for interface in used:
            for info in interface.get("addr_info", []):
                if info.get("local", "").startswith("10.77.0."):
                    raise RuntimeError(
                        f"{info['local']} is already on {interface['ifname']}: {SUBNET} is taken on this machine"
                    )
        ip("link", "add", BRIDGE, "type", "bridge", "forward_delay", "0")
        ip("addr", "add", f"{GATEWAY}/24", "dev", BRIDGE)
        ip("addr", "add", f"{DB_ADDRESS}/24", "dev", BRIDGE)
        ip("link", "set", BRIDGE, "up")
        for name, address in HOSTS.items():
            ip("netns", "add", name)
            ip("link", "add", VETHS[name], "type", "veth", "peer", "name", "eth0", "netns", name)
            ip("link", "set", VETHS[name], "master", BRIDGE)
            ip("link", "set", VETHS[name], "up")
            ip("-n", name, "link", "set", "lo", "up")
            ip("-n", name, "addr", "add", f"{address}/24", "dev", "eth0")
            ip("-n", name, "link", "set", "eth0", "up")
            ip("-n", name, "route", "add", "default", "via", GATEWAY)

    def db_cut(self, host: str) -> None:
        """Drop everything ``host`` sends to PostgreSQL (Redis stays reachable)."""
        ip("-n", host, "route", "add", "blackhole", f"{DB_ADDRESS}/32")

    def db_heal(self, host: str) -> None:
        ip("-n", host, "route", "del", "blackhole", f"{DB_ADDRESS}/32")

    # -- PostgreSQL

    def postgres_start(self) -> None:
        binaries = postgres_binaries()
        assert binaries is not None
        initdb, postgres = binaries
        user = pwd.getpwnam(PG_USER)
        directory = self.base / "pg"
        directory.mkdir(mode=0o700)
        os.chown(directory, user.pw_uid, user.pw_gid)
        data = directory / "data"
        as_user = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": [], "cwd": directory}
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(directory), "LC_ALL": "C"}
        _run(
            [
                initdb,
                "-D",
                str(data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
            timeout=120,
            env=env,
            **as_user,
        )
        with open(data / "pg_hba.conf", "a") as hba:
            hba.write(f"host all all {SUBNET} trust\n")
        self.pg_port = free_port(DB_ADDRESS)
        log_path = self.base / "postgres.log"
        self._logs.append(log_path)
        log = open(log_path, "wb")  # noqa: SIM115 - the child holds it
        self.postgres_process = subprocess.Popen(
            [
                postgres,
                "-D",
                str(data),
                "-p",
                str(self.pg_port),
                "-c",
                f"listen_addresses={DB_ADDRESS}",
                "-c",
                f"unix_socket_directories={directory}",
                "-c",
                "max_connections=300",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            **as_user,
        )
        log.close()
        self._record(self.postgres_process.pid)

        def created() -> bool:
            assert self.postgres_process.poll() is None, f"postgres exited:\n{tail(log_path)}"
            import psycopg

            with psycopg.connect(self._pg_dsn("postgres"), autocommit=True) as connection:
                connection.execute("CREATE DATABASE stratus")
            return True

        wait_for(created, timeout=60, what="the private PostgreSQL answers")

    def _pg_dsn(self, database: str = "stratus") -> str:
        return f"host={DB_ADDRESS} port={self.pg_port} user=postgres dbname={database} connect_timeout=5"

    @property
    def database_url(self) -> str:
        return f"postgres://postgres@{DB_ADDRESS}:{self.pg_port}/stratus?connect_timeout=5"

    def sql(self, query: str, params: tuple | list | None = None) -> list[tuple]:
        import psycopg

        with psycopg.connect(self._pg_dsn(), autocommit=True) as connection:
            return connection.execute(query, params).fetchall()

    # -- Redis

    @property
    def redis_url(self) -> str:
        return f"redis://:{self.redis_password}@{GATEWAY}:{self.redis_port}/0"

    def redis_start(self) -> None:
        """A Redis with nothing on disk (no RDB, no AOF): a restart starts it empty."""
        directory = self.base / "redis"
        directory.mkdir(mode=0o700, exist_ok=True)
        if not self.redis_port:
            self.redis_port = free_port(GATEWAY)
        log_path = self.base / "redis.log"
        if log_path not in self._logs:
            self._logs.append(log_path)
        log = open(log_path, "ab")  # noqa: SIM115 - the child holds it
        self.redis_process = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--bind",
                GATEWAY,
                "--port",
                str(self.redis_port),
                "--protected-mode",
                "no",
                "--requirepass",
                self.redis_password,
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(directory),
                "--daemonize",
                "no",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self._record(self.redis_process.pid)
        import redis

        def pong() -> bool:
            assert self.redis_process.poll() is None, f"redis-server exited:\n{tail(log_path)}"
            return bool(
                redis.Redis.from_url(self.redis_url, socket_timeout=2, socket_connect_timeout=2).ping()
            )

        wait_for(pong, timeout=30, what="the private Redis answers")

    def redis_kill(self) -> None:
        if self.redis_process is not None and self.redis_process.poll() is None:
            self.redis_process.kill()
            self.redis_process.wait(timeout=30)

    # -- hosts

    def host_add(self, name: str, role: str, **extra: str) -> Host:
        directory = self.base / "hosts" / name
        directory.mkdir(parents=True, mode=0o700)
        data_dir = directory / "data"
        env = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"),
            "HOME": str(directory),
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
            "STRATUS_ROLE": role,
            "STRATUS_DATA_DIR": str(data_dir),
            "SECRET_KEY": self.secret_key,
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            # Where functions' SDK calls go: the API host.
            "STRATUS_API_URL": API_URL,
            # Functions reach no machine of this network (Redis and PostgreSQL are on it).
            "STRATUS_SANDBOX_DENY_CIDRS": SUBNET,
            **extra,
        }
        host = Host(name, HOSTS[name], role, data_dir, directory / "runstratus.log", env)
        self.hosts[name] = host
        self._logs.append(host.log_path)
        return host

    def host_start(self, name: str) -> Host:
        host = self.hosts[name]
        assert host.process is None or host.process.poll() is not None, f"{name} is running"
        host.generation += 1
        log = open(host.log_path, "ab")  # noqa: SIM115 - the child holds it
        log.write(f"\n==== {name} start #{host.generation} at {time.strftime('%H:%M:%S')} ====\n".encode())
        log.flush()
        host.process = subprocess.Popen(
            host.command("manage.py", "runstratus"),
            cwd=ROOT,
            env=host.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self._record(host.process.pid)
        return host

    def host_exec(self, name: str, *argv: str, timeout: float = 120) -> str:
        """A manage.py command run on host ``name`` (its namespace, its environment); its stdout."""
        host = self.hosts[name]
        result = _run(host.command("manage.py", *argv), timeout=timeout, cwd=ROOT, env=host.env)
        return result.stdout

    def host_pids(self, name: str) -> set[int]:
        """Every live process of a host: its runstratus, what that started (the supervisor
        starts each child in a session of its own, so not one process group) and anything
        else in its network namespace."""
        host = self.hosts[name]
        pids = netns_pids(name)
        if host.process is not None:
            pids |= descendants(host.process.pid) | {host.process.pid}
        return {pid for pid in pids if alive(pid) and pid != os.getpid()}

    def host_kill(self, name: str) -> set[int]:
        """SIGKILL every process of host ``name`` at once, as a power cut would; returns them.

        Sandbox processes frozen under cgroup v1's freezer do not die until thawed; they are
        in namespaces of their own and are the business of the product's orphan reaper, so
        only the host's runstratus and its network namespace must be empty here."""
        host = self.hosts[name]
        killed: set[int] = set()

        def all_dead() -> bool:  # kills again whatever started meanwhile (a restart, a fork)
            pids = self.host_pids(name)
            kill(pids)
            killed.update(pids)
            if host.process is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    host.process.wait(timeout=0.2)
            remaining = netns_pids(name) | (
                {host.process.pid} if host.process and host.process.poll() is None else set()
            )
            return not {pid for pid in remaining if alive(pid)}

        wait_until(all_dead, timeout=20, what=f"every process of {name} dying of SIGKILL")
        return killed

    def host_stop(self, name: str, *, grace: float = 30) -> None:
        """SIGTERM (what Ctrl-C does), then SIGKILL whatever is left after ``grace`` seconds."""
        host = self.hosts[name]
        if host.process is not None and host.process.poll() is None:
            host.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                host.process.wait(timeout=grace)
        if self.host_pids(name):
            self.host_kill(name)

    # -- the API host, from the test process (the root namespace)

    def health(self, timeout: float = 5) -> dict:
        try:
            with urllib.request.urlopen(f"{API_URL}/healthz", timeout=timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:  # 503 still carries the report
            return json.loads(error.read())

    def worker_hosts(self) -> dict[str, list[str]]:
        """Live hosts in /healthz, grouped by the host they run on (``<hostname>-worker…``)."""
        grouped: dict[str, list[str]] = {}
        for entry in self.health().get("workers", {}).get("hosts", []):
            grouped.setdefault(host_of(entry["name"]), []).append(entry["name"])
        return grouped

    # -- diagnostics and teardown

    def logs(self, lines: int = 60) -> str:
        parts = []
        for path in self._logs:
            parts.append(
                f"----- {path.relative_to(self.base)} (last {lines} lines) -----\n{tail(path, lines)}"
            )
        return "\n".join(parts)

    def grep_logs(self, needle: str, limit: int = 20, *, host: str | None = None) -> list[str]:
        """The last ``limit`` lines containing ``needle`` of every log (of host ``host``'s only)."""
        found = []
        for path in self._logs:
            if host is not None and path != self.hosts[host].log_path:
                continue
            with contextlib.suppress(OSError):
                for line in path.read_text(errors="replace").splitlines():
                    if needle in line:
                        found.append(f"{path.parent.name}/{path.name}: {line}")
        return found[-limit:]

    def count_in_log(self, name: str, needle: str) -> int:
        """Lines of host ``name``'s log that contain ``needle``."""
        try:
            text = self.hosts[name].log_path.read_text(errors="replace")
        except OSError:
            return 0
        return sum(1 for line in text.splitlines() if needle in line)

    @contextlib.contextmanager
    def explained(self) -> Iterator[None]:
        """On any failure inside, print the tails of every log (pytest shows them with the failure)."""
        try:
            yield
        except BaseException:
            print(self.logs(), flush=True)
            raise

    def logs_keep(self) -> Path:
        """Copy every log out of the run's directory (which ``close()`` removes); returns where."""
        for old in sorted(WORK.glob("logs-*"))[:-4]:  # the newest few runs' logs are enough
            shutil.rmtree(old, ignore_errors=True)
        kept = WORK / f"logs-{time.strftime('%Y%m%d-%H%M%S')}"
        for path in self._logs:
            target = kept / path.relative_to(self.base)
            target.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(OSError):
                shutil.copyfile(path, target)
        return kept

    def close(self) -> None:
        try:
            for name in list(self.hosts):
                with contextlib.suppress(Exception):
                    self.host_stop(name, grace=20)
            if self.postgres_process is not None and self.postgres_process.poll() is None:
                self.postgres_process.send_signal(signal.SIGINT)  # fast shutdown
                try:
                    self.postgres_process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(self.postgres_process.pid, signal.SIGKILL)
            self.redis_kill()
            network_down()
            if os.environ.get("STRATUS_MULTIHOST_KEEP"):
                print(f"keeping {self.base} (STRATUS_MULTIHOST_KEEP)")
            else:
                shutil.rmtree(self.base, ignore_errors=True)
            STATE.unlink(missing_ok=True)
        finally:
            self._lock.close()


def host_of(worker: str) -> str:
    """``str-w1`` for a worker named ``str-w1-worker1-1234`` (host name, slot, pid)."""
    for name in sorted(HOSTS, key=len, reverse=True):
        if worker.startswith(name + "-"):
            return name
    return worker
