"""Schedules: create, change and delete them, and the scheduler that fires their ticks.

Any number of schedulers may run, on any number of hosts; each tick still fires once, because
two guards must both let it through. A Redis lease per (schedule, tick), taken with SET NX,
lets one scheduler try; a conditional UPDATE that moves ``last_fired_for`` only from the value
that scheduler read lets the database refuse a second claim even if the lease were lost (a
Redis failover, a flushed key). Only then is the event queued.

A scheduler fires only the latest due tick: after downtime the missed ticks collapse into one
firing, never a burst. Rate schedules tick every period from their creation time (to the
whole second), as EventBridge's rate rules do; cron and at schedules tick at wall-clock
times in their time zone (``schedule_expressions``).
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import redis
from django.conf import settings
from django.db import DatabaseError, IntegrityError, connections
from django.db.models import F
from django.utils import timezone

from functions_app.errors import LambdaError
from functions_app.models import Function
from functions_app.redis_client import redis_client
from functions_app.selectors import qualifier_exists_check
from functions_app.services.events import event_accept_for
from functions_app.triggers.models import Schedule
from functions_app.triggers.presence import alive_clear, alive_mark
from functions_app.triggers.schedule_expressions import (
    Rate,
    ScheduleExpressionError,
    schedule_next_fire,
    schedule_parse,
)
from functions_app.triggers.schedule_expressions import Schedule as ParsedSchedule

logger = logging.getLogger("stratus.scheduler")

SCHEDULE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
DESCRIPTION_MAX = 512
LEASE_KEY = "stratus:schedule:{schedule_id}:{tick}"
LEASE_SECONDS = 3600
TRIGGER = "schedule"
_UPDATABLE = frozenset(
    {"function", "qualifier", "expression", "time_zone", "enabled", "detail", "description"}
)
_BACKOFF_MAX_SECONDS = 5.0


class ScheduleError(Exception):
    """A schedule's settings are not valid; ``message`` says which and why. ``code`` is
    EventBridge Scheduler's error name, for an API that wants to answer like it."""

    code = "ValidationException"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ScheduleConflict(ScheduleError):
    code = "ConflictException"


def schedule_create(
    *,
    name: str,
    function: Function,
    qualifier: str,
    expression: str,
    time_zone: str = "UTC",
    enabled: bool = True,
    detail: dict | None = None,
    description: str = "",
) -> Schedule:
    """Create a schedule; its first tick is the first one after now. Raises ScheduleError."""
    if not isinstance(name, str) or not SCHEDULE_NAME.fullmatch(name):
        raise ScheduleError(
            f"Schedule name {name!r} is not valid: use 1 to 64 letters, digits, '.', '_' or '-'."
        )
    fields = _validated(
        function=function,
        qualifier=qualifier,
        expression=expression,
        time_zone=time_zone,
        enabled=enabled,
        detail={} if detail is None else detail,
        description=description,
    )
    if Schedule.objects.filter(name=name).exists():
        raise ScheduleConflict(f"A schedule named {name!r} already exists.")
    try:
        return Schedule.objects.create(name=name, **fields)
    except IntegrityError:
        raise ScheduleConflict(f"A schedule named {name!r} already exists.") from None


def schedule_update(*, schedule: Schedule, **fields: Any) -> Schedule:
    """Change some of a schedule's settings (not its name). Raises ScheduleError.

    Enabling a disabled schedule, or changing when it ticks, does not fire a tick that is
    already past: ``last_fired_for`` moves up to the latest due tick, so the scheduler starts
    with the next one (EventBridge likewise never fires a rule for a time it was off).
    """
    unknown = set(fields) - _UPDATABLE
    if unknown:
        raise TypeError(f"schedule_update() cannot change {', '.join(sorted(unknown))}")
    current = {field: getattr(schedule, field) for field in _UPDATABLE}
    validated = _validated(**{**current, **fields})
    changed = [field for field in fields if validated[field] != current[field]]
    for field in changed:
        setattr(schedule, field, validated[field])
    resumes = ("enabled" in changed and schedule.enabled) or bool({"expression", "time_zone"} & set(changed))
    if resumes and schedule.enabled:
        settled = _latest_due_tick(schedule, now=timezone.now())
        if settled is not None:
            schedule.last_fired_for = settled
            changed.append("last_fired_for")
    if changed:
        schedule.save(update_fields=changed)
    return schedule


def schedule_delete(*, schedule: Schedule) -> None:
    schedule.delete()


def schedule_next_firing(schedule: Schedule, *, now: datetime) -> datetime | None:
    """When ``schedule`` fires next after ``now`` (None when disabled, done, or unparseable).

    Rate schedules tick every period from their creation, to the whole second, as the
    scheduler counts them; cron and at ignore the anchor.
    """
    if not schedule.enabled:
        return None
    try:
        parsed = schedule_parse(schedule.expression, timezone=schedule.time_zone)
    except ScheduleExpressionError:
        return None
    return schedule_next_fire(parsed, now, anchor=schedule.created_at.replace(microsecond=0))


def scheduled_event(*, schedule: Schedule, tick: datetime) -> dict:
    """EventBridge's Scheduled Event for one tick of ``schedule``."""
    region, account = settings.STRATUS_REGION, settings.STRATUS_ACCOUNT_ID
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": tick.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:{account}:rule/{schedule.name}"],
        "detail": schedule.detail or {},
    }


def scheduler_tick(*, now: datetime, connection: redis.Redis) -> int:
    """Fire every enabled schedule's latest due tick that has not fired yet; returns how many fired.

    Redis and database errors propagate (the loop retries the whole pass); a schedule that
    cannot fire for reasons of its own is logged and does not hold up the others.
    """
    if now.tzinfo is None:
        raise ValueError("now must be a timezone-aware datetime")
    fired = 0
    for schedule in Schedule.objects.filter(enabled=True).select_related("function"):
        try:
            tick = _latest_due_tick(schedule, now=now)
            if tick is not None and _fire(schedule, tick=tick, connection=connection):
                fired += 1
        except (redis.RedisError, DatabaseError):
            raise
        except ScheduleExpressionError as error:
            _warn_once(schedule, f"schedule {schedule.name} cannot tick: {error}")
        except Exception:
            logger.exception("schedule %s failed to fire", schedule.name)
    return fired


_SCHEDULER_ID = f"{socket.gethostname()}:{os.getpid()}"


def scheduler_run(
    *, stop_event: threading.Event | None = None, connection: redis.Redis | None = None
) -> None:
    """Tick until ``stop_event`` is set: once a second, just after the second turns.

    Every tick falls on a whole second (rate ticks are anchored on a whole second, cron and
    at on whole minutes and seconds), so waking at each second is never late for a firing.
    Redis or database outages are logged and retried with a short back-off.
    """
    stop_event = stop_event or threading.Event()
    connection = connection or redis_client()
    failures = 0
    while not stop_event.is_set():
        try:
            scheduler_tick(now=timezone.now(), connection=connection)
            alive_mark(connection, "scheduler", _SCHEDULER_ID)
            failures = 0
            delay = 1.0 - time.time() % 1.0 + 0.005
        except (redis.RedisError, DatabaseError) as error:
            failures += 1
            delay = min(_BACKOFF_MAX_SECONDS, 0.5 * 2**failures)
            logger.warning(
                "scheduler pass failed (%s: %s); retrying in %.1f s", type(error).__name__, error, delay
            )
            if isinstance(error, DatabaseError):
                connections.close_all()  # reconnect on the next pass
        except Exception:
            failures += 1
            delay = min(_BACKOFF_MAX_SECONDS, 0.5 * 2**failures)
            logger.exception("scheduler pass failed; retrying in %.1f s", delay)
        stop_event.wait(delay)
    alive_clear(connection, "scheduler", _SCHEDULER_ID)
    connections.close_all()  # this thread's connections, not left for the server to time out


def _validated(
    *,
    function: Function,
    qualifier: str,
    expression: str,
    time_zone: str,
    enabled: bool,
    detail: object,
    description: str,
) -> dict[str, Any]:
    try:
        parsed = schedule_parse(expression, timezone=time_zone)
    except ScheduleExpressionError as error:
        raise ScheduleError(str(error)) from None
    qualifier = qualifier or ""
    try:
        if qualifier:
            qualifier_exists_check(function, qualifier)
    except LambdaError as error:
        raise ScheduleError(f"Qualifier {qualifier!r} is not valid: {error.message}") from None
    if not isinstance(detail, dict):
        raise ScheduleError("detail must be a JSON object.")
    try:
        json.dumps(detail)
    except (TypeError, ValueError):
        raise ScheduleError("detail must be a JSON object.") from None
    if not isinstance(description, str) or len(description) > DESCRIPTION_MAX:
        raise ScheduleError(f"description must be text of at most {DESCRIPTION_MAX} characters.")
    if not isinstance(enabled, bool):
        raise ScheduleError("enabled must be true or false.")
    return {
        "function": function,
        "qualifier": qualifier,
        "expression": parsed.expression,
        "time_zone": time_zone,
        "enabled": enabled,
        "detail": detail,
        "description": description,
    }


@lru_cache(maxsize=512)
def _parsed(expression: str, time_zone: str) -> ParsedSchedule:
    return schedule_parse(expression, timezone=time_zone)


def _latest_due_tick(schedule: Schedule, *, now: datetime) -> datetime | None:
    """The latest tick in (last fired tick, or creation; now], or None."""
    parsed = _parsed(schedule.expression, schedule.time_zone)
    after = schedule.last_fired_for or schedule.created_at
    rule = parsed.rule
    if isinstance(rule, Rate):
        anchor = schedule.created_at.replace(microsecond=0)
        periods = (now - anchor) // rule.period
        tick = anchor + periods * rule.period
        return tick.astimezone(UTC) if periods >= 1 and tick > after else None
    first = schedule_next_fire(parsed, after)
    if first is None or first > now:
        return None  # the usual case: nothing due
    # Look back over a window that doubles until it holds a tick, then walk to the last one,
    # so a cron that missed a year of minutes costs a few dozen steps, not half a million.
    window = timedelta(minutes=1)
    while True:
        start = max(after, now - window)
        tick = schedule_next_fire(parsed, start)
        if tick is not None and tick <= now:
            break
        window *= 2
    while (following := schedule_next_fire(parsed, tick)) is not None and following <= now:
        tick = following
    return tick


def _fire(schedule: Schedule, *, tick: datetime, connection: redis.Redis) -> bool:
    """Fire ``tick`` unless another scheduler has; True if this one did."""
    lease = LEASE_KEY.format(schedule_id=schedule.pk, tick=int(tick.timestamp()))
    if not connection.set(lease, f"{socket.gethostname()}:{os.getpid()}", nx=True, ex=LEASE_SECONDS):
        return False
    previous = schedule.last_fired_for
    claimed = Schedule.objects.filter(pk=schedule.pk, enabled=True, last_fired_for=previous).update(
        last_fired_for=tick
    )
    if not claimed:
        return False
    payload = json.dumps(scheduled_event(schedule=schedule, tick=tick)).encode()
    try:
        event_accept_for(
            function=schedule.function, qualifier=schedule.qualifier or None, payload=payload, trigger=TRIGGER
        )
    except LambdaError as error:
        # The target is gone (a deleted alias) or refuses the event: that is this tick's
        # outcome, as for EventBridge; trying again every second would only repeat it.
        logger.warning("schedule %s could not invoke %s: %s", schedule.name, schedule.function.name, error)
        return False
    except BaseException:
        _unclaim(schedule, tick=tick, previous=previous, lease=lease, connection=connection)
        raise
    Schedule.objects.filter(pk=schedule.pk).update(fire_count=F("fire_count") + 1)
    schedule.last_fired_for = tick
    logger.info("schedule %s fired for %s", schedule.name, tick.isoformat())
    return True


def _unclaim(
    schedule: Schedule, *, tick: datetime, previous: datetime | None, lease: str, connection: redis.Redis
) -> None:
    """Give a tick back after queueing its event failed, so the next pass fires it."""
    try:
        Schedule.objects.filter(pk=schedule.pk, last_fired_for=tick).update(last_fired_for=previous)
        connection.delete(lease)
    except (redis.RedisError, DatabaseError):
        logger.warning("schedule %s: tick %s could not be given back; it is skipped", schedule.name, tick)


_warned: set[tuple[int, str, str]] = set()


def _warn_once(schedule: Schedule, message: str) -> None:
    """A broken schedule (edited around the service) would otherwise log every second."""
    key = (schedule.pk, schedule.expression, schedule.time_zone)
    if key not in _warned:
        _warned.add(key)
        logger.warning(message)
