from django.urls import path

from functions_app.api import v1
from metrics_app import api as metrics_api
from metrics_app import history

urlpatterns = [
    path("openapi.json", v1.openapi, name="api-v1-openapi"),
    path("metrics", v1.api_v1(GET=metrics_api.metrics), name="api-v1-metrics"),
    path(
        "functions/<str:function_name>/invocations",
        v1.api_v1(GET=history.invocations),
        name="api-v1-invocations",
    ),
    path("invocations/<str:request_id>", v1.api_v1(GET=history.invocation_detail), name="api-v1-invocation"),
    path(
        "functions/<str:function_name>/async-events",
        v1.api_v1(GET=v1.async_events),
        name="api-v1-async-events",
    ),
    path(
        "functions/<str:function_name>/async-events/redrive",
        v1.api_v1(POST=v1.async_events_redrive),
        name="api-v1-async-events-redrive",
    ),
    path(
        "functions/<str:function_name>/failed-deliveries",
        v1.api_v1(GET=v1.failed_deliveries),
        name="api-v1-failed-deliveries",
    ),
    path(
        "functions/<str:function_name>/failed-deliveries/redrive",
        v1.api_v1(POST=v1.failed_deliveries_redrive_view),
        name="api-v1-failed-deliveries-redrive",
    ),
]
