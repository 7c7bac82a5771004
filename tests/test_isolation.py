"""What a function can see and do from inside its sandbox, checked from inside real functions.

Each test asks a probe function (a Python handler with one action per check) to look around
from the inside, and asserts on what it reports: the processes, the identity and
capabilities, the files, the environment, other functions' code and /tmp, and the limits on processes and ephemeral storage.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings

from functions_app.runtime.languages import runtime_get
from tests.conftest import ROOT, make_zip

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("stratus_workers")]

PROBE_PY = r'''
import errno, os, socket, time

MARKER = "%(marker)s"


def identity(event):
    status = {}
    with open("/proc/self/status") as handle:
        for line in handle:
            key, _, value = line.partition(":")
            status[key] = value.strip()
    with open("/proc/1/cmdline", "rb") as handle:
        init = [part.decode() for part in handle.read().split(b"\0") if part]
    try:
        os.setuid(0)
        became_root = True
    except PermissionError:
        became_root = False
    return {
        "pid": os.getpid(),
        "pids": sorted(int(entry) for entry in os.listdir("/proc") if entry.isdigit()),
        "init": init,
        "uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid(),
        "caps": {key: int(status[key], 16) for key in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")},
        "no_new_privs": status.get("NoNewPrivs"),
        "became_root": became_root,
        "hostname": socket.gethostname(),
    }


def paths(event):
    return {
        "exists": {path: os.path.exists(path) for path in event["paths"]},
        "root_listing": sorted(os.listdir("/root")) if os.path.isdir("/root") else None,
    }


def environment(event):
    return {"environ": dict(os.environ)}


def search(event):
    """Every place under ``roots`` (and every process's root) where ``needle`` shows up."""
    needle = event["needle"].encode()
    found, looked = [], 0
    roots = list(event["roots"])
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            roots.append(f"/proc/{entry}/root/var/task")
            roots.append(f"/proc/{entry}/root/tmp")
            for name in ("cmdline", "environ"):
                roots.append(f"/proc/{entry}/{name}")
    for root in roots:
        candidates = [root] if os.path.isfile(root) else [
            os.path.join(directory, name)
            for directory, _, names in os.walk(root)
            for name in names
        ]
        for path in candidates:
            try:
                with open(path, "rb") as handle:
                    looked += 1
                    if needle in handle.read(1 << 20):
                        found.append(path)
            except OSError:
                pass
    return {"found": sorted(set(found)), "looked": looked}


def write_task(event):
    try:
        with open("/var/task/planted.py", "w") as handle:
            handle.write("x = 1\n")
    except OSError as exc:
        return {"error": errno.errorcode[exc.errno]}
    return {"error": None}


def tmp(event):
    try:
        with open("/tmp/marker") as handle:
            found = handle.read()
    except FileNotFoundError:
        found = None
    if event.get("write"):
        with open("/tmp/marker", "w") as handle:
            handle.write(event["write"])
    return {"found": found, "listing": sorted(os.listdir("/tmp")),
            "environment": os.environ["AWS_LAMBDA_LOG_STREAM_NAME"]}


def fork_bomb(event):
    # Children block on a pipe until every fork has been tried, so none exits and frees its
    # slot while the loop still runs.
    gate_read, gate_write = os.pipe()
    children, errors = [], set()
    for _ in range(event["attempts"]):
        try:
            pid = os.fork()
        except OSError as exc:
            errors.add(errno.errorcode[exc.errno])
            continue
        if pid == 0:
            os.close(gate_write)
            os.read(gate_read, 1)
            os._exit(0)
        children.append(pid)
    os.close(gate_write)
    for pid in children:
        os.waitpid(pid, 0)
    os.close(gate_read)
    return {"started": len(children), "errors": sorted(errors)}


def fill_tmp(event):
    chunk = b"\xa5" * (8 * 1024 * 1024)
    written, error = 0, None
    descriptor = os.open("/tmp/filler", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        while written < event["give_up_after"]:
            written += os.write(descriptor, chunk)
    except OSError as exc:
        error = errno.errorcode[exc.errno]
    finally:
        os.close(descriptor)
    stats = os.statvfs("/tmp")
    return {"written": written, "error": error, "size": stats.f_blocks * stats.f_frsize,
            "environment": os.environ["AWS_LAMBDA_LOG_STREAM_NAME"]}


def clear_tmp(event):
    os.remove("/tmp/filler")
    stats = os.statvfs("/tmp")
    return {"free": stats.f_bavail * stats.f_frsize, "environment": os.environ["AWS_LAMBDA_LOG_STREAM_NAME"]}


def handler(event, context):
    return globals()[event["check"]](event)
'''


def _probe_zip(marker: str = "") -> bytes:
    return make_zip({"lambda_function.py": PROBE_PY % {"marker": marker}})


def _ask(client, name: str, check: str, **event) -> dict:
    response = client.invoke(FunctionName=name, Payload=json.dumps({"check": check, **event}).encode())
    body = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, body
    return body


@pytest.fixture
def probe(create_function):
    """Create a probe function; returns its name."""

    def create(name: str = "probe", *, marker: str = "", **overrides) -> str:
        create_function(name, Code={"ZipFile": _probe_zip(marker)}, **{"Timeout": 10, **overrides})
        return name

    return create


def test_it_runs_the_function_as_an_unprivileged_process_in_its_own_pid_namespace(lambda_client, probe):
    seen = _ask(lambda_client, probe(), "identity")
    # PID 1 is bubblewrap's init inside the sandbox, not the host's systemd or init.
    assert Path(seen["init"][0]).name == "bwrap", seen["init"]
    assert seen["pid"] < 10
    assert max(seen["pids"]) < 10, seen["pids"]
    assert seen["uid"] != 0 and seen["euid"] != 0 and seen["gid"] != 0
    assert seen["caps"] == {"CapInh": 0, "CapPrm": 0, "CapEff": 0, "CapBnd": 0, "CapAmb": 0}
    assert seen["no_new_privs"] == "1"
    assert seen["became_root"] is False
    assert seen["hostname"] == "stratus-sandbox"


def test_it_hides_the_platforms_files_and_the_hosts_home(lambda_client, probe, python_runtime):
    data_dir = Path(settings.DATA_DIR)
    # The runtime's interpreter may be installed under a home directory (pyenv); the sandbox
    # then shows that installation, read-only, and nothing else of the home.
    prefix = Path(runtime_get(python_runtime).prefix or "/usr")
    home = Path.home()
    private = (
        [str(path) for path in home.iterdir() if not prefix.is_relative_to(path)] if home.is_dir() else []
    )
    hidden = [
        str(data_dir),
        str(data_dir / "worker-cache"),
        str(ROOT),
        str(ROOT / "manage.py"),
        str(ROOT / "dashboard" / "settings.py"),
        *private,
    ]
    seen = _ask(lambda_client, probe(), "paths", paths=[*hidden, "/var/task/lambda_function.py", "/usr/bin"])
    assert {path for path, exists in seen["exists"].items() if exists} == {
        "/var/task/lambda_function.py",
        "/usr/bin",
    }
    root_home = Path("/root")
    if prefix.is_relative_to(root_home):
        assert seen["root_listing"] == [prefix.relative_to(root_home).parts[0]]
    else:
        assert seen["root_listing"] is None


def test_it_gives_the_function_no_platform_secret_in_its_environment(lambda_client, probe):
    environ = _ask(lambda_client, probe(), "environment")["environ"]
    assert environ["AWS_LAMBDA_FUNCTION_NAME"] == "probe"  # it is the function's environment
    for name in ("REDIS_URL", "DATABASE_URL", "SECRET_KEY", "STRATUS_DATA_DIR", "DJANGO_SETTINGS_MODULE"):
        assert name not in environ
    redis_password = urlsplit(settings.REDIS_URL).password
    assert redis_password
    for value in environ.values():
        assert settings.SECRET_KEY not in value
        assert redis_password not in value
        assert str(settings.DATA_DIR) not in value


def test_it_keeps_one_functions_code_from_another(lambda_client, probe):
    secret = f"secret-{secrets.token_hex(12)}"
    victim = probe("victim", marker=secret)
    # The victim's environment is running while the other function looks.
    assert _ask(lambda_client, victim, "tmp", write=secret)["found"] is None
    own = f"own-{secrets.token_hex(12)}"
    snoop = probe("snoop", marker=own)
    code_cache = str(Path(settings.DATA_DIR) / "worker-cache")
    roots = ["/var/task", "/tmp", "/var/runtime", code_cache, str(Path(settings.DATA_DIR) / "artifacts")]
    looked = _ask(lambda_client, snoop, "search", needle=secret, roots=roots)
    assert looked["found"] == []
    # The same search does find what it can legitimately see: its own code.
    looked = _ask(lambda_client, snoop, "search", needle=own, roots=roots)
    assert "/var/task/lambda_function.py" in looked["found"]


def test_it_mounts_the_code_read_only(lambda_client, probe):
    assert _ask(lambda_client, probe(), "write_task")["error"] == "EROFS"


def test_it_keeps_tmp_for_warm_invokes_of_one_function_only(lambda_client, probe):
    first = _ask(lambda_client, probe("tmp-owner"), "tmp", write="left by tmp-owner")
    assert first["found"] is None
    later = [_ask(lambda_client, "tmp-owner", "tmp") for _ in range(3)]
    same_environment = [seen for seen in later if seen["environment"] == first["environment"]]
    assert same_environment, "no later call reused the first environment"
    assert all(seen["found"] == "left by tmp-owner" for seen in same_environment)
    other = _ask(lambda_client, probe("tmp-other"), "tmp")
    assert other["found"] is None
    assert "marker" not in other["listing"]


@pytest.mark.slow
def test_it_stops_a_fork_bomb_at_the_process_limit_and_harms_nothing_outside(lambda_client, probe):
    bomb = probe("fork-bomb", MemorySize=1024, Timeout=30)
    outcome = _ask(lambda_client, bomb, "fork_bomb", attempts=2000)
    # pids.max is 1024 for the whole environment, the runtime's own processes included.
    assert 500 < outcome["started"] < 1100, outcome
    assert outcome["errors"] == ["EAGAIN"]
    # The host and other functions carry on.
    host = subprocess.run([sys.executable, "-c", "print('host ok')"], capture_output=True, timeout=30)
    assert host.stdout == b"host ok\n"
    assert _ask(lambda_client, probe("after-bomb"), "write_task")["error"] == "EROFS"
    # So does the environment itself, once its children are gone.
    assert _ask(lambda_client, bomb, "fork_bomb", attempts=5) == {"started": 5, "errors": []}


@pytest.mark.slow
def test_it_stops_a_disk_filling_write_at_the_ephemeral_storage_size(lambda_client, probe):
    filler = probe("tmp-filler", MemorySize=1024, Timeout=30, EphemeralStorage={"Size": 512})
    outcome = _ask(lambda_client, filler, "fill_tmp", give_up_after=1024 * 1024 * 1024)
    assert outcome["error"] == "ENOSPC"
    # A filesystem of 512 MB, less its own bookkeeping (on disk) or nothing (as a tmpfs).
    assert 490 * 1024 * 1024 < outcome["size"] <= 512 * 1024 * 1024
    assert 480 * 1024 * 1024 < outcome["written"] <= 512 * 1024 * 1024
    # The environment still works, and its /tmp frees up again.
    cleared = _ask(lambda_client, filler, "clear_tmp")
    assert cleared["free"] > 480 * 1024 * 1024
    assert _ask(lambda_client, probe("after-fill"), "write_task")["error"] == "EROFS"
