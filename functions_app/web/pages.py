"""Dashboard pages: the functions list, create, a function's tabs, one invocation."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Q, Sum
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from functions_app.errors import LambdaError
from functions_app.models import LATEST, FailedEvent, FunctionVersion
from functions_app.runtime.languages import available_runtimes
from functions_app.selectors import functions_of_account, version_get
from functions_app.services.artifacts import artifact_read
from functions_app.services.execution_role import execution_roles_available
from functions_app.services.functions import function_create, function_create_with_basic_role
from functions_app.web.access import (
    CHANGE,
    EVERY_FUNCTION,
    account_editor_required,
    function_for,
    functions_visible,
    permitted,
    viewer_required,
)
from functions_app.web.blueprints import blueprint, zip_files, zip_text_files
from functions_app.web.triggers import function_triggers
from iam.web.function_permissions import function_permissions
from metrics_app.history import invocation_filter, phases
from metrics_app.models import InvocationRecord, LogEvent, MetricPoint

TABS = ("code", "test", "monitor", "logs", "invocations", "async", "configuration")
PAGE_SIZE = 100


def _last_hour_totals(functions: list[str]) -> dict[str, dict]:
    """Per function: invocations and errors over the last hour, and the error rate (one query)."""
    since = datetime.now(UTC) - timedelta(hours=1)
    stats = {name: {"invocations": 0.0, "errors": 0.0} for name in functions}
    rows = (
        MetricPoint.objects.filter(
            period=60,
            resource="",
            metric__in=("Invocations", "Errors"),
            function_name__in=functions,
            timestamp__gte=since,
        )
        .values_list("function_name", "metric")
        .annotate(total=Sum("sum"))
    )
    for name, metric, total in rows:
        stats[name]["invocations" if metric == "Invocations" else "errors"] = total or 0.0
    for entry in stats.values():
        entry["error_rate"] = entry["errors"] / entry["invocations"] * 100 if entry["invocations"] else None
    return stats


def _sparklines(functions: list[str]) -> dict[str, str]:
    """SVG polyline points of invocations per minute over the last hour, for one page of rows."""
    since = datetime.now(UTC) - timedelta(hours=1)
    minutes = {name: [0.0] * 60 for name in functions}
    rows = MetricPoint.objects.filter(
        period=60, resource="", metric="Invocations", function_name__in=functions, timestamp__gte=since
    ).values_list("function_name", "timestamp", "sum")
    for name, timestamp, total in rows:
        minutes[name][min(59, max(0, int((timestamp - since).total_seconds() // 60)))] += total
    lines = {}
    for name, values in minutes.items():
        peak = max(values) or 1.0
        lines[name] = " ".join(
            f"{index * 2},{20 - value / peak * 18:.1f}" for index, value in enumerate(values)
        )
    return lines


@viewer_required
def function_list(request):
    query = request.GET.get("q", "").strip()
    sort = request.GET.get("sort", "name")
    versions = FunctionVersion.objects.filter(version=LATEST, function__in=functions_of_account())
    versions = versions.select_related("function", "code")
    if query:
        versions = versions.filter(Q(function__name__icontains=query) | Q(description__icontains=query))
    versions = list(versions.order_by("function__name").prefetch_related("function__policy_statements"))
    visible = {
        function.pk for function in functions_visible(request, (version.function for version in versions))
    }
    versions = [version for version in versions if version.function.pk in visible]
    stats = _last_hour_totals([version.function.name for version in versions])
    if sort == "modified":
        versions.sort(key=lambda v: v.last_modified, reverse=True)
    elif sort == "invocations":
        versions.sort(key=lambda v: stats[v.function.name]["invocations"], reverse=True)
    elif sort == "errors":
        versions.sort(key=lambda v: stats[v.function.name]["error_rate"] or -1, reverse=True)
    page = Paginator(versions, PAGE_SIZE).get_page(request.GET.get("page"))
    lines = _sparklines([version.function.name for version in page])
    rows = [
        {"version": version, "sparkline": lines[version.function.name], **stats[version.function.name]}
        for version in page
    ]
    return render(
        request,
        "functions/list.html",
        {
            "rows": rows,
            "query": query,
            "sort": sort,
            "page": page,
            "can_create": permitted(request, CHANGE, EVERY_FUNCTION),
        },
    )


def _create_form(request, *, values: dict, error: LambdaError | None = None, status: int = 200):
    return render(
        request,
        "functions/create.html",
        {
            "runtimes": list(available_runtimes()),
            "roles": execution_roles_available(),
            "values": values,
            "error": error,
            "error_field": _error_field(error),
        },
        status=status,
    )


def _error_field(error: LambdaError | None) -> str | None:
    if error is None:
        return None
    text = error.message.lower()
    for field, words in (
        ("name", ("functionname", "function already")),
        ("memory", ("memorysize",)),
        ("timeout", ("'timeout'",)),
        ("handler", ("handler",)),
        ("runtime", ("runtime",)),
        ("zip", ("zip", "unzip", "package")),
        ("role", ("'role'", "the role defined")),
    ):
        if any(word in text for word in words):
            return field
    return None


@account_editor_required
def function_new(request):
    values = {
        "runtime": next(iter(available_runtimes())),
        "memory": 128,
        "timeout": 3,
        "source": "blueprint",
        "role_source": "new",
    }
    python = [name for name in available_runtimes() if name.startswith("python")]
    if python:
        values["runtime"] = python[-1]
    if request.method != "POST":
        return _create_form(request, values=values)
    values = {
        key: request.POST.get(key, "").strip()
        for key in ("name", "runtime", "handler", "memory", "timeout", "source", "role_source", "role")
    }
    handler, files = blueprint(values["runtime"])
    if values["source"] == "zip":
        upload = request.FILES.get("zip")
        code = upload.read() if upload else b""
    else:
        code = zip_files(files)
    fields = {
        "FunctionName": values["name"],
        "Runtime": values["runtime"],
        "Handler": values["handler"] or handler,
        "Code": {"ZipFile": base64.b64encode(code).decode()},
    }
    for key, field in (("memory", "MemorySize"), ("timeout", "Timeout")):
        try:
            fields[field] = int(values[key])
        except ValueError:
            fields[field] = values[key]
    try:
        if values["role_source"] == "existing":
            function_create(fields={**fields, "Role": values["role"]})
        else:  # the console's default: a new role with basic Lambda permissions
            function_create_with_basic_role(fields=fields)
    except LambdaError as error:
        return _create_form(request, values=values, error=error, status=400)
    messages.success(request, f"Created {values['name']}.")
    return redirect(reverse("function-detail", args=[values["name"]]))


@viewer_required
def function_detail(request, name: str, *, form_errors: dict | None = None, status: int = 200):
    function = function_for(request, name)
    tab = request.GET.get("tab", "code")
    if tab not in TABS:
        tab = "code"
    latest = version_get(function, LATEST)
    context = {
        "function": function,
        "can_change": permitted(request, CHANGE, function),
        "latest": latest,
        "tab": tab,
        "tabs": TABS,
        "form_errors": form_errors or {},
        "versions": list(function.versions.order_by("-number")),
        "aliases": list(function.aliases.order_by("name")),
    }
    if tab == "code":
        texts, others = zip_text_files(artifact_read(latest.code))
        context.update(files=sorted(texts.items()), other_files=others)
    elif tab == "test":
        context["test_events"] = list(function.test_events.all())
    elif tab == "logs":
        query = request.GET.get("q", "")
        stream = request.GET.get("stream", "")
        events = LogEvent.objects.filter(group__name=latest.effective_log_group).select_related("stream")
        if query:
            events = events.filter(message__contains=query)
        if stream:
            events = events.filter(stream__name=stream)
        context.update(
            query=query,
            stream=stream,
            log_events=list(events.order_by("-timestamp_ms", "-id")[:300])[::-1],
            streams=list(
                LogEvent.objects.filter(group__name=latest.effective_log_group)
                .values_list("stream__name", flat=True)
                .distinct()[:50]
            ),
        )
    elif tab == "invocations":
        records = invocation_filter(function.name, request.GET)
        context.update(invocations=list(records[:100]), filters=request.GET)
    elif tab == "monitor":
        # IteratorAge means something only where a stream or Kafka feeds the function.
        context["has_stream_source"] = function.event_source_mappings.filter(
            kind__in=("stream", "kafka")
        ).exists()
    elif tab == "async":
        context["failed_events"] = list(FailedEvent.objects.filter(function=function)[:100])
        context["failed_deliveries"] = list(function.failed_deliveries.all()[:100])
    elif tab == "configuration":
        context.update(
            event_invoke_configs=list(function.event_invoke_configs.order_by("qualifier")),
            provisioned=list(function.provisioned_configs.order_by("qualifier")),
            **function_permissions(function, latest),
            environment_text="\n".join(f"{key}={value}" for key, value in latest.environment.items()),
            tags_text="\n".join(f"{key}={value}" for key, value in function.tags.items()),
            runtimes=list(available_runtimes()),
            triggers=function_triggers(function, base_url=request.build_absolute_uri("/")),
        )
    return render(request, "functions/detail.html", context, status=status)


@viewer_required
def invocation_page(request, name: str, request_id: str):
    function = function_for(request, name)
    runs = list(
        InvocationRecord.objects.filter(function_name=function.name, request_id=request_id).order_by(
            "started_at"
        )
    )
    if not runs:
        messages.error(request, f"No invocation {request_id} in the history.")
        return redirect(f"{reverse('function-detail', args=[name])}?tab=invocations")
    logs = list(
        LogEvent.objects.filter(request_id=request_id)
        .select_related("stream")
        .order_by("timestamp_ms", "id")[:2000]
    )
    timelines = []
    for run in runs:
        steps = phases(run)
        total = sum(step["durationMs"] for step in steps) or 1.0
        for step in steps:
            step["left"] = step["startMs"] / total * 100
            step["width"] = max(step["durationMs"] / total * 100, 0.5)
        timelines.append({"run": run, "phases": steps, "total": total})
    deliveries = list(function.failed_deliveries.filter(request_id=request_id))
    return render(
        request,
        "functions/invocation.html",
        {
            "function": function,
            "request_id": request_id,
            "timelines": timelines,
            "logs": logs,
            "deliveries": deliveries,
        },
    )


@viewer_required
def function_download(request, name: str):
    latest = version_get(function_for(request, name), LATEST)
    response = HttpResponse(artifact_read(latest.code), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{latest.function.name}.zip"'
    return response
