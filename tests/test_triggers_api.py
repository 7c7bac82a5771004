"""``/api/v1/`` for queues, streams and topics: what the dashboard's browser and scripts use."""

from __future__ import annotations

import base64
import json

import pytest
from django.contrib.auth import get_user_model

from tests.conftest import function_made

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def admin_client(client):
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(user)
    return client


@pytest.fixture
def viewer_client(client):
    from django.contrib.auth.models import Permission

    user = get_user_model().objects.create_user("viewer", password="pw")
    user.user_permissions.add(Permission.objects.get(codename="view_function"))
    client.force_login(user)
    return client


def _post(client, path: str, body: dict):
    return client.post(path, data=json.dumps(body), content_type="application/json")


def test_it_creates_a_queue_sends_a_test_message_and_shows_depth(admin_client):
    assert _post(admin_client, "/api/v1/queues", {"name": "jobs"}).status_code == 201
    sent = _post(admin_client, "/api/v1/queues/jobs/messages", {"body": "hello"})
    assert sent.status_code == 201 and sent.json()["messageId"]
    listed = admin_client.get("/api/v1/queues").json()["queues"]
    assert [(queue["name"], queue["visible"]) for queue in listed] == [("jobs", 1)]
    assert listed[0]["arn"] == "arn:aws:sqs:us-east-1:000000000000:jobs"
    assert _post(admin_client, "/api/v1/queues/jobs/purge", {}).status_code == 200
    assert admin_client.get("/api/v1/queues/jobs").json()["visible"] == 0
    bad = _post(admin_client, "/api/v1/queues/jobs/messages", {"body": ""})
    assert bad.status_code == 400 and "MessageBody" in bad.json()["message"]
    assert admin_client.get("/api/v1/queues/nope").status_code == 404
    assert admin_client.delete("/api/v1/queues/jobs").status_code == 204


def test_it_puts_records_on_a_stream_by_partition_key(admin_client):
    created = _post(admin_client, "/api/v1/streams", {"name": "clicks", "shardCount": 4})
    assert created.status_code == 201 and len(created.json()["shards"]) == 4
    put = _post(
        admin_client,
        "/api/v1/streams/clicks/records",
        {
            "records": [
                {"data": "one", "partitionKey": "user-1"},
                {"dataBase64": base64.b64encode(b"\x00\x01").decode(), "partitionKey": "user-1"},
                {"data": "three", "partitionKey": "user-2"},
            ]
        },
    ).json()["records"]
    assert put[0]["shardId"] == put[1]["shardId"]  # one key, one shard
    assert int(put[1]["sequenceNumber"]) > int(put[0]["sequenceNumber"])
    summary = admin_client.get("/api/v1/streams/clicks").json()
    assert sum(shard["length"] for shard in summary["shards"]) == 3
    bad = _post(admin_client, "/api/v1/streams/clicks/records", {"records": [{"data": "x"}]})
    assert bad.status_code == 400


def test_it_manages_topics_and_subscriptions(admin_client):
    _post(admin_client, "/api/v1/queues", {"name": "inbox"})
    assert _post(admin_client, "/api/v1/topics", {"name": "alerts"}).status_code == 201
    subscribed = _post(
        admin_client,
        "/api/v1/topics/alerts/subscriptions",
        {"protocol": "sqs", "endpoint": "arn:aws:sqs:us-east-1:000000000000:inbox"},
    )
    assert subscribed.status_code == 201
    published = _post(
        admin_client, "/api/v1/topics/alerts/publish", {"message": "disk full", "subject": "ops"}
    )
    assert published.status_code == 201
    assert admin_client.get("/api/v1/queues/inbox").json()["visible"] == 1
    topic = admin_client.get("/api/v1/topics/alerts").json()
    assert [sub["protocol"] for sub in topic["subscriptions"]] == ["sqs"]
    bad = _post(admin_client, "/api/v1/topics/alerts/subscriptions", {"protocol": "smtp", "endpoint": "x"})
    assert bad.status_code == 400
    sub_id = topic["subscriptions"][0]["id"]
    assert admin_client.delete(f"/api/v1/topics/alerts/subscriptions/{sub_id}").status_code == 204
    assert admin_client.get("/api/v1/topics/missing").status_code == 404


def test_it_lets_viewers_read_but_not_write(viewer_client):
    assert viewer_client.get("/api/v1/queues").status_code == 200
    assert _post(viewer_client, "/api/v1/queues", {"name": "nope"}).status_code == 403


def test_it_manages_schedules(admin_client):
    function_made("ticker")
    created = _post(
        admin_client,
        "/api/v1/schedules",
        {"name": "every-5", "function": "ticker", "expression": "rate(5 minutes)", "detail": {"job": "sync"}},
    )
    assert created.status_code == 201, created.content
    shape = created.json()
    assert shape["summary"] == "every 5 minutes" and shape["nextFireAt"]
    assert shape["detail"] == {"job": "sync"}
    bad = _post(
        admin_client, "/api/v1/schedules", {"name": "x", "function": "ticker", "expression": "rate(5 minute)"}
    )
    assert bad.status_code == 400 and "rate" in bad.json()["message"]
    duplicate = _post(
        admin_client,
        "/api/v1/schedules",
        {"name": "every-5", "function": "ticker", "expression": "rate(1 hour)"},
    )
    assert duplicate.status_code == 409
    updated = admin_client.put(
        "/api/v1/schedules/every-5",
        data=json.dumps({"enabled": False, "expression": "cron(0 12 * * ? *)"}),
        content_type="application/json",
    ).json()
    assert updated["enabled"] is False and updated["nextFireAt"] is None
    listed = admin_client.get("/api/v1/schedules?function=ticker").json()["schedules"]
    assert [schedule["name"] for schedule in listed] == ["every-5"]
    assert admin_client.delete("/api/v1/schedules/every-5").status_code == 204
    assert admin_client.get("/api/v1/schedules/every-5").status_code == 404


def test_every_api_v1_route_is_in_the_openapi_document(admin_client):
    from functions_app.api import v1_urls

    documented = set(admin_client.get("/api/v1/openapi.json").json()["paths"])
    for pattern in v1_urls.urlpatterns:
        route = "/" + str(pattern.pattern).replace("<str:", "{").replace(">", "}")
        if route == "/openapi.json":
            continue
        route = route.replace("{function_name}", "{function}").replace("{request_id}", "{requestId}")
        route = route.replace("{subscription_id}", "{subscriptionId}")
        assert route in documented, f"{route} is not in the OpenAPI document"


def test_a_new_queue_or_stream_starts_empty_whatever_its_namesake_left_in_redis(admin_client):
    from functions_app.triggers.models import Queue, Stream

    _post(admin_client, "/api/v1/queues", {"name": "reborn"})
    _post(admin_client, "/api/v1/queues/reborn/messages", {"body": "old"})
    _post(admin_client, "/api/v1/streams", {"name": "reborn"})
    _post(admin_client, "/api/v1/streams/reborn/records", {"records": [{"data": "old", "partitionKey": "k"}]})
    Queue.objects.all().delete()  # rows gone (say, a database restored from backup), messages not
    Stream.objects.all().delete()
    _post(admin_client, "/api/v1/queues", {"name": "reborn"})
    _post(admin_client, "/api/v1/streams", {"name": "reborn"})
    assert admin_client.get("/api/v1/queues/reborn").json()["visible"] == 0
    assert admin_client.get("/api/v1/streams/reborn").json()["shards"][0]["length"] == 0


def test_it_refuses_names_with_a_trailing_newline(admin_client):
    # A regular expression's "$" also matches before a final newline; names must not slip through.
    for path in ("/api/v1/queues", "/api/v1/streams", "/api/v1/topics"):
        response = _post(admin_client, path, {"name": "orders\n"})
        assert response.status_code == 400, path
