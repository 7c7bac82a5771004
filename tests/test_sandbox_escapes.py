"""The standing escape suite: what a hostile function tries, from inside real functions.

A Python function and a ``provided.al2023`` shell bootstrap try to reach services on the
host's loopback and on the host's own addresses (listeners this test starts), a test host in
a network namespace of its own (which they must reach), the Runtime API at 127.0.0.1:9001
and Stratus's API at AWS_ENDPOINT_URL (which they must reach); a background process
tries to run between invokes; processes try to outlive their environment's shutdown; the
kernel calls a container runtime refuses are tried; /tmp is filled to its size.

The data dir's modes and the encryption of environment variables are in
test_data_at_rest.py, zip bombs in test_zip_bombs.py, each blocked system call on its own
in test_seccomp.py, and awslambdaric in test_runtime_provided.py.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from pathlib import Path

import pytest

from functions_app.runtime.cgroups import cgroup_layout
from functions_app.runtime.netns import host_addresses
from tests.conftest import ROOT, make_zip, stratus_env, wait_until

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("stratus_workers"),
    pytest.mark.skipif(os.geteuid() != 0, reason="sandboxes get networks of their own only when run as root"),
]

PROBE_PY = r"""
import ctypes, errno, json, os, socket, subprocess, sys, time, urllib.error, urllib.request

libc = ctypes.CDLL(None, use_errno=True)


def connect(event):
    seen = {}
    for host, port in event["targets"]:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(2)
        try:
            sock.connect((host, port))
            sock.sendall(b"hello\n")
            seen[f"{host}:{port}"] = "open:" + sock.recv(100).decode()
        except OSError as exc:
            seen[f"{host}:{port}"] = errno.errorcode.get(exc.errno, "timeout") if exc.errno else "timeout"
        finally:
            sock.close()
    return seen


def doors(event):
    url = os.environ["AWS_ENDPOINT_URL"] + "/2015-03-31/functions/"
    try:
        urllib.request.urlopen(url, timeout=5)
        status, body = 200, ""
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read().decode()
    return {"runtime_api": os.environ["AWS_LAMBDA_RUNTIME_API"], "endpoint": os.environ["AWS_ENDPOINT_URL"],
            "status": status, "body": body}


def syscalls(event):
    def errno_of(result):
        return "ok" if result == 0 else errno.errorcode[ctypes.get_errno()]
    SYS_keyctl, SYS_bpf, SYS_add_key = 250, 321, 248
    return {
        "unshare_user": errno_of(libc.unshare(0x10000000)),
        "unshare_net": errno_of(libc.unshare(0x40000000)),
        "mount": errno_of(libc.mount(b"none", b"/tmp", b"tmpfs", 0, None)),
        "keyctl": errno_of(libc.syscall(SYS_keyctl, 0, 0, 0, 0, 0)),
        "add_key": errno_of(libc.syscall(SYS_add_key, b"user", b"k", b"v", 1, -3)),
        "bpf": errno_of(libc.syscall(SYS_bpf, 0, None, 0)),
    }


def background(event):
    # A detached process of the function's own, counting as fast as it can.
    code = "import time\nn = 0\nwhile True:\n    n += 1\n    open('/tmp/counter', 'w').write(str(n))\n    time.sleep(0.002)\n"
    subprocess.Popen([sys.executable, "-S", "-c", code], start_new_session=True,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 5
    while not os.path.exists("/tmp/counter") and time.monotonic() < deadline:
        time.sleep(0.01)
    return counter(event)


def counter(event):
    for _ in range(100):
        try:
            return {"count": int(open("/tmp/counter").read()), "stream": os.environ["AWS_LAMBDA_LOG_STREAM_NAME"]}
        except ValueError:
            time.sleep(0.005)  # caught mid-write


def linger(event):
    # Processes that try to outlive the environment: a new session (out of the process
    # group the worker kills) and a double fork (reparented away from the runtime).
    subprocess.Popen(["sleep", "1000"], start_new_session=True)
    subprocess.Popen(["sh", "-c", "(setsid sleep 1000 &) ; exit 0"])
    return {"stream": os.environ["AWS_LAMBDA_LOG_STREAM_NAME"]}


def fill_tmp(event):
    chunk = b"\x5a" * (4 * 1024 * 1024)
    written, error = 0, None
    descriptor = os.open("/tmp/filler", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        while written < event["size"]:
            written += os.write(descriptor, chunk)
        os.fsync(descriptor)
    except OSError as exc:
        error = errno.errorcode[exc.errno]
    finally:
        os.close(descriptor)
        if event.get("remove"):
            os.remove("/tmp/filler")
    return {"written": written, "error": error}


def handler(event, context):
    return globals()[event["check"]](event)
"""

# The same reachability checks from a custom runtime: a POSIX shell bootstrap speaking the
# Runtime API with curl, testing each target with bash's /dev/tcp.
SHELL_BOOTSTRAP = r"""#!/bin/bash
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
HEADERS="$(mktemp)"
while true; do
  EVENT="$(curl -sS -D "$HEADERS" "$API/invocation/next")"
  REQUEST_ID="$(grep -i '^lambda-runtime-aws-request-id:' "$HEADERS" | tr -d '\r' | cut -d' ' -f2)"
  RESULT=""
  for target in $(echo "$EVENT" | tr -d '"'); do
    host="${target%:*}"; port="${target##*:}"
    if timeout 3 bash -c "exec 3<>/dev/tcp/$host/$port" 2>/dev/null; then state=open; else state=closed; fi
    RESULT="$RESULT\"$target\":\"$state\","
  done
  curl -sS -X POST "$API/invocation/$REQUEST_ID/response" -d "{${RESULT%,}}" >/dev/null
done
"""


class _Listeners:
    """TCP listeners that answer "hi" and count who reached them."""

    def __init__(self) -> None:
        self.sockets: list[socket.socket] = []
        self.reached: list[str] = []
        self._stop = threading.Event()

    def listen(self, host: str, *, netns: str | None = None) -> tuple[str, int]:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, 0))
        listener.listen(16)
        listener.settimeout(0.2)
        self.sockets.append(listener)
        threading.Thread(target=self._serve, args=(listener, host), daemon=True).start()
        return host, listener.getsockname()[1]

    def _serve(self, listener: socket.socket, host: str) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            self.reached.append(host)
            with contextlib.suppress(OSError), connection:
                # Read the caller's greeting before answering and closing: closing with it
                # unread would reset the connection, and the reset can overtake the answer.
                connection.settimeout(2)
                connection.recv(100)
                connection.sendall(b"hi")

    def close(self) -> None:
        self._stop.set()
        for listener in self.sockets:
            listener.close()


@pytest.fixture
def listeners():
    started = _Listeners()
    yield started
    started.close()


@pytest.fixture
def probe(create_function):
    def create(name: str = "escape-probe", **overrides) -> str:
        create_function(
            name, Code={"ZipFile": make_zip({"lambda_function.py": PROBE_PY})}, Timeout=30, **overrides
        )
        return name

    return create


def _ask(client, name: str, check: str, **event) -> dict:
    response = client.invoke(FunctionName=name, Payload=json.dumps({"check": check, **event}).encode())
    body = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, body
    return body


def _host_targets(listeners: _Listeners) -> list[tuple[str, int]]:
    """A listener on the host's loopback (both families) and on each of its own addresses."""
    hosts = ["127.0.0.1", "127.0.0.2", *(["::1"] if socket.has_ipv6 else [])]
    hosts += [address for address in host_addresses() if not address.startswith("fe80")]
    targets = []
    for host in hosts:
        with contextlib.suppress(OSError):
            targets.append(listeners.listen(host))
    return targets


def test_it_keeps_a_python_function_from_every_service_on_the_host(lambda_client, probe, listeners):
    targets = _host_targets(listeners)
    assert len(targets) >= 3
    seen = _ask(lambda_client, probe(), "connect", targets=targets)
    assert not [target for target, state in seen.items() if state.startswith("open")], seen
    assert listeners.reached == []
    # The host can reach them itself, so they were there to be found.
    for host, port in targets:
        with socket.create_connection((host, port), timeout=5) as connection:
            connection.sendall(b"hello\n")
            assert connection.recv(10) == b"hi"


@pytest.mark.skipif(not Path("/usr/bin/curl").exists(), reason="curl is not installed on this host")
def test_it_keeps_a_custom_runtimes_shell_from_every_service_on_the_host(
    lambda_client, create_function, listeners
):
    targets = _host_targets(listeners)
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        info = zipfile.ZipInfo("bootstrap")
        info.external_attr = 0o755 << 16
        archive.writestr(info, SHELL_BOOTSTRAP)
    create_function("escape-shell", Runtime="provided.al2023", Handler="x", Code={"ZipFile": code.getvalue()})
    # The shell reads its event as words: host:port pairs (IPv6 in brackets is not needed here).
    words = " ".join(f"{host}:{port}" for host, port in targets if ":" not in host)
    response = lambda_client.invoke(FunctionName="escape-shell", Payload=json.dumps(words).encode())
    seen = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, seen
    assert seen and set(seen.values()) == {"closed"}, seen
    assert listeners.reached == []


def test_it_reaches_the_runtime_api_and_stratus_api_through_their_doors(lambda_client, probe):
    seen = _ask(lambda_client, probe(), "doors")
    assert seen["runtime_api"] == "127.0.0.1:9001"
    assert seen["endpoint"].startswith("http://127.0.0.1:")
    # An unsigned call reached Stratus's Lambda API, which answered in AWS's shape.
    assert seen["status"] == 403, seen
    assert "Missing Authentication Token" in seen["body"], seen["body"]


@pytest.fixture
def test_host(listeners):
    """A machine on the network: a TCP echo listener in a network namespace of its own, at
    the far end of a veth pair from the host."""
    if not shutil.which("ip"):
        pytest.skip("iproute2's ip is not installed")
    suffix = uuid.uuid4().hex[:6]
    name, veth, peer = f"stratus-peer-{suffix}", f"sp{suffix}", f"sq{suffix}"
    host_address, peer_address = "10.213.77.1", "10.213.77.2"

    def ip(*args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)

    ip("netns", "add", name)
    try:
        ip("link", "add", veth, "type", "veth", "peer", "name", peer)
        ip("link", "set", peer, "netns", name)
        ip("addr", "add", f"{host_address}/30", "dev", veth)
        ip("link", "set", veth, "up")
        ip("-n", name, "addr", "add", f"{peer_address}/30", "dev", peer)
        ip("-n", name, "link", "set", peer, "up")
        ip("-n", name, "link", "set", "lo", "up")
        server = subprocess.Popen(
            [
                "ip", "netns", "exec", name, sys.executable, "-c",
                "import socket\ns = socket.create_server(('0.0.0.0', 7777))\n"
                "while True:\n    c, _ = s.accept()\n    c.recv(100)\n    c.sendall(b'peer')\n    c.close()\n",
            ]
        )  # fmt: skip

        def answering() -> bool:
            try:
                with socket.create_connection((peer_address, 7777), timeout=1) as connection:
                    # Read before the reply and its close, so no reset can overtake it.
                    connection.sendall(b"hello\n")
                    return connection.recv(10) == b"peer"
            except OSError:
                return False

        wait_until(answering, timeout=10, what="the test host's listener")
        # The host's side of the link is one of the host's own addresses: closed to sandboxes.
        yield {"peer": (peer_address, 7777), "host": listeners.listen(host_address)}
        server.kill()
        server.wait()
    finally:
        subprocess.run(["ip", "link", "del", veth], capture_output=True, timeout=10)
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)


def test_it_lets_a_function_reach_other_machines_but_not_the_hosts_new_address(
    lambda_client, probe, test_host, listeners
):
    name = probe()
    peer, host = (f"{address}:{port}" for address, port in (test_host["peer"], test_host["host"]))

    def closed_to_the_host():
        seen = _ask(lambda_client, name, "connect", targets=[test_host["peer"], test_host["host"]])
        return seen if not seen[host].startswith("open") else None

    # Networks made before the host gained its new address learn of it within a few seconds.
    seen = wait_until(closed_to_the_host, timeout=15, what="the host's new address closed")
    assert seen[peer] == "open:peer", seen


def _environment_processes(stream: str) -> list[int]:
    """The host pids in the cgroup of the environment that wrote to log stream ``stream``."""
    environment_id = stream.rsplit("]", 1)[1]
    layout = cgroup_layout()
    assert layout is not None, "these tests need cgroups"
    pids: set[int] = set()
    for directory in layout.memory.glob(f"stratus-*-{environment_id}"):
        with contextlib.suppress(OSError):
            pids.update(int(pid) for pid in (directory / "cgroup.procs").read_text().split())
    return sorted(pids)


def _wait_gone(stream: str, seconds: float) -> list[int]:
    """The environment's processes still alive after waiting up to ``seconds`` for none."""
    with contextlib.suppress(AssertionError):
        wait_until(lambda: not _environment_processes(stream), timeout=seconds)
    return _environment_processes(stream)


def _cpu_ticks(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total


def test_it_freezes_the_environment_between_invokes(lambda_client, probe):
    name = probe()
    first = _ask(lambda_client, name, "background")
    processes = _environment_processes(first["stream"])
    assert len(processes) >= 3  # bwrap's init, the runtime, and the background counter
    ticks = _cpu_ticks(processes)
    started = time.monotonic()
    # Not a wait for a state but the span measured: a running counter (one write every 2 ms)
    # would count hundreds in it; a frozen one gets no CPU at all.
    while time.monotonic() - started < 1.0:
        time.sleep(0.1)
    assert _cpu_ticks(processes) - ticks <= 1
    second = _ask(lambda_client, name, "counter")
    assert second["stream"] == first["stream"]
    assert second["count"] - first["count"] < 25, (first, second)
    # During the next invoke it runs again.
    third = _ask(lambda_client, name, "background")
    assert third["count"] > second["count"]


@pytest.mark.parametrize("change", ["delete", "configuration", "code"])
def test_it_kills_every_process_of_an_environment_when_its_function_changes(lambda_client, probe, change):
    name = probe(f"linger-{change}")
    stream = _ask(lambda_client, name, "linger")["stream"]
    assert len(_environment_processes(stream)) >= 4  # the runtime, its init, and two escapees
    if change == "delete":
        lambda_client.delete_function(FunctionName=name)
    elif change == "configuration":
        lambda_client.update_function_configuration(FunctionName=name, MemorySize=256)
    else:
        code = make_zip({"lambda_function.py": PROBE_PY + "\n# changed\n"})
        lambda_client.update_function_code(FunctionName=name, ZipFile=code)
    assert _wait_gone(stream, 5.0) == []


# A process that holds one environment of a function on a pool of its own, as a worker
# does, prints its log stream, and then reaps idle environments until it is stopped.
POOL_HOST = """
import json, sys, time
import django
django.setup()
from django.conf import settings
from functions_app.hosting.specs import spec_load
from functions_app.runtime.pool import EnvironmentPool
from functions_app.runtime.spec import InvokeRequest
from functions_app.services.artifacts import artifact_copy
pool = EnvironmentPool(
    cache_root=settings.DATA_DIR / "worker-cache",
    idle_seconds=float(sys.argv[2]),
    memory_mb=4096,
    code_fetch=artifact_copy,
)
spec = spec_load(sys.argv[1], "$LATEST")
environment = pool.acquire(spec).environment
outcome = environment.invoke(
    InvokeRequest(request_id="r-1", payload=sys.argv[3].encode(), invoked_function_arn=spec.function_arn)
)
pool.release(environment)
print(outcome.payload.decode(), flush=True)
while True:
    pool.reap()
    time.sleep(0.2)
"""


def _pool_host(
    name: str, idle_seconds: float, log: Path, event: dict | None = None, **env: str
) -> tuple[subprocess.Popen, dict]:
    """The process, and what the function answered to ``event`` (by default: linger)."""
    process = subprocess.Popen(
        [sys.executable, "-c", POOL_HOST, name, str(idle_seconds), json.dumps(event or {"check": "linger"})],
        cwd=ROOT,
        env=stratus_env(DJANGO_SETTINGS_MODULE="dashboard.settings", **env),
        stdout=subprocess.PIPE,
        stderr=log.open("wb"),
        text=True,
    )
    answer = process.stdout.readline().strip() if process.stdout else ""
    assert answer, log.read_text()
    return process, json.loads(answer)


def test_it_kills_every_process_of_an_environment_that_idles_out(probe, tmp_path):
    process, answer = _pool_host(probe("linger-idle"), 1.0, tmp_path / "pool.log")
    stream = answer["stream"]
    try:
        assert len(_environment_processes(stream)) >= 4
        assert _wait_gone(stream, 10.0) == []
    finally:
        process.kill()
        process.wait()


@pytest.mark.slow
def test_it_kills_every_process_of_an_environment_whose_worker_is_sigkilled(probe, tmp_path):
    process, answer = _pool_host(probe("linger-sigkill"), 600.0, tmp_path / "pool.log")
    stream = answer["stream"]
    assert len(_environment_processes(stream)) >= 4
    # pasta runs as "passt.avx2" and the like where the CPU has AVX2.
    pasta = [pid for pid, command in _children(process.pid) if command.startswith("pas")]
    assert pasta, _children(process.pid)
    process.send_signal(signal.SIGKILL)
    process.wait()
    # The session's workers find what the dead one left (frozen, even) and kill it.
    assert _wait_gone(stream, 10.0) == []
    wait_until(
        lambda: not any(Path(f"/proc/{pid}").exists() for pid in pasta), timeout=5, what="its pastas gone"
    )


def _children(pid: int) -> list[tuple[int, str]]:
    """(pid, command name) of each child of ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append((int(entry.name), (entry / "comm").read_text().strip()))
    return found


def test_it_refuses_the_kernel_calls_a_container_runtime_refuses(lambda_client, probe):
    seen = _ask(lambda_client, probe(), "syscalls")
    assert seen == {
        "unshare_user": "EPERM",
        "unshare_net": "EPERM",
        "mount": "EPERM",
        "keyctl": "EPERM",
        "add_key": "EPERM",
        "bpf": "EPERM",
    }


@pytest.mark.slow
def test_it_gives_tmp_on_disk_to_its_size_not_charged_as_memory(lambda_client, probe):
    name = probe("tmp-disk", MemorySize=128, EphemeralStorage={"Size": 1024})
    # 600 MB in a 128 MB function: /tmp is disk, not memory.
    written = _ask(lambda_client, name, "fill_tmp", size=600 * 1024 * 1024, remove=True)
    assert written == {"written": 600 * 1024 * 1024, "error": None}
    # And no further than its size.
    full = _ask(lambda_client, name, "fill_tmp", size=2048 * 1024 * 1024)
    assert full["error"] == "ENOSPC"
    assert 900 * 1024 * 1024 < full["written"] <= 1024 * 1024 * 1024


def test_it_shows_no_host_path_of_the_data_dir_in_the_sandboxs_first_process(lambda_client, create_function):
    from django.conf import settings

    source = (
        "def read(path):\n"
        "    try:\n"
        "        return open(path, 'rb').read().decode(errors='replace')\n"
        "    except OSError as exc:\n"
        "        return exc.strerror\n"
        "def handler(event, context):\n"
        "    return {'cmdline': read('/proc/1/cmdline'), 'environ': read('/proc/1/environ')}\n"
    )
    create_function("cmdline", Code={"ZipFile": make_zip({"lambda_function.py": source})})
    seen = json.loads(lambda_client.invoke(FunctionName="cmdline")["Payload"].read())
    assert seen["cmdline"].startswith("/usr/bin/bwrap\0--args\0"), seen
    for text in (seen["cmdline"], seen["environ"]):
        assert str(settings.DATA_DIR) not in text
        assert str(ROOT) not in text


def test_it_closes_the_ranges_an_operator_denies(probe, tmp_path, test_network, listeners):
    if test_network is None:
        pytest.skip("needs the session's peer network (root)")
    peer = test_network.inside(lambda: listeners.listen(test_network.address))
    event = {"check": "connect", "targets": [peer]}
    name = probe("deny-cidrs")
    open_process, reached = _pool_host(name, 600.0, tmp_path / "open.log", event)
    open_process.kill()
    open_process.wait()
    assert reached[f"{peer[0]}:{peer[1]}"] == "open:hi", reached
    denied_process, refused = _pool_host(
        name, 600.0, tmp_path / "denied.log", event, STRATUS_SANDBOX_DENY_CIDRS=f"{test_network.address}/32"
    )
    denied_process.kill()
    denied_process.wait()
    assert refused[f"{peer[0]}:{peer[1]}"] == "EACCES", refused
