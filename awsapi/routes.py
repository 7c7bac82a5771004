"""Which service and protocol a request is for, as AWS's SDKs address them.

Several protocols share ``POST /``:

- ``X-Amz-Target: <targetPrefix>.<Op>`` (JSON 1.0 or 1.1): CloudWatch Logs, CloudWatch (the
  AWS CLI v1), SQS, Kinesis.
- A form body with ``Action`` and ``Version=<apiVersion>`` (query): CloudWatch (older SDKs,
  Grafana), SNS, IAM, STS.

smithy-rpc-v2-cbor has a path of its own, ``POST /service/<targetPrefix>/operation/<Op>``
(CloudWatch, as current boto3 sends it). The target prefixes and API versions come from
botocore's models of the services in ``SERVICES``; Lambda's REST API is routed by its paths
(``functions_app.api.urls``). Anything else is a 400; ``GET /`` stays the dashboard's home.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import NamedTuple

from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from awsapi.front import Service, serve
from awsapi.protocols import CBOR, JSON_1_0, JSON_1_1, QUERY, JsonProtocol, query_form

# Every service the front door serves but Lambda, as "module:NAME".
SERVICES = (
    "metrics_app.cloudwatch.service:CLOUDWATCH",
    "metrics_app.cloudwatch_logs.service:LOGS",
    "functions_app.triggers.sqs_api:SQS",
    "functions_app.triggers.sns_api:SNS",
    "functions_app.triggers.kinesis_api:KINESIS",
    "iam.api.front:IAM",
    "iam.api.front:STS",
)


class _Tables(NamedTuple):
    targets: dict[str, tuple[Service, JsonProtocol]]  # JSON target prefix -> service, protocol
    versions: dict[str, Service]  # query protocol API version -> service
    cbor: dict[str, Service]  # RPC v2 CBOR target prefix -> service


@functools.cache
def _tables() -> _Tables:
    """Where each service is found, read off its model."""
    targets, versions, cbor = {}, {}, {}
    for entry in SERVICES:
        module, name = entry.split(":")
        service: Service = getattr(importlib.import_module(module), name)
        metadata = service.model.metadata
        protocols = metadata.get("protocols") or [metadata["protocol"]]
        if "json" in protocols:
            targets[metadata["targetPrefix"]] = (
                service,
                JSON_1_1 if metadata["jsonVersion"] == "1.1" else JSON_1_0,
            )
        if "query" in protocols:
            versions[metadata["apiVersion"]] = service
        if "smithy-rpc-v2-cbor" in protocols:
            cbor[metadata["targetPrefix"]] = service
    return _Tables(targets, versions, cbor)


def _unroutable(message: str) -> HttpResponse:
    return JsonResponse({"__type": "UnknownOperationException", "message": message}, status=400)


@csrf_exempt
def aws_root_post(request: HttpRequest) -> HttpResponse:
    """Serve a ``POST /`` with the service its target header or form body names."""
    tables = _tables()
    targets, versions = tables.targets, tables.versions
    target = request.headers.get("X-Amz-Target", "")
    if target:
        prefix, _, operation = target.partition(".")
        if prefix in targets:
            service, protocol = targets[prefix]
            return serve(request, service, protocol, operation)
        return _unroutable(
            f"Stratus serves no service with the target prefix {prefix!r}; it serves {', '.join(targets)}."
        )
    form = query_form(request)
    if form and form.get("Action") and form.get("Version") in versions:
        return serve(request, versions[form["Version"]], QUERY, form["Action"])
    return _unroutable(
        "POST / needs an X-Amz-Target header or a query-protocol form body (Action=…&Version=…) "
        f"that names a service Stratus serves: API versions {', '.join(versions)}."
    )


@csrf_exempt
def cbor_operation(request: HttpRequest, prefix: str, operation: str) -> HttpResponse:
    """``POST /service/<targetPrefix>/operation/<Op>`` (smithy-rpc-v2-cbor)."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    service = _tables().cbor.get(prefix)
    if service is None:
        return _unroutable(f"Stratus serves no service over RPC v2 CBOR as {prefix!r}.")
    return serve(request, service, CBOR, operation)


def home_or_aws(home: Callable[[HttpRequest], HttpResponse]) -> Callable[[HttpRequest], HttpResponse]:
    """The view for ``/``: POST is an AWS API call, every other method the ``home`` page."""

    @csrf_exempt
    def root(request: HttpRequest) -> HttpResponse:
        if request.method == "POST":
            return aws_root_post(request)
        return home(request)

    return root
