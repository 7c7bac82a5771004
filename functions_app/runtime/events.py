"""Asynchronous events on RQ: enqueueing (now or later) and their live state in Redis.

The live state (queued, running, retrying, with attempts and the last error) is what the
inspection API shows; it is written in the same pipeline as the job itself.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Any

import redis
from redis.client import Pipeline
from redis.typing import EncodableT, FieldT
from rq import Queue

from functions_app.runtime.records import record_append
from functions_app.runtime.redis_values import redis_bytes, redis_text

ASYNC_QUEUE = "async"
EVENT_JOB = "functions_app.hosting.async_jobs.invoke_event"
EVENT_KEY = "stratus:async:event:{request_id}"
LIVE_KEY = "stratus:async:live:{function}"
JOB_TIMEOUT = 900 + 10 + 60  # the longest function timeout, INIT and slack
STATE_TTL = 7 * 24 * 3600


def _state(
    connection: redis.Redis,
    message: dict[str, Any],
    state: str,
    *,
    last_error: str | None,
    next_at: float | None,
    pipeline: Pipeline | None = None,
) -> None:
    pipe = pipeline or connection.pipeline(transaction=False)
    key = EVENT_KEY.format(request_id=message["request_id"])
    fields: dict[FieldT, EncodableT] = {
        "request_id": message["request_id"],
        "function": message["function_name"],
        "qualifier": message.get("qualifier") or "",
        "version": message["version"],
        "state": state,
        "attempt": message.get("attempt", 1),
        "throttles": message.get("throttles", 0),
        "redeliveries": message.get("redeliveries", 0),
        "accepted_at": message["accepted_at"],
        "next_at": next_at or "",
        "updated_at": time.time(),
        "job_id": f"{message['request_id']}_{message.get('enqueues', 1)}",
    }
    if last_error is not None:
        fields["last_error"] = last_error
    pipe.hset(key, mapping=fields)
    pipe.expire(key, STATE_TTL)
    pipe.zadd(
        LIVE_KEY.format(function=message["function_name"]), {message["request_id"]: message["accepted_at"]}
    )
    if pipeline is None:
        pipe.execute()


def event_enqueue(
    connection: redis.Redis,
    message: dict[str, Any],
    *,
    delay_seconds: float = 0.0,
    last_error: str | None = None,
    record: dict[str, Any] | None = None,
) -> str:
    """Put ``message`` on the async queue (after ``delay_seconds``); returns the RQ job id.

    The job, its live state and ``record`` (if any) go to Redis in one MULTI/EXEC, so an
    accepted event is never half-written and accepting costs one round trip.
    """
    message["enqueues"] = message.get("enqueues", 0) + 1
    message["enqueued_at"] = time.time() + delay_seconds
    job_id = f"{message['request_id']}_{message['enqueues']}"
    queue = Queue(ASYNC_QUEUE, connection=connection)
    options = {"job_id": job_id, "job_timeout": JOB_TIMEOUT, "result_ttl": 0, "failure_ttl": STATE_TTL}
    with connection.pipeline(transaction=True) as pipe:
        # RQ may WATCH on the pipeline, which must come before any queued command.
        if delay_seconds > 0:
            # RQ's scheduler keeps whole seconds (it truncates), so round up: never early.
            run_at = datetime.fromtimestamp(math.ceil(time.time() + delay_seconds), UTC)
            queue.enqueue_at(run_at, EVENT_JOB, message, pipeline=pipe, **options)
            _state(
                connection,
                message,
                "retrying",
                last_error=last_error,
                next_at=time.time() + delay_seconds,
                pipeline=pipe,
            )
        else:
            queue.enqueue(EVENT_JOB, message, pipeline=pipe, **options)
            _state(connection, message, "queued", last_error=last_error, next_at=None, pipeline=pipe)
        if record is not None:
            record_append(pipe, record)
        pipe.execute()
    return job_id


def event_running(connection: redis.Redis, message: dict[str, Any]) -> None:
    _state(connection, message, "running", last_error=None, next_at=None)


def event_done(connection: redis.Redis, message: dict[str, Any]) -> None:
    pipe = connection.pipeline(transaction=False)
    pipe.delete(EVENT_KEY.format(request_id=message["request_id"]))
    pipe.zrem(LIVE_KEY.format(function=message["function_name"]), message["request_id"])
    pipe.execute()


def events_live(connection: redis.Redis, function_name: str, *, limit: int = 500) -> list[dict[str, Any]]:
    """Events of ``function_name`` that are queued, running or waiting for a retry, oldest first."""
    ids = connection.zrange(LIVE_KEY.format(function=function_name), 0, limit - 1)
    pipe = connection.pipeline(transaction=False)
    for request_id in ids:
        pipe.hgetall(EVENT_KEY.format(request_id=redis_text(request_id)))
    events = []
    stale: list[bytes] = []
    for request_id, fields in zip(ids, pipe.execute(), strict=True):
        if not fields:
            stale.append(redis_bytes(request_id))
            continue
        event: dict[str, Any] = {key.decode(): value.decode() for key, value in fields.items()}
        for name in ("attempt", "throttles", "redeliveries"):
            event[name] = int(event.get(name) or 0)
        for name in ("accepted_at", "next_at", "updated_at"):
            event[name] = float(event[name]) if event.get(name) else None
        events.append(event)
    if stale:
        connection.zrem(LIVE_KEY.format(function=function_name), *stale)
    return events


def orphaned_events_rescue(connection: redis.Redis, *, alive_prefix: str) -> int:
    """Run again, on a live worker, every event whose worker died while running it.

    RQ leaves such a job in its started registry until the job's timeout passes and a
    maintenance pass moves it to the failed registry; workers refresh an alive key every
    second, so a missing key finds the dead within seconds. The rerun keeps the request
    id and uses no attempt: the failure was the platform's, not the function's.
    """
    from rq.job import Job
    from rq.registry import StartedJobRegistry

    registry = StartedJobRegistry(ASYNC_QUEUE, connection=connection)
    rescued = 0
    # Entries are "<job id>:<execution id>" in RQ 2; the registry has no remove() for them.
    for entry in connection.zrange(registry.key, 0, -1):
        job_id = registry.parse_job_id(redis_text(entry))
        job = Job.fetch(job_id, connection=connection) if connection.exists(f"rq:job:{job_id}") else None
        worker = job.worker_name if job is not None else None
        if job is None or not worker or connection.exists(alive_prefix + worker):
            continue
        if not connection.set(f"stratus:rescue:{job_id}", "1", nx=True, ex=3600):
            continue  # another worker is rescuing it
        connection.zrem(registry.key, redis_bytes(entry))
        if job.func_name == EVENT_JOB:
            message = job.args[0]
            message["redeliveries"] = message.get("redeliveries", 0) + 1
            message.pop("lease", None)
            event_enqueue(
                connection, message, last_error=f"Redelivered: worker {worker} died while running it"
            )
        else:
            Queue(ASYNC_QUEUE, connection=connection).enqueue_job(job)
        rescued += 1
    return rescued


STRANDED_AFTER_SECONDS = 30


def _job_is_somewhere(connection: redis.Redis, job_id: str) -> bool:
    """Whether RQ still holds ``job_id``: queued, scheduled or running."""
    if connection.lpos(f"rq:queue:{ASYNC_QUEUE}", job_id) is not None:
        return True
    if connection.zscore(f"rq:scheduled:{ASYNC_QUEUE}", job_id) is not None:
        return True
    return any(True for _ in connection.zscan_iter(f"rq:wip:{ASYNC_QUEUE}", match=f"{job_id}:*", count=1000))


def stranded_events_rescue(connection: redis.Redis, *, now: float | None = None) -> int:
    """Re-queue accepted events that RQ lost track of.

    RQ pops a job id off the queue before it records the job as started; if Redis or the
    worker dies in between, the job is in no list at all. Every accepted event has a live
    state in Redis, written with its job, so an event whose state has not moved for a while
    and whose job is nowhere is put back on the queue, keeping its request id. A job that
    is gone because it finished (its hash is deleted on success) just has its state closed.
    """
    from rq.job import Job

    now = now or time.time()
    rescued = 0
    for live_key in connection.scan_iter(match=LIVE_KEY.format(function="*"), count=200):
        for member in connection.zrange(live_key, 0, -1):
            request_id = redis_text(member)
            state = {
                redis_text(k): redis_text(v)
                for k, v in connection.hgetall(EVENT_KEY.format(request_id=request_id)).items()
            }
            if not state or now - float(state.get("updated_at") or now) < STRANDED_AFTER_SECONDS:
                continue
            if (
                state.get("state") == "retrying"
                and now < float(state.get("next_at") or 0) + STRANDED_AFTER_SECONDS
            ):
                continue
            job_id = state.get("job_id")
            if not job_id or _job_is_somewhere(connection, job_id):
                continue
            if not connection.set(f"stratus:rescue:{job_id}", "1", nx=True, ex=3600):
                continue
            if not connection.exists(f"rq:job:{job_id}"):
                connection.zrem(live_key, request_id)
                connection.delete(EVENT_KEY.format(request_id=request_id))
                continue
            message = Job.fetch(job_id, connection=connection).args[0]
            message["redeliveries"] = message.get("redeliveries", 0) + 1
            message.pop("lease", None)
            event_enqueue(connection, message, last_error="Redelivered: the queue lost the event's job")
            rescued += 1
    return rescued
