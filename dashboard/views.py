from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import render

from dashboard.health import health_report
from functions_app import selectors


def healthz(request):
    report = health_report()
    return JsonResponse(report, status=200 if report["status"] == "ok" else 503)


@login_required
def home(request):
    return render(request, "home.html", {"functions": selectors.function_list()[:50]})
