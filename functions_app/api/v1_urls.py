"""``/api/v1/``'s routes. ``api_v1`` authorizes each (see its docstring): routes without a
``function_name`` that still concern one function check it in their handler."""

from django.urls import path

from functions_app.api import v1
from functions_app.api import v1_triggers as trig
from metrics_app import api as metrics_api
from metrics_app import history

urlpatterns = [
    path("openapi.json", v1.openapi, name="api-v1-openapi"),
    path("metrics", v1.api_v1(GET=metrics_api.metrics, handler_checks_function=True), name="api-v1-metrics"),
    path(
        "functions/<str:function_name>/invocations",
        v1.api_v1(GET=history.invocations),
        name="api-v1-invocations",
    ),
    path(
        "invocations/<str:request_id>",
        v1.api_v1(GET=history.invocation_detail, handler_checks_function=True),
        name="api-v1-invocation",
    ),
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
    path("queues", v1.api_v1(GET=trig.queue_list, POST=trig.queue_create), name="api-v1-queues"),
    path(
        "queues/<str:name>",
        v1.api_v1(GET=trig.queue_detail, DELETE=trig.queue_detail),
        name="api-v1-queue",
    ),
    path("queues/<str:name>/messages", v1.api_v1(POST=trig.queue_send), name="api-v1-queue-messages"),
    path("queues/<str:name>/purge", v1.api_v1(POST=trig.queue_purge), name="api-v1-queue-purge"),
    path("streams", v1.api_v1(GET=trig.stream_list, POST=trig.stream_create), name="api-v1-streams"),
    path(
        "streams/<str:name>",
        v1.api_v1(GET=trig.stream_detail, DELETE=trig.stream_detail),
        name="api-v1-stream",
    ),
    path("streams/<str:name>/records", v1.api_v1(POST=trig.stream_put), name="api-v1-stream-records"),
    path("topics", v1.api_v1(GET=trig.topic_list, POST=trig.topic_create), name="api-v1-topics"),
    path(
        "topics/<str:name>",
        v1.api_v1(GET=trig.topic_detail, DELETE=trig.topic_detail),
        name="api-v1-topic",
    ),
    path(
        "topics/<str:name>/subscriptions",
        v1.api_v1(POST=trig.topic_subscribe),
        name="api-v1-topic-subscriptions",
    ),
    path(
        "topics/<str:name>/subscriptions/<str:subscription_id>",
        v1.api_v1(DELETE=trig.subscription_delete),
        name="api-v1-topic-subscription",
    ),
    path("topics/<str:name>/publish", v1.api_v1(POST=trig.topic_publish), name="api-v1-topic-publish"),
    path(
        "topics/<str:name>/failed-deliveries",
        v1.api_v1(GET=trig.topic_failed_deliveries),
        name="api-v1-topic-failed-deliveries",
    ),
    path(
        "topics/<str:name>/failed-deliveries/redrive",
        v1.api_v1(POST=trig.topic_failed_deliveries_redrive),
        name="api-v1-topic-failed-deliveries-redrive",
    ),
    path(
        "schedules",
        v1.api_v1(GET=trig.schedule_list, POST=trig.schedule_create, handler_checks_function=True),
        name="api-v1-schedules",
    ),
    path(
        "schedules/<str:name>",
        v1.api_v1(
            GET=trig.schedule_detail,
            PUT=trig.schedule_detail,
            DELETE=trig.schedule_detail,
            handler_checks_function=True,
        ),
        name="api-v1-schedule",
    ),
]
