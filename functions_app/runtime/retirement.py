"""Telling every worker that a function's environments are out of date.

When a function's code or configuration changes, or it is deleted, the service announces
it on a Redis channel after the change commits; each worker listens and shuts down the
environments it holds for that function (a busy one when its invoke ends), so nothing of
the old code keeps running and every process of those environments is killed at once,
instead of idling on until ``STRATUS_ENV_IDLE_SECONDS``.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable

import redis

logger = logging.getLogger("stratus.retirement")

RETIRE_CHANNEL = "stratus:environments:retire"


def retire_announce(connection: redis.Redis, *, function_name: str, version: str | None) -> None:
    """Every worker shuts down ``function_name``'s environments (of ``version``, or all)."""
    try:
        connection.publish(RETIRE_CHANNEL, json.dumps({"function": function_name, "version": version}))
    except redis.RedisError:
        # Environments then retire at their next acquire or their idle timeout, as before.
        logger.warning("could not announce the retirement of %s's environments", function_name)


def retire_listen(
    connection: redis.Redis, retire: Callable[[str, str | None], object], stop: threading.Event
) -> None:
    """Call ``retire(function_name, version)`` for each announcement until ``stop`` is set."""
    while not stop.is_set():
        # redis-py leaves pubsub() unannotated.
        pubsub = connection.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
        try:
            pubsub.subscribe(RETIRE_CHANNEL)
            while not stop.is_set():
                message = pubsub.get_message(timeout=1.0)
                if message is None:
                    continue
                try:
                    body = json.loads(message["data"])
                    retire(str(body["function"]), body.get("version"))
                except (ValueError, KeyError, TypeError):
                    logger.warning("ignored a malformed retirement announcement: %r", message["data"])
        except redis.RedisError:
            stop.wait(1.0)  # Redis restarting: subscribe again
        finally:
            pubsub.close()
