"""Where Stratus finds Redis, read from the environment once, for every client it makes.

- ``REDIS_SENTINELS=host:port,host:port,...`` with ``REDIS_SENTINEL_MASTER=name``: the master
  that those sentinels name. Clients ask the sentinels for its address whenever they connect,
  so after a failover they reconnect to the new master. ``REDIS_PASSWORD`` is the master's
  (and its replicas') password, ``REDIS_SENTINEL_PASSWORD`` the sentinels' own, ``REDIS_DB``
  the database number (default 0).
- ``REDIS_URL``: one Redis server.
- Neither: the Redis that ``make run`` starts and manages (``dashboard/managed_redis.py``).

This module only describes the location. ``functions_app/redis_client.py`` builds the
process's clients from it; the channel layer and django-rq build their own from the
configuration it derives here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from dashboard.env import env_int, env_str

# A sentinel answers at once; one that does not within this long is passed over for the next.
SENTINEL_TIMEOUT_SECONDS = 2


@dataclass(frozen=True)
class RedisSettings:
    """A Redis URL, or the sentinels that name a master (then ``url`` is empty)."""

    url: str = ""
    managed: bool = False  # the URL is the managed Redis's: make run starts it
    sentinels: tuple[tuple[str, int], ...] = ()
    master: str = ""
    password: str | None = None
    sentinel_password: str | None = None
    db: int = 0

    @property
    def uses_sentinel(self) -> bool:
        return bool(self.sentinels)

    def sentinel_kwargs(self) -> dict[str, Any]:
        """How to connect to the sentinels themselves (not to the master)."""
        return {
            "password": self.sentinel_password,
            "socket_timeout": SENTINEL_TIMEOUT_SECONDS,
            "socket_connect_timeout": SENTINEL_TIMEOUT_SECONDS,
        }

    def channel_layer_host(self) -> str | dict[str, Any]:
        """One entry of channels_redis's ``hosts``: the URL, or its sentinel form."""
        if not self.uses_sentinel:
            return self.url
        return {
            "sentinels": list(self.sentinels),
            "master_name": self.master,
            "sentinel_kwargs": self.sentinel_kwargs(),
            "password": self.password,
            "db": self.db,
        }

    def rq_connection(self) -> dict[str, Any]:
        """The connection part of a django-rq ``RQ_QUEUES`` entry."""
        if not self.uses_sentinel:
            return {"URL": self.url}
        return {
            "SENTINELS": list(self.sentinels),
            "MASTER_NAME": self.master,
            "PASSWORD": self.password,
            "DB": self.db,
            "SENTINEL_KWARGS": self.sentinel_kwargs(),
        }


def redis_settings_from_env(*, managed_url: Callable[[], str]) -> RedisSettings:
    """Read ``REDIS_SENTINELS`` & co., else ``REDIS_URL``, else call ``managed_url()``
    (called only then: it creates the managed Redis's password and port files)."""
    url = env_str("REDIS_URL", "")
    sentinels = env_str("REDIS_SENTINELS", "").strip()
    if not sentinels:
        return RedisSettings(url=url) if url else RedisSettings(url=managed_url(), managed=True)
    if url:
        raise ImproperlyConfigured("Set REDIS_URL or REDIS_SENTINELS, not both")
    master = env_str("REDIS_SENTINEL_MASTER", "").strip()
    if not master:
        raise ImproperlyConfigured("REDIS_SENTINELS needs REDIS_SENTINEL_MASTER, the name of the master")
    return RedisSettings(
        sentinels=tuple(_address(item.strip()) for item in sentinels.split(",") if item.strip()),
        master=master,
        password=env_str("REDIS_PASSWORD", "") or None,
        sentinel_password=env_str("REDIS_SENTINEL_PASSWORD", "") or None,
        db=env_int("REDIS_DB", 0, minimum=0),
    )


def _address(item: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:26379`` for an IPv6 address) as a (host, port) pair."""
    host, _, port = item.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ImproperlyConfigured(f"REDIS_SENTINELS entries must be host:port, got {item!r}")
    return host, int(port)
