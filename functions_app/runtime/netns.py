"""A network of its own for every execution environment.

``STRATUS_SANDBOX_NETWORK`` chooses what a sandbox's network is:

- ``isolated`` (the default): a network namespace of its own. Outbound traffic to other
  machines goes through ``pasta`` (Debian's ``passt``), a user-space network stack attached
  to the namespace. Inside, 127.0.0.1 and ::1 are the namespace's own loopback, so none of
  the host's loopback services can be reached; every other address of the host's own
  interfaces, 169.254.0.0/16 and the operator's ``STRATUS_SANDBOX_DENY_CIDRS`` are
  ``prohibit`` routes inside the namespace, which the sandbox's unprivileged uid cannot
  change. pasta is started with no port forwarding and without mapping the gateway to the
  host (``--no-map-gw``).
- ``none``: the same namespace with only its loopback: no network at all.
- ``host``: the host's network, shared (development only; the worker and the dashboard
  warn about it).

In ``isolated`` and ``none`` modes the worker reaches into the namespace on purpose through
two doors, which are listening sockets it creates inside the namespace itself (a socket
belongs to the namespace it was made in, whichever process then accepts on it): the
Runtime API at ``127.0.0.1:9001``, exactly as on AWS, and Stratus's own API at
``127.0.0.1:<port>``, relayed to ``STRATUS_API_URL`` (``api_door.py``). Neither is on the
user-space stack's path. Making a namespace (and starting pasta) takes tens of
milliseconds, so a ``NetworkReserve`` keeps a few ready and hands them to cold starts.

Creating network namespaces and joining them needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN).
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import ipaddress
import json
import logging
import os
import shutil
import signal
import socket
import struct
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger("stratus.netns")

MODES = ("isolated", "none", "host")
RUNTIME_API_PORT = 9001
# Never a host address inside a sandbox: cloud metadata and link-local services live here.
ALWAYS_DENIED = ("169.254.0.0/16",)

_CLONE_NEWNET = 0x40000000
_PR_SET_PDEATHSIG = 1
_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1
_libc = ctypes.CDLL(None, use_errno=True)


class NetworkUnavailable(RuntimeError):
    """The configured sandbox network cannot be set up on this host."""


def network_mode() -> str:
    mode = os.environ.get("STRATUS_SANDBOX_NETWORK", "isolated").strip().lower() or "isolated"
    if mode not in MODES:
        raise NetworkUnavailable(f"STRATUS_SANDBOX_NETWORK must be one of {', '.join(MODES)}, got {mode!r}")
    return mode


def deny_cidrs() -> tuple[str, ...]:
    """169.254.0.0/16 and the ranges in STRATUS_SANDBOX_DENY_CIDRS (comma-separated)."""
    extra = os.environ.get("STRATUS_SANDBOX_DENY_CIDRS", "")
    ranges = list(ALWAYS_DENIED)
    for item in (part.strip() for part in extra.split(",")):
        if not item:
            continue
        try:
            ranges.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise NetworkUnavailable(
                f"STRATUS_SANDBOX_DENY_CIDRS: {item!r} is not an address range like 10.0.0.0/8"
            ) from None
    return tuple(ranges)


def network_problem(mode: str) -> str | None:
    """Why ``mode`` cannot work on this host (what to do about it), or None."""
    if mode == "host":
        return None
    if os.geteuid() != 0:
        return (
            f"STRATUS_SANDBOX_NETWORK={mode} gives each sandbox a network namespace of its own, which needs "
            "root. Run the workers as root, or set STRATUS_SANDBOX_NETWORK=host to share the host's "
            "network (development only: functions can then reach every service on this host)."
        )
    if not shutil.which("ip"):
        return "The `ip` command (Debian/Ubuntu: `apt-get install iproute2`) is needed to set up sandbox networks."
    if mode == "isolated" and not shutil.which("pasta"):
        return (
            "pasta (Debian/Ubuntu: `apt-get install passt`) gives isolated sandboxes their outbound network. "
            "Install it, or set STRATUS_SANDBOX_NETWORK=none for sandboxes with no network at all."
        )
    return None


def host_addresses() -> list[str]:
    """Every address of the host's own interfaces, loopback aside."""
    try:
        output = subprocess.run(
            ["ip", "-j", "addr", "show"], capture_output=True, text=True, timeout=10
        ).stdout
        interfaces = json.loads(output or "[]")
    except (OSError, subprocess.SubprocessError, ValueError):
        return []
    addresses = []
    for interface in interfaces:
        for info in interface.get("addr_info", []):
            address = ipaddress.ip_address(info["local"])
            if not address.is_loopback:
                addresses.append(str(address))
    return addresses


def _loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        request = struct.pack("16sH", b"lo", 0)
        flags = struct.unpack("16sH", fcntl.ioctl(probe, _SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(probe, _SIOCSIFFLAGS, struct.pack("16sH", b"lo", flags | _IFF_UP))


def _listener(port: int) -> socket.socket:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(64)
    return listener


def netns_enter(fd: int) -> None:
    """Join the network namespace ``fd`` (this thread only; a child process inherits it)."""
    if _libc.setns(fd, _CLONE_NEWNET) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"setns: {os.strerror(error)}")


def _die_with_parent() -> None:
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


@dataclass(eq=False)
class SandboxNetwork:
    """One environment's network namespace, its two doors and its user-space stack."""

    netns_fd: int
    runtime_listener: socket.socket
    api_listener: socket.socket | None
    pasta: subprocess.Popen[bytes] | None = None
    closed: bool = field(default=False)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.pasta is not None and self.pasta.poll() is None:
            self.pasta.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.pasta.wait(timeout=5)
        for listener in (self.runtime_listener, self.api_listener):
            if listener is not None:
                with contextlib.suppress(OSError):
                    listener.close()
        with contextlib.suppress(OSError):
            os.close(self.netns_fd)


def _namespace_made(api_port: int | None) -> tuple[int, socket.socket, socket.socket | None]:
    """A new network namespace with its loopback up and the doors listening inside.

    Made in a thread of its own, which alone enters the namespace and then ends."""
    made: dict[str, Any] = {}  # filled by the thread inside the namespace

    def inside() -> None:
        try:
            if _libc.unshare(_CLONE_NEWNET) != 0:
                error = ctypes.get_errno()
                raise OSError(error, f"unshare(CLONE_NEWNET): {os.strerror(error)}")
            made["fd"] = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            _loopback_up()
            made["runtime"] = _listener(RUNTIME_API_PORT)
            made["api"] = _listener(api_port) if api_port else None
        except BaseException as exc:  # handed to the caller's thread below
            made["error"] = exc

    thread = threading.Thread(target=inside, name="netns-create", daemon=True)
    thread.start()
    thread.join()
    if "error" in made:
        for name in ("runtime", "api"):
            if made.get(name) is not None:
                made[name].close()
        if "fd" in made:
            os.close(made["fd"])
        raise made["error"]
    return made["fd"], made["runtime"], made["api"]


def routes_prohibit(netns_fd: int, ranges: list[str]) -> None:
    """Add a ``prohibit`` route for each range inside the namespace (one ``ip -batch``)."""
    commands = []
    for item in ranges:
        network = ipaddress.ip_network(item, strict=False)
        family = "-6 " if network.version == 6 else ""
        commands.append(f"{family}route replace prohibit {network}")
    result = subprocess.run(
        ["ip", "-force", "-batch", "-"],
        input="\n".join(commands) + "\n",
        capture_output=True,
        text=True,
        timeout=10,
        preexec_fn=lambda: netns_enter(netns_fd),
    )
    if result.returncode != 0:
        # -force went on past a failing line (an IPv6 range on a host without IPv6, say).
        logger.debug("some prohibit routes were not added: %s", result.stderr.strip())


def _pasta_start(netns_fd: int) -> subprocess.Popen[bytes]:
    """pasta attached to the namespace, in the foreground as our child; returns once it is
    ready (it writes its pid file, here a pipe, when its set-up is done)."""
    ready_read, ready_write = os.pipe()
    try:
        process = subprocess.Popen(
            [
                "pasta",
                "--config-net",
                "--quiet",
                "--foreground",
                # No port forwarding either way and no gateway-to-host mapping: the doors
                # into the namespace are the worker's own sockets, nothing of pasta's.
                "-t",
                "none",
                "-u",
                "none",
                "-T",
                "none",
                "-U",
                "none",
                "--no-map-gw",
                # As root, pasta would switch to nobody before joining the namespace, which
                # nobody may not do; it confines itself after set-up either way.
                "--runas",
                "0",
                "--log-file",
                "/dev/null",
                "--pid",
                f"/proc/self/fd/{ready_write}",
                "--netns",
                f"/proc/self/fd/{netns_fd}",
            ],
            pass_fds=(netns_fd, ready_write),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            # pasta must not outlive the worker that owns the namespace.
            preexec_fn=_die_with_parent,
        )
    finally:
        os.close(ready_write)
    try:
        written = os.read(ready_read, 32)  # pasta keeps the "file" open: read what it wrote
    except OSError:
        written = b""
    finally:
        os.close(ready_read)
    if not written.strip():
        process.kill()
        _, errors = process.communicate(timeout=5)
        raise NetworkUnavailable(f"pasta did not start: {errors.decode(errors='replace').strip()}")
    if process.stderr is not None:
        process.stderr.close()
    return process


def network_create(*, mode: str, api_port: int | None, deny: tuple[str, ...]) -> SandboxNetwork:
    """A ready network for one environment (``isolated`` or ``none``)."""
    netns_fd, runtime_listener, api_listener = _namespace_made(api_port)
    network = SandboxNetwork(netns_fd=netns_fd, runtime_listener=runtime_listener, api_listener=api_listener)
    try:
        if mode == "isolated":
            # Before pasta brings the interface up, so there is no moment without them.
            routes_prohibit(netns_fd, [*deny, *host_addresses()])
            network.pasta = _pasta_start(netns_fd)
    except BaseException:
        network.close()
        raise
    return network


class NetworkReserve:
    """A few networks made ahead of need, so a cold start does not wait for one.

    ``take`` hands out a ready network, or makes one there and then when none is ready. A
    thread of its own refills the reserve; it lives as long as the reserve, because pasta's
    death signal is tied to the thread that started it.
    """

    def __init__(self, factory: Callable[[], SandboxNetwork], *, size: int) -> None:
        self._factory = factory
        self._size = size
        self._ready: list[SandboxNetwork] = []
        self._lock = threading.Lock()
        self._wanted = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None
        if size > 0:
            self._thread = threading.Thread(target=self._refill, name="netns-reserve", daemon=True)
            self._thread.start()
            self._wanted.set()

    def take(self) -> SandboxNetwork:
        with self._lock:
            network = self._ready.pop() if self._ready else None
        self._wanted.set()
        return network if network is not None else self._factory()

    def _refill(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            while True:
                with self._lock:
                    if self._closed or len(self._ready) >= self._size:
                        break
                try:
                    network = self._factory()
                except Exception:
                    logger.exception("could not make a sandbox network ahead of need")
                    break
                with self._lock:
                    if self._closed:
                        network.close()
                        return
                    self._ready.append(network)
            if self._closed:
                return

    def close(self) -> None:
        with self._lock:
            self._closed = True
            ready, self._ready = self._ready, []
        self._wanted.set()
        for network in ready:
            network.close()
