"""The AWS Lambda Runtime API, served by a worker to its execution environments.

Each environment reaches its own endpoint through ``AWS_LAMBDA_RUNTIME_API``, and no
environment can reach or guess another's:

- in a sandbox with a network of its own (``STRATUS_SANDBOX_NETWORK=isolated`` or ``none``),
  ``127.0.0.1:9001`` exactly as on AWS: the worker listens on a socket it made inside that
  sandbox's namespace (``attach``), so whoever connects there is that environment;
- sharing the host's network (``host``), under a secret of 24 random bytes carried in the
  name, since every listening socket shows in /proc/net/tcp: ``rapi-<token>.localhost:PORT``,
  which only that sandbox's /etc/hosts resolves, and the server reads the token back from
  the ``Host`` header. (A path after host:port is not enough: awslambdaric posts init errors
  through ``http.client.HTTPConnection(AWS_LAMBDA_RUNTIME_API)``, which refuses
  ``127.0.0.1:PORT/<token>`` as a "nonnumeric port".)
- unsandboxed (development): ``127.0.0.1:PORT/<token>``, since the host's resolver cannot be
  given the name; Stratus's bootstraps and AWS's C++ client send every call below the path.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import secrets
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from functions_app.runtime.acceptor import Acceptor

logger = logging.getLogger("stratus.runtime_api")

_ROUTE = re.compile(
    r"^(?:/(?P<token>[A-Za-z0-9_-]{20,}))?/2018-06-01/runtime/"
    r"(?:(?P<next>invocation/next)|invocation/(?P<request_id>[^/]+)/(?P<kind>response|error)|(?P<init>init/error))/?$"
)
MAX_RESPONSE_BYTES = 6 * 1024 * 1024 + 100  # as AWS's emulator
_HOST = re.compile(r"^rapi-(?P<token>[0-9a-f]{48})\.localhost(?::\d+)?$")


def endpoint_hostname(endpoint: str) -> str | None:
    """The name a host-form endpoint needs resolved to 127.0.0.1; None for the path form."""
    return None if "/" in endpoint else endpoint.rsplit(":", 1)[0]


# An event for the runtime's GET /next: its request id, payload and headers.
RuntimeEvent = tuple[str, bytes, dict[str, str]]
# A status and the JSON body the Runtime API answers a runtime's call with.
RuntimeAnswer = tuple[int, dict[str, str]]


class RuntimeClient(Protocol):
    """What an execution environment answers to its runtime's calls."""

    def runtime_next(self) -> RuntimeEvent | None: ...

    def runtime_response(self, request_id: str, body: bytes, content_type: str) -> RuntimeAnswer: ...

    def runtime_error(self, request_id: str, body: bytes, error_type: str | None) -> RuntimeAnswer: ...

    def runtime_init_error(self, body: bytes, error_type: str | None) -> RuntimeAnswer: ...


class RuntimeApiServer:
    def __init__(self) -> None:
        self._clients: dict[str, RuntimeClient] = {}
        self._lock = threading.Lock()
        server = self

        class Handler(_Handler):
            registry = server

        self._handler_class = Handler
        self._http = _QuietServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        self.port = self._http.server_address[1]
        self._thread = threading.Thread(target=self._http.serve_forever, name="runtime-api", daemon=True)
        self._thread.start()
        self._acceptor = Acceptor(self._serve_bound, name="runtime-api-bound")

    def register(self, client: RuntimeClient, *, by_host: bool = False) -> str:
        """Give ``client`` its own endpoint; returns the value for AWS_LAMBDA_RUNTIME_API.

        ``by_host`` gives the host form (the caller must resolve ``endpoint_hostname`` to
        127.0.0.1 for the client); otherwise the token is a path below 127.0.0.1:PORT.
        """
        token = secrets.token_hex(24)  # hex: it must also be a valid DNS label
        with self._lock:
            self._clients[token] = client
        if by_host:
            return f"rapi-{token}.localhost:{self.port}"
        return f"127.0.0.1:{self.port}/{token}"

    def unregister(self, endpoint: str) -> None:
        hostname = endpoint_hostname(endpoint)
        token = hostname.split(".", 1)[0].removeprefix("rapi-") if hostname else endpoint.rsplit("/", 1)[-1]
        with self._lock:
            self._clients.pop(token, None)

    def client(self, token: str) -> RuntimeClient | None:
        with self._lock:
            return self._clients.get(token)

    # ---- listeners inside sandboxes' own namespaces -----------------------------------

    def attach(self, client: RuntimeClient, listener: socket.socket) -> str:
        """Serve ``client`` on ``listener`` (made inside its sandbox's network namespace)."""
        self._acceptor.add(listener, client)
        return f"127.0.0.1:{listener.getsockname()[1]}"

    def detach(self, listener: socket.socket) -> None:
        self._acceptor.remove(listener)

    def _serve_bound(self, connection: socket.socket, address: Any, client: RuntimeClient) -> None:
        with contextlib.suppress(OSError), connection:
            # The handler reads only ``client`` off its server: _Bound stands in for one.
            self._handler_class(connection, address, _Bound(client))  # type: ignore[arg-type]

    def close(self) -> None:
        self._acceptor.close()
        self._http.shutdown()
        self._http.server_close()


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A killed environment drops its keep-alive connection mid-read: that is its shutdown,
        # not an error worth a traceback.
        logger.debug("Runtime API connection from %s ended abruptly", client_address, exc_info=True)


class _Bound:
    """What a handler on an environment's own listener sees as its server: that environment."""

    def __init__(self, client: RuntimeClient) -> None:
        self.client = client


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle's algorithm and delayed ACKs
    # that costs ~40 ms per event.
    disable_nagle_algorithm = True
    registry: RuntimeApiServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass

    def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, body: dict[str, str]) -> None:
        self._reply(status, json.dumps(body).encode(), {"Content-Type": "application/json"})

    def _route(self) -> tuple[re.Match[str], RuntimeClient] | tuple[None, None]:
        match = _ROUTE.match(self.path.split("?", 1)[0])
        if not match:
            self._json(404, {"errorMessage": "Unknown Runtime API path", "errorType": "InvalidRequest"})
            return None, None
        bound = getattr(self.server, "client", None)
        if bound is not None:  # an environment's own listener: it can only be that environment
            return match, bound
        token = match["token"]
        if token is None:  # the host form: the token is in the name the client connected to
            host = _HOST.match(self.headers.get("Host") or "")
            token = host["token"] if host else ""
        client = self.registry.client(token)
        if client is None:
            self._json(
                403, {"errorMessage": "Unknown or retired environment", "errorType": "InvalidStateTransition"}
            )
            return None, None
        return match, client

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        match, client = self._route()
        if match is None or client is None:
            return
        if not match["next"]:
            self._json(
                405, {"errorMessage": "Use GET only for invocation/next", "errorType": "InvalidRequest"}
            )
            return
        event = client.runtime_next()
        if event is None:  # the environment is shutting down
            self._json(410, {"errorMessage": "Environment is shutting down", "errorType": "Runtime.Shutdown"})
            return
        request_id, payload, headers = event
        self._reply(200, payload, headers)

    def do_POST(self) -> None:  # noqa: N802
        match, client = self._route()
        if match is None or client is None:
            return
        length = int(self.headers.get("Content-Length") or 0)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = self._read_chunked()
        else:
            body = self.rfile.read(length) if length else b""
        error_type = self.headers.get("Lambda-Runtime-Function-Error-Type")
        if match["init"]:
            status, reply = client.runtime_init_error(body, error_type)
        elif match["kind"] == "response":
            if len(body) > MAX_RESPONSE_BYTES:
                status, reply = client.runtime_error(
                    match["request_id"],
                    json.dumps(
                        {
                            "errorType": "Function.ResponseSizeTooLarge",
                            "errorMessage": "Response payload size exceeded maximum allowed payload size "
                            f"({MAX_RESPONSE_BYTES} bytes).",
                        }
                    ).encode(),
                    "Function.ResponseSizeTooLarge",
                )
                if status == 202:
                    status, reply = (
                        413,
                        {"errorMessage": "Payload Too Large", "errorType": "RequestEntityTooLarge"},
                    )
            else:
                status, reply = client.runtime_response(
                    match["request_id"], body, self.headers.get("Content-Type") or "application/json"
                )
        else:
            status, reply = client.runtime_error(match["request_id"], body, error_type)
        self._json(status, reply)

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()
