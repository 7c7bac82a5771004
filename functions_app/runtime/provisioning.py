"""Provisioned concurrency on a host: slots shared out among hosts through Redis.

One slot is one environment of a provisioned-concurrency config. Every host, every two
seconds, claims the free slots it is told about with a Redis key that expires unless its
owner refreshes it, so a dead host's slots pass to the others within seconds. For each slot
it owns it keeps an environment initialized with AWS_LAMBDA_INITIALIZATION_TYPE set to
provisioned-concurrency, and a ready key that says so to everyone.

Which slots are wanted, and what a config's status becomes, is the database's business:
``hosting/provisioning.py`` reads the configs and calls ``provisioned_keep``.
"""

from __future__ import annotations

from collections.abc import Mapping

import redis

from functions_app.runtime.pool import EnvironmentPool
from functions_app.runtime.redis_values import redis_text
from functions_app.runtime.spec import FunctionSpec

SLOT_KEY = "stratus:provisioned:slot:{slot}"
READY_KEY = "stratus:provisioned:ready:{slot}"
SLOT_SECONDS = 10


def provisioned_slot(function_name: str, qualifier: str, index: int) -> str:
    """The id of a config's ``index``-th slot."""
    return f"{function_name}:{qualifier}:{index}"


def _slot_claim(connection: redis.Redis, slot: str, worker: str) -> bool:
    key = SLOT_KEY.format(slot=slot)
    owner = connection.get(key)
    if owner is not None:
        if redis_text(owner) != worker:
            return False
        connection.expire(key, SLOT_SECONDS)
        return True
    return bool(connection.set(key, worker, nx=True, ex=SLOT_SECONDS))


def provisioned_keep(
    connection: redis.Redis, pool: EnvironmentPool, worker: str, *, wanted: Mapping[str, FunctionSpec]
) -> None:
    """Claim what is free of the ``wanted`` slots, keep an environment for each slot this host
    owns, and let go of the environments of slots no longer wanted or owned."""
    owned = {slot: spec for slot, spec in wanted.items() if _slot_claim(connection, slot, worker)}
    for slot in pool.provisioned_slots() - set(owned):
        pool.unprovision(slot)
        connection.delete(READY_KEY.format(slot=slot))
    for slot, spec in owned.items():
        if pool.provision(slot, spec):
            connection.set(READY_KEY.format(slot=slot), worker, ex=SLOT_SECONDS)


def slots_ready(connection: redis.Redis, slots: list[str]) -> int:
    """How many of ``slots`` have a ready environment on some host."""
    return sum(int(connection.exists(READY_KEY.format(slot=slot))) for slot in slots) if slots else 0
