"""``POST /``: the URL several AWS protocols share, handed to the service each request is for.

- ``X-Amz-Target: Logs_20140328.<Op>`` (JSON 1.1): CloudWatch Logs.
- ``X-Amz-Target: GraniteServiceVersion20100801.<Op>`` (JSON 1.0, the AWS CLI v1): CloudWatch.
- A form body with ``Action`` and ``Version=2010-08-01`` (query: older SDKs, Grafana): CloudWatch.
- ``X-Amz-Target: AmazonSQS.<Op>`` (JSON 1.0): Stratus queues.
- ``X-Amz-Target: Kinesis_20131202.<Op>`` (JSON 1.1): Stratus streams.
- A form body with ``Action`` and ``Version=2010-03-31`` (query, what boto3 and the AWS CLI
  send for SNS): Stratus topics.
- A form body with ``Action`` and ``Version=2010-05-08`` (query): IAM.
- A form body with ``Action`` and ``Version=2011-06-15`` (query): STS.

Anything else is a 400. ``GET /`` stays the dashboard's home page.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from iam.api.front import IAM, IAM_API_VERSION, STS, STS_API_VERSION
from metrics_app.cloudwatch import views as cloudwatch
from metrics_app.cloudwatch.protocols import API_VERSION, TARGET_PREFIX, query_form

LOGS_TARGET_PREFIX = "Logs_20140328."
SQS_TARGET_PREFIX = "AmazonSQS."
KINESIS_TARGET_PREFIX = "Kinesis_20131202."
SNS_API_VERSION = "2010-03-31"
_LOGS_MODULES = ("metrics_app.cloudwatch_logs", "metrics_app.cloudwatch_logs.views")


def _logs(request: HttpRequest) -> HttpResponse:
    try:
        from metrics_app.cloudwatch_logs import views as logs
    except ModuleNotFoundError as error:
        if error.name not in _LOGS_MODULES:
            raise
        return JsonResponse(
            {"__type": "UnknownOperationException", "message": "CloudWatch Logs is not available."},
            status=501,
        )
    return logs.dispatch(request)


@csrf_exempt
def aws_root_post(request: HttpRequest) -> HttpResponse:
    """Route a ``POST /`` to the AWS service its target header or form body names."""
    target = request.headers.get("X-Amz-Target", "")
    if target.startswith(LOGS_TARGET_PREFIX):
        return _logs(request)
    if target.startswith(SQS_TARGET_PREFIX):
        from functions_app.triggers import sqs_api

        return sqs_api.dispatch(request)
    if target.startswith(KINESIS_TARGET_PREFIX):
        from functions_app.triggers import kinesis_api

        return kinesis_api.dispatch(request)
    if target.startswith(f"{TARGET_PREFIX}."):
        return cloudwatch.json_dispatch(request)
    if not target:
        form = query_form(request)
        if form and form.get("Action") and form.get("Version") == API_VERSION:
            return cloudwatch.query_dispatch(request, form)
        if form and form.get("Action") and form.get("Version") == SNS_API_VERSION:
            from functions_app.triggers import sns_api

            return sns_api.dispatch(request, form)
        if form and form.get("Action") and form.get("Version") == IAM_API_VERSION:
            return IAM.dispatch(request, form)
        if form and form.get("Action") and form.get("Version") == STS_API_VERSION:
            return STS.dispatch(request, form)
    return JsonResponse(
        {
            "__type": "UnknownOperationException",
            "message": "POST / needs an X-Amz-Target header or a query-protocol form body "
            f"(Action=…&Version={API_VERSION} for CloudWatch, Version={SNS_API_VERSION} for SNS, "
            f"Version={IAM_API_VERSION} for IAM, Version={STS_API_VERSION} for STS) "
            "that names an operation Stratus serves.",
        },
        status=400,
    )


def home_or_aws(home: Callable[[HttpRequest], HttpResponse]) -> Callable[[HttpRequest], HttpResponse]:
    """The view for ``/``: POST is an AWS API call, every other method the ``home`` page."""

    @csrf_exempt
    def root(request: HttpRequest) -> HttpResponse:
        if request.method == "POST":
            return aws_root_post(request)
        return home(request)

    return root
