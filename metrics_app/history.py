"""Invocation history: find any invocation, and follow one through its phases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.db.models import QuerySet
from django.http import JsonResponse

from functions_app.errors import InvalidParameterValue, ResourceNotFound
from functions_app.selectors import function_get
from functions_app.web.access import VIEW, function_check
from metrics_app.models import InvocationRecord, LogEvent

PAGE_MAX = 200


def invocation_filter(function_name: str, params) -> QuerySet[InvocationRecord]:
    """Filter a function's history by outcome, cold, trigger, type, time, duration and request id."""
    records = InvocationRecord.objects.filter(function_name=function_name)
    if params.get("outcome"):
        outcomes = params["outcome"].split(",")
        if "error" in outcomes:  # "error" means any failure
            records = records.exclude(outcome="success")
        else:
            records = records.filter(outcome__in=outcomes)
    if params.get("cold") in ("true", "false"):
        records = records.filter(cold=params["cold"] == "true")
    if params.get("trigger"):
        records = records.filter(trigger=params["trigger"])
    if params.get("invocationType"):
        records = records.filter(invocation_type=params["invocationType"])
    if params.get("requestId"):
        records = records.filter(request_id__startswith=params["requestId"])
    try:
        if params.get("minDurationMs"):
            records = records.filter(duration_ms__gte=float(params["minDurationMs"]))
        if params.get("since"):
            records = records.filter(started_at__gte=datetime.fromtimestamp(float(params["since"]), UTC))
        if params.get("until"):
            records = records.filter(started_at__lt=datetime.fromtimestamp(float(params["until"]), UTC))
    except ValueError:
        raise InvalidParameterValue(
            "minDurationMs, since and until must be numbers (since/until: epoch s)."
        ) from None
    return records.order_by("-started_at", "-id")


def invocation_summary(record: InvocationRecord) -> dict:
    return {
        "requestId": record.request_id,
        "attempt": record.attempt,
        "redelivery": record.redelivery,
        "version": record.version,
        "qualifier": record.qualifier or None,
        "trigger": record.trigger,
        "invocationType": record.invocation_type,
        "outcome": record.outcome,
        "errorType": record.error_type or None,
        "cold": record.cold,
        "provisioned": record.provisioned,
        "startedAt": record.started_at.isoformat(),
        "durationMs": record.duration_ms,
        "initDurationMs": record.init_duration_ms,
        "billedDurationMs": record.billed_duration_ms,
        "maxMemoryMb": record.max_memory_mb,
        "memorySize": record.memory_size,
    }


def phases(record: InvocationRecord) -> list[dict]:
    """The timeline of one run: queued, init (cold starts), invoke; in ms from acceptance."""
    origin = (record.enqueued_at or record.started_at).timestamp()
    queued_ms = max(0.0, (record.started_at.timestamp() - origin) * 1000)
    timeline = [{"phase": "queued", "startMs": 0.0, "durationMs": queued_ms}]
    cursor = queued_ms
    if record.init_duration_ms:
        timeline.append({"phase": "init", "startMs": cursor, "durationMs": record.init_duration_ms})
        cursor += record.init_duration_ms
    timeline.append({"phase": "invoke", "startMs": cursor, "durationMs": record.duration_ms})
    return timeline


def invocations(request, function_name: str):
    function = function_get(function_name)
    try:
        limit = min(int(request.GET.get("limit", "50")), PAGE_MAX)
    except ValueError:
        raise InvalidParameterValue("limit must be an integer.") from None
    records = invocation_filter(function.name, request.GET)
    if request.GET.get("before"):
        try:
            records = records.filter(id__lt=int(request.GET["before"]))
        except ValueError:
            raise InvalidParameterValue("before must be the cursor a previous page returned.") from None
    page = list(records[: limit + 1])
    body = {"function": function.name, "invocations": [invocation_summary(r) for r in page[:limit]]}
    if len(page) > limit:
        body["next"] = page[limit - 1].id
    return JsonResponse(body)


def invocation_detail(request, request_id: str):
    runs = list(InvocationRecord.objects.filter(request_id=request_id).order_by("started_at", "attempt"))
    if not runs:
        raise ResourceNotFound(f"No invocation {request_id} (it may be older than the history's retention).")
    # The function must still exist, and the caller may see it.
    function_check(request, function_get(runs[0].function_name), VIEW)
    window = timedelta(minutes=15)
    logs = LogEvent.objects.filter(
        request_id=request_id,
        timestamp_ms__gte=int((runs[0].started_at - window).timestamp() * 1000),
    ).select_related("stream")[:2000]
    return JsonResponse(
        {
            "requestId": request_id,
            "function": runs[0].function_name,
            "runs": [
                {
                    **invocation_summary(run),
                    "phases": phases(run),
                    "logStream": run.log_stream,
                    "queueWaitMs": run.queue_wait_ms,
                    "asyncEventAgeMs": run.async_event_age_ms,
                    "requestPayload": run.request_payload or None,
                    "responsePayload": run.response_payload or None,
                    "payloadsTruncated": run.payloads_truncated,
                    "worker": run.worker,
                }
                for run in runs
            ],
            "logs": [
                {"timestamp": event.timestamp_ms, "stream": event.stream.name, "message": event.message}
                for event in logs
            ],
        }
    )
