"""`make run`'s command: the whole stack in the foreground, and Ctrl-C stops all of it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from dashboard.managed_redis import free_port

ROOT = Path(__file__).resolve().parent.parent


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    found, pending = set(), [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            found.add(child)
            pending.append(child)
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
def test_it_runs_server_redis_and_workers_and_ctrl_c_stops_every_one(tmp_path):
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"REDIS_URL", "DATABASE_URL", "SECRET_KEY"}
    }
    env.update(
        STRATUS_DATA_DIR=str(tmp_path / "data"), PORT=str(port), DJANGO_SUPERUSER_PASSWORD="s3cret-pass"
    )
    process = subprocess.Popen(
        [sys.executable, "manage.py", "runstratus"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stdout.read().decode()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
                    health = json.loads(response.read())
                break
            except OSError:
                assert time.monotonic() < deadline, "the server did not come up"
                time.sleep(0.2)
        assert health["database"]["status"] == "ok"
        assert health["redis"] == {**health["redis"], "status": "ok", "managed": True}
        deadline = time.monotonic() + 20
        while True:
            started = _descendants(process.pid)
            workers = [pid for pid in started if "stratus_worker" in _cmdline(pid)]
            if workers:  # make run starts one host process
                break
            assert time.monotonic() < deadline, "workers did not start"
            time.sleep(0.2)
        assert any("redis-server" in _cmdline(pid) for pid in started)
        assert any("uvicorn" in _cmdline(pid) for pid in started)
        for command in ("stratus_consumer", "stratus_scheduler", "stratus_poller"):
            assert any(command in _cmdline(pid) for pid in started), f"{command} is not running"
        deadline = time.monotonic() + 20
        while True:  # the scheduler and the poller mark themselves alive once they are going
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
                health = json.loads(response.read())
            if health["schedulers"]["alive"] >= 1 and health["pollers"]["alive"] >= 1:
                break
            assert time.monotonic() < deadline, f"no scheduler or poller reported in: {health}"
            time.sleep(0.3)
        # The managed Redis asks for a password and listens on loopback only.
        redis_conf = (tmp_path / "data" / "redis" / "redis.conf").read_text()
        assert (
            "bind 127.0.0.1" in redis_conf and "requirepass" in redis_conf and "appendonly yes" in redis_conf
        )
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=60)[0].decode()
        assert "Stratus is running at" in output
        assert "with the password from DJANGO_SUPERUSER_PASSWORD" in output
        time.sleep(0.5)
        assert [pid for pid in started if _alive(pid)] == []
    finally:
        if process.poll() is None:
            process.kill()


def _run_refused(tmp_path, **variables: str) -> str:
    """What `make run` says when it refuses to start with ``variables``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"REDIS_URL", "DATABASE_URL", "SECRET_KEY", "STRATUS_ROLE"}
    }
    env.update(STRATUS_DATA_DIR=str(tmp_path / "data"), **variables)
    result = subprocess.run(
        [sys.executable, "manage.py", "runstratus"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0, result.stdout
    return result.stderr


def test_a_worker_host_is_refused_without_what_it_shares_with_the_api_host(tmp_path):
    message = _run_refused(tmp_path, STRATUS_ROLE="worker")
    assert "set REDIS_URL (or REDIS_SENTINELS), DATABASE_URL, SECRET_KEY" in message
    assert not (tmp_path / "data" / "stratus.sqlite3").exists()  # it migrated no database of its own


def test_an_unknown_role_is_refused(tmp_path):
    assert "unknown role web" in _run_refused(tmp_path, STRATUS_ROLE="api,web")
