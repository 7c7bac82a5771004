"""The account's audit log (``iam.audit``): newest first, paginated, searchable.

Reading it is CloudTrail's ``cloudtrail:LookupEvents``, as AWS's console asks for its event
history; AdministratorAccess allows it, and so does any policy that names it."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.shortcuts import render

from iam.models import AuditEvent
from iam.web.access import Console, action_allowed, console_page
from iam.web.forms import AuditFilterForm

LOOKUP_EVENTS = "cloudtrail:LookupEvents"
PAGE_SIZE = 50


def audit_log_visible(console: Console) -> bool:
    return action_allowed(console.caller, LOOKUP_EVENTS, "*")


def _filtered(events, filters: dict):
    if filters.get("principal"):
        events = events.filter(principal_arn__icontains=filters["principal"])
    if filters.get("action"):
        events = events.filter(action__icontains=filters["action"])
    if filters.get("resource"):
        events = events.filter(resource__icontains=filters["resource"])
    if filters.get("outcome"):
        events = events.filter(allowed=filters["outcome"] == "allowed")
    if filters.get("since"):
        events = events.filter(at__date__gte=filters["since"])
    if filters.get("until"):
        events = events.filter(at__date__lte=filters["until"])
    return events


@console_page
def audit_log(request, console: Console):
    console.require_action(LOOKUP_EVENTS, "*")
    form = AuditFilterForm(request.GET)
    events = AuditEvent.objects.filter(account_id=console.account.id).order_by("-at", "-id")
    if form.is_valid():
        events = _filtered(events, form.cleaned_data)
    page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "iam/audit_log.html",
        {"form": form, "page": page, "query": query.urlencode()},
        status=200 if form.is_valid() else 400,
    )
