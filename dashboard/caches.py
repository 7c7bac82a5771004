"""Process-local caches of what every API request reads, current in every process at once.

A signed request reads the same few rows each time: the access key and its user, the
caller's identity policies, the function and the version its name and qualifier resolve to.
Each process keeps them in a ``Cache`` (least recently used out beyond ``MAX_ENTRIES``, and
none older than ``TTL_SECONDS`` whatever happens).

A token in Redis (``TOKEN_KEY``) says which entries are current. Every committed change to
what the caches hold replaces it (``changed``, wired to the models' signals by ``watch``)
before the request that changed it answers. A request reads the token once, at its first
lookup (``RequestTokenMiddleware`` scopes that read to the request), and a cache whose
entries were stored under another token drops them all. So the very next request, in any
process, reads the database again: a revoked key is refused at once, everywhere.

Not pub/sub with a listener thread per process: its message reaches another process some
time after the writer has answered, and a request served there in between would use what
was just revoked. One GET per request (which the policy cache already paid) is ordered
after the write. Redis unavailable: nothing is cached, every lookup reads the database.

A change made behind the models' signals (``QuerySet.update()``, raw SQL) must call
``changed()`` itself; ``TTL_SECONDS`` bounds what a forgotten one can leave stale.
"""

from __future__ import annotations

import logging
import pickle
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

import redis
from django.db import connection, transaction
from django.db.models.signals import post_delete, post_migrate, post_save

from functions_app.redis_client import redis_client

logger = logging.getLogger("stratus.caches")

TOKEN_KEY = "stratus:cache:token"
TTL_SECONDS = 60.0
MAX_ENTRIES = 4096

T = TypeVar("T")

# The token the current request reads by: [] until its first lookup reads it, then [token]
# (None when Redis could not say). Unset outside a request: each lookup reads the token.
_request_token: ContextVar[list[bytes | None] | None] = ContextVar("stratus_cache_token", default=None)
_caches: list[Cache] = []


def _token_read() -> bytes | None:
    """Redis's current token; None (cache nothing) when Redis cannot say."""
    try:
        client = redis_client()
        token = client.get(TOKEN_KEY)
        if token is None:  # a new or emptied Redis: start a token, and cache nothing until then
            client.set(TOKEN_KEY, secrets.token_hex(16), nx=True)
        return token
    except redis.RedisError:
        return None


def current_token() -> bytes | None:
    held = _request_token.get()
    if held is None:
        return _token_read()
    if not held:
        held.append(_token_read())
    return held[0]


@contextmanager
def request_scope() -> Iterator[None]:
    """Read the token at most once in this block (a request): one GET, however many lookups."""
    reset = _request_token.set([])
    try:
        yield
    finally:
        _request_token.reset(reset)


class RequestTokenMiddleware:
    """Every request reads the caches' token at most once (and not at all if it looks nothing up)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with request_scope():
            return self.get_response(request)


def changed(**_: object) -> None:
    """Once the current transaction commits, make every process's caches forget everything.

    A signal receiver (``watch``), and what code that changes cached rows without signals
    calls."""
    transaction.on_commit(_announce)


def _announce() -> None:
    token = secrets.token_hex(16).encode()
    try:
        redis_client().set(TOKEN_KEY, token)
    except redis.RedisError:
        token = None
        logger.warning("could not announce a change; other processes may use cached rows for %ss", TTL_SECONDS)
    # This process forgets at once, whatever Redis said, and the rest of this request reads
    # by the new token: it must see its own change.
    for cache in _caches:
        cache.clear()
    held = _request_token.get()
    if held is not None:
        held[:] = [token]


def watch(*models: type) -> None:
    """Saving or deleting a row of any of ``models`` invalidates every cache."""
    for model in models:
        label = model._meta.label
        post_save.connect(changed, sender=model, dispatch_uid=f"stratus-caches-save-{label}")
        post_delete.connect(changed, sender=model, dispatch_uid=f"stratus-caches-delete-{label}")


def _migrated(app_config, **_: object) -> None:
    """A flush or a migration (the test suite's between tests, say) changes rows without
    signals. Sent once per app: announced once, for the app whose rows most requests read."""
    if app_config.label == "functions_app":
        changed()


post_migrate.connect(_migrated, dispatch_uid="stratus-caches-migrate")


class Cache:
    """``key → value`` loaded from the database, kept while the token they were loaded under
    is current.

    With ``copies``, each lookup returns its own copy (model instances a caller may change
    or save), made by unpickling what was stored; without, the stored value itself (which
    must then be immutable). A failed load (not found) is not stored. Inside a transaction
    nothing is stored or served: it must see its own uncommitted writes, and the rows it
    locks as they are."""

    def __init__(self, name: str, *, copies: bool = False, ttl: float = TTL_SECONDS, maxsize: int = MAX_ENTRIES):
        self.name, self.copies, self.ttl, self.maxsize = name, copies, ttl, maxsize
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._token: bytes | None = None
        self._lock = threading.Lock()
        _caches.append(self)

    def get(self, key: Hashable, load: Callable[[], T]) -> T:
        if connection.in_atomic_block:
            return load()
        token = current_token()
        if token is None:
            self.clear()
            return load()
        now = time.monotonic()
        with self._lock:
            if token != self._token:
                self._entries.clear()
                self._token = token
            expires, stored = self._entries.get(key, (0.0, None))
            if expires > now:
                self._entries.move_to_end(key)
        if expires > now:
            return pickle.loads(stored) if self.copies else stored
        value = load()
        stored = pickle.dumps(value, pickle.HIGHEST_PROTOCOL) if self.copies else value
        with self._lock:
            if token == self._token:  # else a newer (or older) request has moved on: keep nothing
                self._entries[key] = (now + self.ttl, stored)
                self._entries.move_to_end(key)
                while len(self._entries) > self.maxsize:
                    self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._token = None

    def __len__(self) -> int:
        return len(self._entries)
