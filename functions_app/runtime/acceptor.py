"""One thread that accepts connections on many listening sockets.

The worker listens inside every sandbox's network namespace (the Runtime API and the door
to Stratus's API); a thread per listener would idle by the hundred, so one thread selects
over all of them and hands each accepted connection to ``serve`` in a thread of its own.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
from collections.abc import Callable
from typing import Any

Serve = Callable[[socket.socket, Any, Any], None]  # (connection, peer address, listener's data)


class Acceptor:
    def __init__(self, serve: Serve, *, name: str) -> None:
        self._serve = serve
        self._selector = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._wake_read, self._wake_write = socket.socketpair()
        self._selector.register(self._wake_read, selectors.EVENT_READ)
        self._closed = False
        threading.Thread(target=self._run, name=name, daemon=True).start()

    def add(self, listener: socket.socket, data: Any = None) -> None:
        listener.setblocking(False)
        with self._lock:
            self._selector.register(listener, selectors.EVENT_READ, data)
        self._wake()

    def remove(self, listener: socket.socket) -> None:
        """Stop accepting on ``listener`` (call before closing it)."""
        with self._lock, contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(listener)
        self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_write.send(b"x")

    def _run(self) -> None:
        while not self._closed:
            for key, _ in self._selector.select():
                if key.fileobj is self._wake_read:
                    self._wake_read.recv(4096)
                    continue
                try:
                    connection, address = key.fileobj.accept()  # type: ignore[union-attr]
                except OSError:
                    continue
                connection.setblocking(True)
                threading.Thread(
                    target=self._serve, args=(connection, address, key.data), daemon=True
                ).start()

    def close(self) -> None:
        self._closed = True
        self._wake()
