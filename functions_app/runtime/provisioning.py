"""Provisioned concurrency: environments initialized before any invoke, shared out among workers.

Every worker, every two seconds, reads the provisioned-concurrency configs and claims
free slots (one slot is one environment) with a Redis key that expires unless the owner
refreshes it, so a dead worker's slots pass to the others within seconds. For each slot it
owns it keeps an environment initialized with AWS_LAMBDA_INITIALIZATION_TYPE set to
provisioned-concurrency. The config's status becomes READY once every slot has a ready
environment somewhere.
"""

from __future__ import annotations

import logging

import redis
from django.db import close_old_connections
from django.utils import timezone

from functions_app.models import Alias, ProvisionedConcurrencyConfig
from functions_app.runtime.pool import EnvironmentPool

logger = logging.getLogger("stratus.provisioning")

SLOT_KEY = "stratus:provisioned:slot:{slot}"
READY_KEY = "stratus:provisioned:ready:{slot}"
SLOT_SECONDS = 10


def _slot_claim(connection: redis.Redis, slot: str, worker: str) -> bool:
    key = SLOT_KEY.format(slot=slot)
    owner = connection.get(key)
    if owner is not None:
        if owner.decode() != worker:
            return False
        connection.expire(key, SLOT_SECONDS)
        return True
    return bool(connection.set(key, worker, nx=True, ex=SLOT_SECONDS))


def provisioned_sync(connection: redis.Redis, pool: EnvironmentPool, worker: str) -> None:
    from functions_app.runtime.jobs import spec_load

    close_old_connections()
    configs = list(ProvisionedConcurrencyConfig.objects.select_related("function"))
    wanted = {}
    for config in configs:
        function = config.function
        version = config.qualifier
        if not version.isdigit():
            alias = Alias.objects.filter(function=function, name=config.qualifier).first()
            if alias is None:
                continue
            version = alias.function_version
        try:
            spec = spec_load(function.name, version)
        except Exception:
            logger.warning("cannot provision %s:%s", function.name, config.qualifier)
            continue
        for index in range(config.requested):
            slot = f"{function.name}:{config.qualifier}:{index}"
            if _slot_claim(connection, slot, worker):
                wanted[slot] = spec
    for slot in pool.provisioned_slots() - set(wanted):
        pool.unprovision(slot)
        connection.delete(READY_KEY.format(slot=slot))
    for slot, spec in wanted.items():
        if pool.provision(slot, spec):
            connection.set(READY_KEY.format(slot=slot), worker, ex=SLOT_SECONDS)
    for config in configs:
        slots = [f"{config.function.name}:{config.qualifier}:{index}" for index in range(config.requested)]
        ready = sum(connection.exists(READY_KEY.format(slot=slot)) for slot in slots) if slots else 0
        status = (
            ProvisionedConcurrencyConfig.Status.READY
            if ready == config.requested
            else ProvisionedConcurrencyConfig.Status.IN_PROGRESS
        )
        if (ready, status) != (config.allocated, config.status):
            ProvisionedConcurrencyConfig.objects.filter(pk=config.pk).update(
                allocated=ready, status=status, last_modified=timezone.now()
            )
