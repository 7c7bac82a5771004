"""What every execution environment of one worker shares: the Runtime API server, the
networks made ahead of need, the door to Stratus's API, and where /tmp volumes are made.

``STRATUS_API_URL`` is where functions' AWS SDK calls go (``AWS_ENDPOINT_URL`` inside the
sandbox): in an isolated sandbox it is reached through the worker's door at
``http://127.0.0.1:<same port>``; sharing the host's network, at the URL itself.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

from functions_app.runtime.api_door import ApiDoor, api_target
from functions_app.runtime.netns import (
    NetworkReserve,
    NetworkUnavailable,
    SandboxNetwork,
    deny_cidrs,
    host_addresses,
    network_create,
    network_mode,
    network_problem,
    routes_prohibit,
)
from functions_app.runtime.runtime_api import RuntimeApiServer
from functions_app.runtime.sandbox import sandbox_enabled
from functions_app.runtime.spec import FunctionSpec

logger = logging.getLogger("stratus.sandbox_host")

# The execution role's credentials for an environment of a function, as environment variables.
Credentials = Callable[[FunctionSpec], dict[str, str]]

# Networks kept ready for cold starts; each is a namespace and, isolated, a pasta process.
NETWORK_RESERVE = int(os.environ.get("STRATUS_SANDBOX_NETWORK_RESERVE", "2") or 0)


def api_url() -> str:
    return os.environ.get("STRATUS_API_URL") or f"http://127.0.0.1:{os.environ.get('PORT') or 8000}"


@dataclass
class SandboxHost:
    api: RuntimeApiServer
    mode: str  # isolated | none | host (host also when the sandbox is off)
    endpoint_url: str  # AWS_ENDPOINT_URL as the sandbox sees it
    tmp_dir: Path  # where /tmp volumes and their templates are made
    tmp_mount_point: Path  # an empty directory each sandbox mounts its /tmp on, privately
    networks: NetworkReserve | None = None
    door: ApiDoor | None = None
    # The execution role's credentials for a new environment, as environment variables (the
    # worker sets this; without it environments get none).
    credentials: Credentials = field(default=lambda spec: {})
    _live: set[SandboxNetwork] = field(default_factory=set)
    _addresses: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def network_made(self, factory: Callable[[], SandboxNetwork]) -> SandboxNetwork:
        """Make a network and keep track of it while it lives (see ``routes_refresh``)."""
        network = factory()
        with self._lock:
            self._live.add(network)
        return network

    def routes_refresh(self) -> None:
        """Close the addresses the host gained since its networks were made (a new interface,
        a DHCP lease): networks outlive that, so they get the new prohibit routes too."""
        if self.mode != "isolated":
            return
        current = set(host_addresses())
        with self._lock:
            gained = current - self._addresses
            self._addresses |= current
            live = list(self._live)
        if gained:
            for network in live:
                if not network.closed:
                    routes_prohibit(network.netns_fd, sorted(gained))

    @property
    def own_network(self) -> bool:
        return self.networks is not None

    def network_take(self) -> SandboxNetwork:
        assert self.networks is not None
        network = self.networks.take()
        if network.api_listener is not None and self.door is not None:
            self.door.open(network.api_listener)
        return network

    def network_release(self, network: SandboxNetwork) -> None:
        if network.api_listener is not None and self.door is not None:
            self.door.shut(network.api_listener)
        self.api.detach(network.runtime_listener)
        network.close()
        with self._lock:
            self._live.discard(network)

    def close(self) -> None:
        if self.networks is not None:
            self.networks.close()
        if self.door is not None:
            self.door.close()
        self.api.close()


def sandbox_host_create(cache_root: Path) -> SandboxHost:
    """The shared pieces for a worker's environments; raises NetworkUnavailable when the
    configured sandbox network cannot work here."""
    mode = network_mode() if sandbox_enabled() else "host"
    problem = network_problem(mode)
    if problem:
        raise NetworkUnavailable(problem)
    url = api_url()
    tmp_dir = cache_root / "tmp-volumes"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    mount_point = cache_root / "tmp-mount"
    mount_point.mkdir(exist_ok=True)
    host = SandboxHost(
        api=RuntimeApiServer(), mode=mode, endpoint_url=url, tmp_dir=tmp_dir, tmp_mount_point=mount_point
    )
    if mode == "host":
        logger.warning(
            "STRATUS_SANDBOX_NETWORK=host: functions share this host's network and can reach every "
            "service listening on it (development only)"
        )
        return host
    target = api_target(url)
    parts = urlsplit(url)
    host.endpoint_url = f"{parts.scheme}://127.0.0.1:{target[1]}"
    host.door = ApiDoor(target)
    host._addresses = set(host_addresses())
    factory = partial(network_create, mode=mode, api_port=target[1], deny=deny_cidrs())
    host.networks = NetworkReserve(partial(host.network_made, factory), size=max(0, NETWORK_RESERVE))
    return host
