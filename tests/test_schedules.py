"""Schedules: validation, the scheduler's ticks (once each, however many schedulers run, and one
firing after downtime), the Scheduled Event a function receives, and two real scheduler processes."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import transaction
from redis.backoff import NoBackoff
from redis.retry import Retry

from functions_app.models import Function
from functions_app.redis_client import redis_client
from functions_app.triggers import schedules
from functions_app.triggers.models import Schedule
from functions_app.triggers.schedules import (
    ScheduleConflict,
    ScheduleError,
    schedule_create,
    schedule_delete,
    schedule_update,
    scheduler_run,
    scheduler_tick,
)
from tests.conftest import _spawn_logged, function_made, make_zip, records

pytestmark = pytest.mark.django_db(transaction=True)

OK_PY = "def handler(event, context):\n    return {'echo': event}\n"


@pytest.fixture(autouse=True)
def _no_leases_left_over():
    """Leases outlive the flushed database; a reused schedule id must not find one."""
    connection = redis_client()
    for key in connection.scan_iter(match="stratus:schedule:*"):
        connection.delete(key)


def _utc(*parts: int, microsecond: int = 0) -> datetime:
    return datetime(*parts, microsecond=microsecond, tzinfo=UTC)


def _function(prefix: str = "sched") -> Function:
    """A function with a name of its own: the records stream outlives each test's database."""
    return function_made(f"{prefix}-{uuid.uuid4().hex[:8]}")


def _schedule(function: Function, expression: str, *, created_at: datetime, **fields) -> Schedule:
    schedule = schedule_create(
        name=f"{function.name}-every", function=function, qualifier="", expression=expression, **fields
    )
    Schedule.objects.filter(pk=schedule.pk).update(created_at=created_at)
    schedule.refresh_from_db()
    return schedule


def _fired(function: Function) -> list[dict]:
    return records(kind="async_received", function=function.name)


def _tick(now: datetime) -> int:
    return scheduler_tick(now=now, connection=redis_client())


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "has space"}, "Schedule name 'has space' is not valid"),
        ({"name": "x" * 65}, "is not valid: use 1 to 64 letters"),
        ({"name": ""}, "Schedule name '' is not valid"),
        ({"expression": "rate(1 minutes)"}, "with a value of 1 write 'minute'"),
        ({"expression": "every minute"}, "expected rate(...), cron(...) or at(...)"),
        ({"expression": "cron(0 9 * * * *)"}, "exactly one of day-of-month and day-of-week must be '?'"),
        ({"time_zone": "Mars/Olympus"}, "Time zone 'Mars/Olympus' is not valid"),
        ({"qualifier": "no-such-alias"}, "Qualifier 'no-such-alias' is not valid"),
        ({"detail": ["not", "an", "object"]}, "detail must be a JSON object"),
        ({"description": "d" * 513}, "description must be text of at most 512 characters"),
    ],
)
def test_it_rejects_invalid_settings_with_a_message_naming_the_problem(fields, message):
    function = _function()
    values = {"name": "nightly", "function": function, "qualifier": "", "expression": "rate(5 minutes)"}
    with pytest.raises(ScheduleError) as caught:
        schedule_create(**{**values, **fields})
    assert message in caught.value.message
    assert not Schedule.objects.exists()


def test_it_rejects_a_second_schedule_with_the_same_name_and_a_bad_update():
    function = _function()
    schedule = schedule_create(
        name="nightly.job_1", function=function, qualifier="", expression="rate(1 hour)"
    )
    with pytest.raises(ScheduleConflict, match="already exists"):
        schedule_create(name="nightly.job_1", function=function, qualifier="", expression="rate(2 hours)")
    with pytest.raises(ScheduleError, match="rate"):
        schedule_update(schedule=schedule, expression="rate(0 hours)")
    with pytest.raises(TypeError, match="name"):
        schedule_update(schedule=schedule, name="renamed")
    schedule.refresh_from_db()
    assert (schedule.expression, schedule.detail, schedule.enabled) == ("rate(1 hour)", {}, True)
    schedule_delete(schedule=schedule)
    assert not Schedule.objects.exists()


def test_it_fires_a_rate_schedule_once_per_tick_counted_from_its_creation():
    function = _function()
    created = _utc(2030, 1, 1, 12, 0, 0, microsecond=400_000)
    schedule = _schedule(function, "rate(1 minute)", created_at=created)
    assert _tick(_utc(2030, 1, 1, 12, 0, 59)) == 0
    assert _tick(_utc(2030, 1, 1, 12, 1, 0, microsecond=500_000)) == 1
    assert _tick(_utc(2030, 1, 1, 12, 1, 0, microsecond=500_000)) == 0
    assert _tick(_utc(2030, 1, 1, 12, 1, 59)) == 0
    assert _tick(_utc(2030, 1, 1, 12, 2, 0)) == 1
    schedule.refresh_from_db()
    assert schedule.last_fired_for == _utc(2030, 1, 1, 12, 2, 0)
    assert schedule.fire_count == 2
    fired = _fired(function)
    assert len(fired) == 2
    assert {record["trigger"] for record in fired} == {"schedule"}


def test_it_never_fires_a_tick_twice_even_if_one_of_its_two_guards_is_gone():
    function = _function()
    schedule = _schedule(function, "rate(1 minute)", created_at=_utc(2030, 1, 1, 12, 0, 0))
    tick, now = _utc(2030, 1, 1, 12, 1, 0), _utc(2030, 1, 1, 12, 1, 1)
    # What a second scheduler read just before the first one fired the tick.
    stale = Schedule.objects.select_related("function").get(pk=schedule.pk)
    assert _tick(now) == 1
    # The row looks unfired to that second scheduler, but the lease stops it.
    Schedule.objects.filter(pk=schedule.pk).update(last_fired_for=None)
    assert _tick(now) == 0
    Schedule.objects.filter(pk=schedule.pk).update(last_fired_for=tick)
    # The lease lost (a Redis failover): the database's conditional update stops it.
    redis_client().delete(f"stratus:schedule:{schedule.pk}:{int(tick.timestamp())}")
    assert schedules._fire(stale, tick=tick, connection=redis_client()) is False
    schedule.refresh_from_db()
    assert (schedule.last_fired_for, schedule.fire_count) == (tick, 1)
    assert len(_fired(function)) == 1


def test_it_collapses_ten_minutes_of_downtime_into_one_firing_for_the_latest_tick():
    function = _function()
    schedule = _schedule(function, "rate(1 minute)", created_at=_utc(2030, 1, 1, 12, 0, 0))
    assert _tick(_utc(2030, 1, 1, 12, 1, 0)) == 1
    # The scheduler was down from 12:01 to 12:11:30.
    assert _tick(_utc(2030, 1, 1, 12, 11, 30)) == 1
    assert _tick(_utc(2030, 1, 1, 12, 11, 31)) == 0
    schedule.refresh_from_db()
    assert schedule.last_fired_for == _utc(2030, 1, 1, 12, 11, 0)
    assert schedule.fire_count == 2
    assert len(_fired(function)) == 2


def test_it_fires_a_cron_schedule_at_wall_clock_time_in_its_time_zone():
    function = _function()
    schedule = _schedule(
        function, "cron(0 9 * * ? *)", created_at=_utc(2030, 3, 1, 0, 0), time_zone="America/New_York"
    )
    assert _tick(_utc(2030, 3, 1, 13, 59, 59)) == 0  # 08:59:59 EST
    assert _tick(_utc(2030, 3, 1, 14, 0, 0)) == 1  # 09:00 EST
    schedule.refresh_from_db()
    assert schedule.last_fired_for == _utc(2030, 3, 1, 14, 0)
    # Down for ten days, across the switch to daylight saving time (10 March 2030): one firing,
    # for 09:00 EDT on the 11th, which is 13:00 UTC.
    assert _tick(_utc(2030, 3, 11, 13, 0, 30)) == 1
    assert _tick(_utc(2030, 3, 11, 13, 59, 0)) == 0
    schedule.refresh_from_db()
    assert (schedule.last_fired_for, schedule.fire_count) == (_utc(2030, 3, 11, 13, 0), 2)
    assert len(_fired(function)) == 2


def test_it_neither_fires_a_disabled_schedule_nor_the_ticks_it_missed_while_disabled():
    function = _function()
    schedule = _schedule(function, "rate(1 minute)", created_at=_utc(2020, 1, 1, 12, 0, 0), enabled=False)
    assert _tick(datetime.now(UTC)) == 0
    schedule_update(schedule=schedule, enabled=True)
    schedule.refresh_from_db()
    assert schedule.last_fired_for > datetime.now(UTC) - timedelta(minutes=1)
    assert _tick(schedule.last_fired_for + timedelta(seconds=59)) == 0
    schedule.refresh_from_db()
    assert schedule.fire_count == 0
    # Its next tick, a whole minute after the last one it skipped, does fire.
    assert _tick(schedule.last_fired_for + timedelta(minutes=1)) == 1
    assert len(_fired(function)) == 1


def test_it_gives_a_tick_back_when_queueing_its_event_fails(monkeypatch):
    function = _function()
    schedule = _schedule(function, "rate(1 minute)", created_at=_utc(2030, 1, 1, 12, 0, 0))
    real_accept = schedules.event_accept_for

    def broken_accept(**kwargs):
        raise redis.ConnectionError("Redis went away")

    monkeypatch.setattr(schedules, "event_accept_for", broken_accept)
    with pytest.raises(redis.ConnectionError):
        _tick(_utc(2030, 1, 1, 12, 1, 5))
    schedule.refresh_from_db()
    assert (schedule.last_fired_for, schedule.fire_count) == (None, 0)
    monkeypatch.setattr(schedules, "event_accept_for", real_accept)
    assert _tick(_utc(2030, 1, 1, 12, 1, 6)) == 1
    assert len(_fired(function)) == 1


def test_the_scheduler_loop_survives_redis_being_unreachable_and_stops_when_told(caplog):
    function = _function()
    _schedule(function, "rate(1 minute)", created_at=datetime.now(UTC) - timedelta(seconds=90))
    unreachable = redis.Redis(
        host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0)
    )
    stop = threading.Event()
    loop = threading.Thread(target=scheduler_run, kwargs={"stop_event": stop, "connection": unreachable})
    with caplog.at_level(logging.WARNING, logger="stratus.scheduler"):
        loop.start()
        time.sleep(1.5)
        stop.set()
        loop.join(timeout=10)
    assert not loop.is_alive()
    assert "scheduler pass failed (ConnectionError" in caplog.text
    assert _fired(function) == []
    # Redis is back: the tick that was due all along fires, once.
    assert _tick(datetime.now(UTC)) == 1


@pytest.mark.usefixtures("stratus_workers")
def test_it_sends_eventbridges_scheduled_event_to_the_function(lambda_client, create_function, webhook):
    name = f"sched-event-{uuid.uuid4().hex[:8]}"
    create_function(name, Code={"ZipFile": make_zip({"lambda_function.py": OK_PY})})
    lambda_client.put_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": webhook.url}}
    )
    function = Function.objects.get(name=name)
    created = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=90)
    schedule_create(
        name=name,
        function=function,
        qualifier="",
        expression="rate(1 minute)",
        detail={"job": "report", "size": 3},
    )
    Schedule.objects.filter(name=name).update(created_at=created)
    assert _tick(datetime.now(UTC)) == 1
    ((_, record, _),) = webhook.wait(1)
    event = dict(record["requestPayload"])
    assert set(event) == {
        "version",
        "id",
        "detail-type",
        "source",
        "account",
        "time",
        "region",
        "resources",
        "detail",
    }
    assert uuid.UUID(event.pop("id"))
    assert event == {
        "version": "0",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": settings.STRATUS_ACCOUNT_ID,
        "time": (created + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": settings.STRATUS_REGION,
        "resources": [f"arn:aws:events:{settings.STRATUS_REGION}:{settings.STRATUS_ACCOUNT_ID}:rule/{name}"],
        "detail": {"job": "report", "size": 3},
    }
    assert record["responsePayload"] == {"echo": record["requestPayload"]}


def _wait_for_line(log: Path, text: str, *, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_text():
        assert process.poll() is None, f"the scheduler exited early:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"no {text!r} in {log}:\n{log.read_text()}"
        time.sleep(0.1)


@pytest.mark.slow
def test_it_fires_a_schedule_once_per_tick_with_two_scheduler_processes_running(tmp_path):
    function = _function("sched-two")
    logs = [tmp_path / "scheduler-1.log", tmp_path / "scheduler-2.log"]
    processes = [_spawn_logged([sys.executable, "manage.py", "stratus_scheduler"], log) for log in logs]
    try:
        for process, log in zip(processes, logs, strict=True):
            _wait_for_line(log, "scheduler started", process=process)
        # Both are running. A rate(1 minute) schedule created ten minutes ago, less three
        # seconds: nine ticks are past (they collapse into one firing now), and the tenth is
        # due in three seconds, when both schedulers wake on the same second to fire it.
        next_tick = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=3)
        with transaction.atomic():
            schedule = _schedule(function, "rate(1 minute)", created_at=next_tick - timedelta(minutes=10))
        while datetime.now(UTC) < next_tick + timedelta(seconds=2):
            time.sleep(0.1)
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        codes = [process.wait(timeout=10) for process in processes]
    assert codes == [0, 0], [log.read_text() for log in logs]
    fired = _fired(function)
    assert len(fired) == 2, [log.read_text() for log in logs]
    assert fired[1]["started_at"] >= next_tick.timestamp()
    schedule.refresh_from_db()
    assert (schedule.last_fired_for, schedule.fire_count) == (next_tick, 2)
    log_text = "".join(log.read_text() for log in logs)
    assert log_text.count("fired for") == 2
    assert "scheduler stopped" in logs[0].read_text() and "scheduler stopped" in logs[1].read_text()
