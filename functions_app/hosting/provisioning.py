"""Provisioned-concurrency configs, kept in step with the hosts' environments.

Every host, every two seconds, reads the configs, claims and keeps the slots it can
(``runtime/provisioning.py``), and records each config's progress: its status becomes
READY once every slot has a ready environment somewhere.
"""

from __future__ import annotations

import logging

import redis
from django.db import close_old_connections
from django.utils import timezone

from functions_app.hosting.specs import spec_load
from functions_app.models import Alias, ProvisionedConcurrencyConfig
from functions_app.runtime.pool import EnvironmentPool
from functions_app.runtime.provisioning import provisioned_keep, provisioned_slot, slots_ready
from functions_app.runtime.spec import FunctionSpec

logger = logging.getLogger("stratus.provisioning")


def provisioned_sync(connection: redis.Redis, pool: EnvironmentPool, worker: str) -> None:
    close_old_connections()
    configs = list(ProvisionedConcurrencyConfig.objects.select_related("function"))
    wanted: dict[str, FunctionSpec] = {}
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
            wanted[provisioned_slot(function.name, config.qualifier, index)] = spec
    provisioned_keep(connection, pool, worker, wanted=wanted)
    for config in configs:
        slots = [
            provisioned_slot(config.function.name, config.qualifier, index)
            for index in range(config.requested)
        ]
        ready = slots_ready(connection, slots)
        status = (
            ProvisionedConcurrencyConfig.Status.READY
            if ready == config.requested
            else ProvisionedConcurrencyConfig.Status.IN_PROGRESS
        )
        if (ready, status) != (config.allocated, config.status):
            ProvisionedConcurrencyConfig.objects.filter(pk=config.pk).update(
                allocated=ready, status=status, last_modified=timezone.now()
            )
