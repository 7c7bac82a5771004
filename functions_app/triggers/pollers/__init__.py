"""Pollers for event source mappings, one module per kind of source, and the loop that shares
the work among every poller process on every host.

Each mapping is split into units of work (a shard, a concurrency slot, a consumer). A poller
process takes a unit by taking its lease in Redis and runs it in a thread for as long as it
renews the lease; a unit whose poller died is free again within the lease's ten seconds.
"""

from __future__ import annotations

import importlib
import logging
import os
import socket
import threading
import time
import uuid

from django.db import close_old_connections

from functions_app.redis_client import redis_client
from functions_app.triggers.models import EventSourceMapping
from functions_app.triggers.pollers.base import Leases, result_note
from functions_app.triggers.presence import alive_clear, alive_mark

logger = logging.getLogger("stratus.pollers")

# kind → module with ``units(mapping) -> list[str]`` and ``run(mapping_id, unit, stop)``.
KINDS = {
    "sqs": "functions_app.triggers.pollers.sqs",
    "stream": "functions_app.triggers.pollers.stream",
    "rabbitmq": "functions_app.triggers.pollers.rabbitmq",
    "kafka": "functions_app.triggers.pollers.kafka",
}
State = EventSourceMapping.State


def kind_module(kind: str):
    return importlib.import_module(KINDS[kind])


class Poller:
    """One poller process: takes free units, runs each in a thread, lets go of the rest."""

    def __init__(self, *, max_units: int = 64) -> None:
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.leases = Leases(redis_client(), self.owner)
        self.max_units = max_units
        self.running: dict[str, tuple[threading.Thread, threading.Event]] = {}

    def tick(self) -> None:
        alive_mark(self.leases.redis, "poller", self.owner, units=len(self.running))
        mappings = list(EventSourceMapping.objects.select_related("function"))
        wanted: dict[str, EventSourceMapping] = {}
        for mapping in mappings:
            self._state_settle(mapping)
            if not mapping.enabled or mapping.kind not in KINDS:
                continue
            try:
                for unit in kind_module(mapping.kind).units(mapping):
                    wanted[unit] = mapping
            except Exception:
                logger.exception("mapping %s: could not list its units", mapping.uuid)
        for unit, (thread, stop) in list(self.running.items()):
            if unit not in wanted or not thread.is_alive() or not self.leases.renew(unit):
                stop.set()
                if not thread.is_alive():
                    self.leases.release(unit)
                    del self.running[unit]
        for unit, mapping in wanted.items():
            if unit in self.running or len(self.running) >= self.max_units:
                continue
            if self.leases.acquire(unit):
                stop = threading.Event()
                thread = threading.Thread(
                    target=self._unit_run, args=(mapping, unit, stop), name=f"poller {unit}", daemon=True
                )
                self.running[unit] = (thread, stop)
                thread.start()

    @staticmethod
    def _state_settle(mapping: EventSourceMapping) -> None:
        settled = State.ENABLED if mapping.enabled else State.DISABLED
        if mapping.state != settled:
            EventSourceMapping.objects.filter(uuid=mapping.uuid, state=mapping.state).update(state=settled)

    @staticmethod
    def _unit_run(mapping: EventSourceMapping, unit: str, stop: threading.Event) -> None:
        try:
            kind_module(mapping.kind).run(mapping.uuid, unit, stop)
        except Exception:
            logger.exception("poller unit %s failed; it will be taken up again", unit)
            result_note(mapping.uuid, "PROBLEM: the poller failed; see the poller's log")
        finally:
            close_old_connections()

    def stop_all(self, *, grace_seconds: float = 10) -> None:
        """Ask every unit to stop and give them, together, ``grace_seconds`` to finish; a unit
        still busy after that (a long invocation) is abandoned with the process, and its
        batch comes back to whoever takes the unit next."""
        for _, stop in self.running.values():
            stop.set()
        deadline = time.monotonic() + grace_seconds
        for unit, (thread, _) in self.running.items():
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
            if not thread.is_alive():
                self.leases.release(unit)
        self.running.clear()


def poller_run(*, stop: threading.Event) -> None:
    """The poller process's loop: settle states, renew leases, take free units, every second."""
    poller = Poller()
    while not stop.is_set():
        try:
            poller.tick()
        except Exception:
            logger.exception("poller tick failed; retrying")
            close_old_connections()
        stop.wait(1.0)
    poller.stop_all()
    alive_clear(poller.leases.redis, "poller", poller.owner)
