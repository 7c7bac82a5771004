"""The door from a sandbox's own network to Stratus's API.

Inside an isolated sandbox, ``AWS_ENDPOINT_URL`` is ``http://127.0.0.1:<port>``: a socket the
worker listens on inside the sandbox's namespace (see netns.py). Each connection accepted
there is relayed, byte for byte, to ``STRATUS_API_URL`` from the worker's own network, so the
API sees the function's requests (and their signatures) exactly as sent. Nothing else of
the host is reachable through it.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
from urllib.parse import urlsplit

from functions_app.runtime.acceptor import Acceptor

logger = logging.getLogger("stratus.api_door")

_CHUNK = 65536


def api_target(url: str) -> tuple[str, int]:
    """(host, port) of STRATUS_API_URL."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError(f"STRATUS_API_URL must be an http(s) URL, got {url!r}")
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


def _pump(inside: socket.socket, target: tuple[str, int]) -> None:
    """Relay one connection both ways until either side closes."""
    try:
        outside = socket.create_connection(target, timeout=10)
    except OSError as exc:
        logger.warning("API door: cannot reach %s:%s (%s)", *target, exc)
        inside.close()
        return
    outside.settimeout(None)
    outside.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    inside.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    peers = {inside: outside, outside: inside}
    with selectors.DefaultSelector() as selector, inside, outside:
        for sock in peers:
            selector.register(sock, selectors.EVENT_READ)
        open_sides = 2
        while open_sides:
            for key, _ in selector.select():
                source = key.fileobj
                try:
                    data = source.recv(_CHUNK)  # type: ignore[union-attr]
                except OSError:
                    data = b""
                if not data:
                    selector.unregister(source)
                    open_sides -= 1
                    with contextlib.suppress(OSError):
                        peers[source].shutdown(socket.SHUT_WR)  # type: ignore[index]
                    continue
                try:
                    peers[source].sendall(data)  # type: ignore[index]
                except OSError:
                    return


class ApiDoor:
    """Accepts on every registered in-namespace listener and relays to the API."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._acceptor = Acceptor(
            lambda connection, _address, _data: _pump(connection, target), name="api-door"
        )

    def open(self, listener: socket.socket) -> None:
        self._acceptor.add(listener)

    def shut(self, listener: socket.socket) -> None:
        self._acceptor.remove(listener)

    def close(self) -> None:
        self._acceptor.close()
