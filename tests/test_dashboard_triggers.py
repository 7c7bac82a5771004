"""Triggers in the dashboard: the Triggers section of a function's Configuration tab (function
URLs, schedules, topic subscriptions, event source mappings) and the "Queues, topics & streams"
page, through Django's test client (who may do what, CSRF, escaping, the services' own error
messages) and once in a real browser."""

from __future__ import annotations

import re
import uuid

import pytest
from django.test import Client
from playwright.sync_api import Page, expect

from functions_app.arns import function_arn
from functions_app.triggers import function_urls, mappings, queues, schedules, streams, topics
from functions_app.triggers.models import (
    EventSourceMapping,
    FunctionUrlConfig,
    Queue,
    Schedule,
    Stream,
    Subscription,
    Topic,
)
from tests import test_browser
from tests.test_dashboard_views import ESCAPED, SCRIPT, _admin, _client, _function, _user

pytestmark = pytest.mark.django_db(transaction=True)

# The signed-in browser session of tests/test_browser.py.
browser = test_browser.browser
page = test_browser.page

PAGE = "/triggers/"
ACTION = "/triggers/action"
CONFIGURATION = "/functions/hello/?tab=configuration"
FUNCTION_ACTION = "/functions/hello/triggers"


def _unique(prefix: str) -> str:
    """Queues and streams keep their messages in the session's one Redis: never reuse a name."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _flashes(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def _post(client: Client, path: str, data: dict) -> list[str]:
    """Post a form as the browser does, follow the redirect, and return the flash messages."""
    response = client.post(path, data, follow=True)
    assert response.status_code == 200, response.content[:500]
    return _flashes(response)


def _every_write(queue: str, stream: str, topic: str, *, mapping: str, subscription: str) -> list[tuple]:
    """Every form the two pages post to change something."""
    return [
        (FUNCTION_ACTION, {"action": "url-create", "auth_type": "NONE"}),
        (FUNCTION_ACTION, {"action": "url-delete", "qualifier": ""}),
        (FUNCTION_ACTION, {"action": "schedule-create", "name": "new", "expression": "rate(1 hour)"}),
        (FUNCTION_ACTION, {"action": "schedule-enable", "schedule": "nightly", "enabled": "false"}),
        (FUNCTION_ACTION, {"action": "schedule-delete", "schedule": "nightly"}),
        (FUNCTION_ACTION, {"action": "subscribe", "topic": topic}),
        (FUNCTION_ACTION, {"action": "unsubscribe", "subscription": subscription}),
        (FUNCTION_ACTION, {"action": "mapping-create", "source": queues.queue_arn(queue)}),
        (FUNCTION_ACTION, {"action": "mapping-enable", "mapping": mapping, "enabled": "false"}),
        (FUNCTION_ACTION, {"action": "mapping-delete", "mapping": mapping}),
        (ACTION, {"action": "queue-create", "name": "intruder"}),
        (ACTION, {"action": "queue-send", "queue": queue, "body": "owned"}),
        (ACTION, {"action": "queue-purge", "queue": queue}),
        (ACTION, {"action": "queue-delete", "queue": queue}),
        (ACTION, {"action": "stream-create", "name": "intruder"}),
        (ACTION, {"action": "stream-put", "stream": stream, "partition_key": "k", "data": "owned"}),
        (ACTION, {"action": "stream-delete", "stream": stream}),
        (ACTION, {"action": "topic-create", "name": "intruder"}),
        (ACTION, {"action": "topic-publish", "topic": topic, "message": "owned"}),
        (ACTION, {"action": "topic-delete", "topic": topic}),
        (ACTION, {"action": "subscription-delete", "subscription": subscription}),
    ]


@pytest.fixture
def wired():
    """Function hello with one of each trigger, and the queue, stream and topic they use."""
    function = _function("hello")
    queue = queues.queue_create(name=_unique("jobs"))
    stream = streams.stream_create(name=_unique("clicks"))
    topic = topics.topic_create(name="signups")
    function_urls.function_url_config_create(function=function, qualifier=None, fields={"AuthType": "NONE"})
    schedules.schedule_create(name="nightly", function=function, qualifier="", expression="cron(0 3 * * ? *)")
    subscription = topics.subscription_create(
        topic=topic, protocol="lambda", endpoint=function_arn(function.name)
    )
    mapping = mappings.mapping_create(
        fields={"FunctionName": "hello", "EventSourceArn": queues.queue_arn(queue.name)}
    )
    writes = _every_write(
        queue.name, stream.name, topic.name, mapping=str(mapping.uuid), subscription=str(subscription.pk)
    )
    yield {"function": function, "queue": queue, "stream": stream, "topic": topic, "writes": writes}
    for queue in Queue.objects.all():
        queues.queue_delete(queue=queue)
    for stream in Stream.objects.all():
        streams.stream_delete(stream=stream)


def _assert_nothing_changed(wired: dict) -> None:
    assert FunctionUrlConfig.objects.count() == 1
    assert list(Schedule.objects.values_list("name", "enabled")) == [("nightly", True)]
    assert Subscription.objects.count() == 1
    assert list(EventSourceMapping.objects.values_list("enabled", flat=True)) == [True]
    assert list(Queue.objects.values_list("name", flat=True)) == [wired["queue"].name]
    assert list(Stream.objects.values_list("name", flat=True)) == [wired["stream"].name]
    assert list(Topic.objects.values_list("name", flat=True)) == ["signups"]
    assert queues.queue_store().counts(wired["queue"].name)["visible"] == 0
    assert streams.stream_summary(wired["stream"])["shards"][0]["length"] == 0


def test_it_lists_a_functions_url_schedule_subscription_and_mapping_on_the_configuration_tab(wired):
    html = _client(_admin()).get(CONFIGURATION).content.decode()

    url_id = FunctionUrlConfig.objects.get().url_id
    assert f'<a href="http://testserver/lambda-url/{url_id}/">' in html
    assert re.search(r"<td><code>cron\(0 3 \* \* \? \*\)</code></td><td>UTC</td>", html)
    assert re.search(r'<time datetime="[^"]+T03:00:00\+00:00">', html)  # the next firing
    assert "<td>signups</td>" in html
    assert f'<span title="{queues.queue_arn(wired["queue"].name)}">{wired["queue"].name}</span>' in html
    assert "No records processed" in html
    assert '<option value="arn:aws:kinesis:' in html  # streams on offer for a new mapping


def test_it_creates_and_deletes_a_function_url():
    function = _function("hello")
    client = _client(_admin())

    flashes = _post(
        client,
        FUNCTION_ACTION,
        {"action": "url-create", "auth_type": "NONE", "origins": "https://a.example, https://b.example"},
    )

    assert flashes == [
        "Created a public function URL (NONE), and the policy statements that let anyone call it."
    ]
    # As AWS's console does, the two statements that make a NONE URL public come with it.
    assert sorted(function.policy_statements.values_list("sid", flat=True)) == [
        "FunctionURLAllowInvokeAction",
        "FunctionURLAllowPublicAccess",
    ]
    config = function.url_configs.get()
    assert (config.auth_type, config.cors) == (
        "NONE",
        {"AllowOrigins": ["https://a.example", "https://b.example"]},
    )
    assert f"/lambda-url/{config.url_id}/" in client.get(CONFIGURATION).content.decode()
    assert _post(client, FUNCTION_ACTION, {"action": "url-create", "auth_type": "AWS_IAM"}) == [
        "Failed to create function url config for [functionArn = hello]. "
        "Error message:  FunctionUrlConfig exists for this Lambda function"
    ]
    assert _post(client, FUNCTION_ACTION, {"action": "url-delete", "qualifier": ""}) == [
        "Deleted the function URL."
    ]
    assert not function.url_configs.exists()


def test_it_adds_disables_enables_and_deletes_a_schedule():
    _function("hello")
    client = _client(_admin())

    created = _post(
        client,
        FUNCTION_ACTION,
        {"action": "schedule-create", "name": "every-5", "expression": "rate(5 minutes)", "time_zone": ""},
    )
    disabled = _post(
        client, FUNCTION_ACTION, {"action": "schedule-enable", "schedule": "every-5", "enabled": "false"}
    )

    assert created == ["Created schedule every-5."]
    assert disabled == ["Disabled schedule every-5."]
    schedule = Schedule.objects.get()
    assert (schedule.expression, schedule.time_zone, schedule.enabled) == ("rate(5 minutes)", "UTC", False)
    assert _post(
        client, FUNCTION_ACTION, {"action": "schedule-enable", "schedule": "every-5", "enabled": "true"}
    ) == ["Enabled schedule every-5."]
    assert Schedule.objects.get().enabled
    assert _post(client, FUNCTION_ACTION, {"action": "schedule-delete", "schedule": "every-5"}) == [
        "Deleted schedule every-5."
    ]
    assert not Schedule.objects.exists()


def test_it_subscribes_a_function_to_a_topic_and_unsubscribes_it():
    _function("hello")
    topics.topic_create(name="signups")
    client = _client(_admin())

    assert _post(client, FUNCTION_ACTION, {"action": "subscribe", "topic": "signups"}) == [
        "Subscribed to topic signups."
    ]

    subscription = Subscription.objects.get()
    assert (subscription.protocol, subscription.endpoint) == ("lambda", function_arn("hello"))
    assert "<td>signups</td>" in client.get(CONFIGURATION).content.decode()
    assert _post(
        client, FUNCTION_ACTION, {"action": "unsubscribe", "subscription": str(subscription.pk)}
    ) == ["Unsubscribed from topic signups."]
    assert not Subscription.objects.exists()


def test_it_maps_a_queue_and_a_stream_to_a_function_then_disables_and_deletes_the_mappings():
    _function("hello")
    queue = queues.queue_create(name=_unique("jobs"))
    stream = streams.stream_create(name=_unique("clicks"), shard_count=2)
    client = _client(_admin())

    from_queue = _post(
        client,
        FUNCTION_ACTION,
        {"action": "mapping-create", "source": queues.queue_arn(queue.name), "batch_size": "5"},
    )
    from_stream = _post(
        client,
        FUNCTION_ACTION,
        {
            "action": "mapping-create",
            "source": streams.stream_arn(stream.name),
            "batch_size": "50",
            "starting_position": "LATEST",
        },
    )

    assert from_queue == [f"{queue.name} now feeds hello."]
    assert from_stream == [f"{stream.name} now feeds hello."]
    by_kind = {mapping.kind: mapping for mapping in EventSourceMapping.objects.all()}
    assert by_kind["sqs"].config["BatchSize"] == 5
    assert (by_kind["stream"].config["BatchSize"], by_kind["stream"].config["StartingPosition"]) == (
        50,
        "LATEST",
    )
    uuid_ = str(by_kind["stream"].uuid)
    assert _post(
        client, FUNCTION_ACTION, {"action": "mapping-enable", "mapping": uuid_, "enabled": "false"}
    ) == [f"Disabling the mapping from {stream.name}."]
    disabled = EventSourceMapping.objects.get(uuid=uuid_)
    assert (disabled.enabled, disabled.state) == (False, "Disabling")
    assert _post(client, FUNCTION_ACTION, {"action": "mapping-delete", "mapping": uuid_}) == [
        f"Deleted the mapping from {stream.name}."
    ]
    assert list(EventSourceMapping.objects.values_list("kind", flat=True)) == ["sqs"]
    queues.queue_delete(queue=queue)
    streams.stream_delete(stream=stream)


def test_it_shows_the_services_own_message_when_it_refuses_a_trigger():
    _function("hello")
    stream = streams.stream_create(name=_unique("clicks"))
    client = _client(_admin())

    refusals = {
        "expression": _post(
            client, FUNCTION_ACTION, {"action": "schedule-create", "name": "bad", "expression": "every day"}
        ),
        "position": _post(
            client, FUNCTION_ACTION, {"action": "mapping-create", "source": streams.stream_arn(stream.name)}
        ),
        "auth": _post(client, FUNCTION_ACTION, {"action": "url-create", "auth_type": "OPEN"}),
        "topic": _post(client, FUNCTION_ACTION, {"action": "subscribe", "topic": "missing"}),
        "timeout": _post(client, ACTION, {"action": "queue-create", "name": "q", "visibility_timeout": "-1"}),
        "body": _post(client, ACTION, {"action": "queue-send", "queue": "missing", "body": "x"}),
        "shards": _post(client, ACTION, {"action": "stream-create", "name": "s", "shard_count": "100"}),
        "key": _post(client, ACTION, {"action": "stream-put", "stream": stream.name, "partition_key": ""}),
    }

    assert "every day" in refusals["expression"][0]
    assert refusals["position"] == ["StartingPosition is required: TRIM_HORIZON, LATEST or AT_TIMESTAMP."]
    assert "Member must satisfy enum value set: [NONE, AWS_IAM]" in refusals["auth"][0]
    assert refusals["topic"] == ["Topic does not exist"]
    assert refusals["timeout"] == [
        "Invalid value for the parameter VisibilityTimeout. It must be an integer from 0 to 43200."
    ]
    assert refusals["body"] == ["The specified queue does not exist."]
    assert refusals["shards"] == ["ShardCount must be an integer from 1 to 64."]
    assert refusals["key"] == ["A partition key is 1 to 256 characters."]
    assert not Schedule.objects.exists() and not EventSourceMapping.objects.exists()
    assert not Queue.objects.exists() and list(Stream.objects.all()) == [stream]
    streams.stream_delete(stream=stream)


def test_it_creates_sends_to_and_deletes_a_queue():
    client = _client(_admin())
    name = _unique("orders")

    created = _post(client, ACTION, {"action": "queue-create", "name": name, "visibility_timeout": "45"})
    sent = _post(client, ACTION, {"action": "queue-send", "queue": name, "body": '{"n": 1}'})

    assert created == [f"Created queue {name}."]
    assert re.fullmatch(rf"Sent message [0-9a-f-]{{36}} to {name}\.", sent[0])
    assert Queue.objects.get(name=name).attributes["VisibilityTimeout"] == "45"
    html = client.get(PAGE).content.decode()
    assert re.search(rf'<tr data-queue="{name}">.*?<td data-count="visible">1</td>', html, re.S)
    assert _post(client, ACTION, {"action": "queue-purge", "queue": name}) == [f"Purged {name}."]
    assert queues.queue_store().counts(name)["visible"] == 0
    assert _post(client, ACTION, {"action": "queue-delete", "queue": name}) == [f"Deleted queue {name}."]
    assert not Queue.objects.exists()


def test_it_shows_a_queues_dead_letter_target():
    dead = queues.queue_create(name=_unique("dead"))
    live = queues.queue_create(
        name=_unique("live"),
        attributes={
            "RedrivePolicy": f'{{"deadLetterTargetArn": "{queues.queue_arn(dead.name)}", "maxReceiveCount": 3}}'
        },
    )

    html = _client(_admin()).get(PAGE).content.decode()

    assert re.search(rf'<tr data-queue="{live.name}">.*?<td>{dead.name}</td>', html, re.S)
    queues.queue_delete(queue=live)
    queues.queue_delete(queue=dead)


def test_it_creates_puts_to_and_deletes_a_stream():
    client = _client(_admin())
    name = _unique("clicks")

    created = _post(client, ACTION, {"action": "stream-create", "name": name, "shard_count": "2"})
    put = _post(client, ACTION, {"action": "stream-put", "stream": name, "partition_key": "u1", "data": "hi"})

    assert created == [f"Created stream {name} with 2 shard(s)."]
    assert re.fullmatch(rf"Put a record on {name}, shardId-00000000000[01], sequence number \d+\.", put[0])
    html = client.get(PAGE).content.decode()
    assert re.search(
        rf'<tr data-stream="{name}">\s*<td>{name}</td><td>2</td><td data-count="length">1</td>', html
    )
    assert _post(client, ACTION, {"action": "stream-delete", "stream": name}) == [f"Deleted stream {name}."]
    assert not Stream.objects.exists()


def test_it_creates_publishes_to_and_deletes_a_topic():
    client = _client(_admin())

    created = _post(client, ACTION, {"action": "topic-create", "name": "signups"})
    published = _post(
        client, ACTION, {"action": "topic-publish", "topic": "signups", "subject": "Hi", "message": "ada"}
    )

    assert created == ["Created topic signups."]
    assert re.fullmatch(r"Published message [0-9a-f-]{36} to signups\.", published[0])
    # Subscribed afterwards, so the published message goes nowhere outside this test.
    topics.subscription_create(
        topic=Topic.objects.get(), protocol="https", endpoint="https://hooks.example/in"
    )
    assert "<code>https://hooks.example/in</code>" in client.get(PAGE).content.decode()
    subscription = Subscription.objects.get()
    assert _post(client, ACTION, {"action": "subscription-delete", "subscription": str(subscription.pk)}) == [
        "Deleted the subscription of https://hooks.example/in to signups."
    ]
    assert _post(client, ACTION, {"action": "topic-delete", "topic": "signups"}) == ["Deleted topic signups."]
    assert not Topic.objects.exists()


def test_it_shows_a_viewer_the_triggers_without_forms_and_forbids_every_write(wired):
    client = _client(_user("viewer", "view_function"))

    listing = client.get(PAGE)
    configuration = client.get(CONFIGURATION)

    assert listing.status_code == configuration.status_code == 200
    assert wired["queue"].name in listing.content.decode()
    assert f'action="{ACTION}"' not in listing.content.decode()
    assert "/lambda-url/" in configuration.content.decode()
    assert f'action="{FUNCTION_ACTION}"' not in configuration.content.decode()
    for path, data in wired["writes"]:
        assert client.post(path, data).status_code == 403, data["action"]
    _assert_nothing_changed(wired)


def test_it_forbids_an_outsider_and_sends_an_anonymous_visitor_to_sign_in(wired):
    outsider = _client(_user("outsider"))
    anonymous = Client()

    assert outsider.get(PAGE).status_code == 403
    for path, data in wired["writes"]:
        assert outsider.post(path, data).status_code == 403, data["action"]
        response = anonymous.post(path, data)
        assert response.status_code == 302, data["action"]
        assert response["Location"].startswith("/login/?next="), data["action"]
    assert anonymous.get(PAGE)["Location"] == "/login/?next=/triggers/"
    _assert_nothing_changed(wired)


def test_it_lets_an_editor_without_superuser_status_change_triggers():
    _function("hello")
    client = _client(_user("editor", "view_function", "change_function"))

    assert _post(client, ACTION, {"action": "topic-create", "name": "signups"}) == ["Created topic signups."]
    assert _post(client, FUNCTION_ACTION, {"action": "subscribe", "topic": "signups"}) == [
        "Subscribed to topic signups."
    ]


def test_it_rejects_trigger_forms_without_a_csrf_token():
    _function("hello")
    client = _client(_admin(), enforce_csrf_checks=True)
    client.get(PAGE)
    token = client.cookies["csrftoken"].value

    without = [
        client.post(ACTION, {"action": "topic-create", "name": "sneaky"}),
        client.post(FUNCTION_ACTION, {"action": "url-create", "auth_type": "NONE"}),
    ]

    assert [response.status_code for response in without] == [403, 403]
    assert not Topic.objects.exists() and not FunctionUrlConfig.objects.exists()
    assert (
        client.post(ACTION, {"action": "topic-create", "name": "t", "csrfmiddlewaretoken": token}).status_code
        == 302
    )
    assert Topic.objects.filter(name="t").exists()


def test_it_renders_endpoints_origins_and_error_messages_as_text():
    function = _function("hello")
    client = _client(_admin())
    # The refusals first, while nothing else on the page could hold the script.
    refusals = {
        "schedule name": client.post(
            FUNCTION_ACTION,
            {"action": "schedule-create", "name": SCRIPT, "expression": "rate(1 hour)"},
            follow=True,
        ),
        "mapping source": client.post(
            FUNCTION_ACTION, {"action": "mapping-create", "source": SCRIPT}, follow=True
        ),
    }
    topic = topics.topic_create(name="signups")
    topics.subscription_create(topic=topic, protocol="http", endpoint=f"http://example.com/?q={SCRIPT}")
    function_urls.function_url_config_create(
        function=function, qualifier=None, fields={"AuthType": "NONE", "Cors": {"AllowOrigins": [SCRIPT]}}
    )

    pages = {**refusals, "endpoint": client.get(PAGE), "origin": client.get(CONFIGURATION)}

    for where, response in pages.items():
        html = response.content.decode()
        assert ESCAPED in html, where
        assert "<script>alert(1)" not in html, where
    assert SCRIPT in _flashes(refusals["mapping source"])[0]
    assert SCRIPT in _flashes(refusals["schedule name"])[0]


def test_it_answers_an_unknown_trigger_action_with_400_as_plain_text():
    _function("hello")
    client = _client(_admin())

    for path in (ACTION, FUNCTION_ACTION):
        response = client.post(path, {"action": SCRIPT})
        assert response.status_code == 400
        assert response["Content-Type"].startswith("text/plain")


def test_it_will_not_touch_another_functions_mapping_or_subscription(wired):
    _function("other")
    client = _client(_admin())
    mapping = EventSourceMapping.objects.get()
    subscription = Subscription.objects.get()

    for data in (
        {"action": "mapping-delete", "mapping": str(mapping.uuid)},
        {"action": "mapping-enable", "mapping": "not-a-uuid", "enabled": "false"},
        {"action": "unsubscribe", "subscription": str(subscription.pk)},
        {"action": "schedule-delete", "schedule": "nightly"},
    ):
        assert client.post("/functions/other/triggers", data).status_code == 404, data["action"]
    _assert_nothing_changed(wired)


@pytest.mark.slow
def test_it_creates_a_queue_sends_a_message_and_adds_a_function_url_in_the_browser(
    page: Page, stratus_workers
):
    _function("hooked")
    name = _unique("orders")

    page.get_by_role("link", name="Queues, topics & streams").click()
    expect(page.locator("h1")).to_have_text("Queues, topics & streams")
    page.locator("#queue-create input[name=name]").fill(name)
    page.locator("#queue-create").get_by_role("button", name="Create queue").click()
    expect(page.locator(".flash")).to_have_text(f"Created queue {name}.")
    row = page.locator(f"tr[data-queue='{name}']")
    expect(row.locator("[data-count=visible]")).to_have_text("0")
    row.locator("input[name=body]").fill('{"order": 1}')
    row.get_by_role("button", name="Send test message").click()
    expect(page.locator(".flash")).to_contain_text(f"to {name}.")
    expect(row.locator("[data-count=visible]")).to_have_text("1")
    test_browser._screenshot(page, "triggers.png")

    page.goto("/functions/hooked/?tab=configuration")
    form = page.locator("#url-create")
    form.locator("select[name=auth_type]").select_option("NONE")
    form.locator("input[name=origins]").fill("https://app.example")
    form.get_by_role("button", name="Create function URL").click()
    expect(page.locator(".flash")).to_have_text(
        "Created a public function URL (NONE), and the policy statements that let anyone call it."
    )
    link = page.locator("#function-urls a")
    expect(link).to_have_attribute("href", re.compile(r"^http://127\.0\.0\.1:\d+/lambda-url/[a-z0-9]{32}/$"))
    expect(page.locator("#function-urls")).to_contain_text("https://app.example")
    queues.queue_delete(queue=Queue.objects.get(name=name))


def test_the_monitor_tab_charts_iterator_age_only_for_a_function_fed_by_a_stream():
    function = _function("fed")
    client = _client(_admin())
    assert 'data-metric="IteratorAge"' not in client.get("/functions/fed/?tab=monitor").content.decode()
    stream = streams.stream_create(name=_unique("feed"))
    mappings.mapping_create(
        fields={
            "FunctionName": function.name,
            "EventSourceArn": streams.stream_arn(stream.name),
            "StartingPosition": "LATEST",
        }
    )
    assert 'data-metric="IteratorAge"' in client.get("/functions/fed/?tab=monitor").content.decode()


def test_it_adds_rabbitmq_and_kafka_sources_from_the_configuration_tab(settings):
    settings.STRATUS_MQ_BROKERS = "local=amqp://guest:guest@127.0.0.1:5672/"
    function = _function("broker-fed")
    client = _client(_admin())
    page = client.get("/functions/broker-fed/?tab=configuration").content.decode()
    assert 'id="mapping-create-rabbitmq"' in page and "<option>local</option>" in page
    flashes = _post(
        client,
        "/functions/broker-fed/triggers",
        {"action": "mapping-create-rabbitmq", "broker": "local", "queue": "orders", "batch_size": "50"},
    )
    assert flashes == ["RabbitMQ queue orders on local now feeds broker-fed."]
    flashes = _post(
        client,
        "/functions/broker-fed/triggers",
        {"action": "mapping-create-kafka", "bootstrap_servers": "k1:9092, k2:9092", "topic": "clicks"},
    )
    assert flashes == ["Kafka topic clicks now feeds broker-fed."]
    kinds = {mapping.kind: mapping for mapping in function.event_source_mappings.all()}
    assert kinds["rabbitmq"].config["Queues"] == ["orders"] and kinds["rabbitmq"].config["BatchSize"] == 50
    assert kinds["kafka"].config["SelfManagedEventSource"]["Endpoints"]["KAFKA_BOOTSTRAP_SERVERS"] == [
        "k1:9092",
        "k2:9092",
    ]
    flashes = _post(
        client,
        "/functions/broker-fed/triggers",
        {"action": "mapping-create-rabbitmq", "broker": "elsewhere", "queue": "orders"},
    )
    assert len(flashes) == 1 and "STRATUS_MQ_BROKERS" in flashes[0]


def test_the_banner_says_when_mappings_or_schedules_have_nothing_running_them():
    from dashboard.context import _triggers_banner

    function = _function("waiting")
    nobody = {"pollers": 0, "schedulers": 0}
    assert _triggers_banner(nobody) == {}  # nothing configured, nothing to say
    stream = streams.stream_create(name=_unique("idle"))
    mappings.mapping_create(
        fields={
            "FunctionName": function.name,
            "EventSourceArn": streams.stream_arn(stream.name),
            "StartingPosition": "LATEST",
        }
    )
    assert "No event source poller" in _triggers_banner(nobody)["platform_banner"]
    assert _triggers_banner({"pollers": 1, "schedulers": 0}) == {}
    schedules.schedule_create(name="tick", function=function, qualifier="", expression="rate(1 hour)")
    assert "No scheduler" in _triggers_banner({"pollers": 1, "schedulers": 0})["platform_banner"]
    assert _triggers_banner({"pollers": 1, "schedulers": 1}) == {}
