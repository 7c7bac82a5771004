"""Asynchronous invocation: 202, Lambda's retries, event age, destinations and the DLQ."""

from __future__ import annotations

import json
import time

import pytest

from tests.conftest import make_zip, records

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("stratus_workers")]

OK_PY = "def handler(event, context):\n    return {'echo': event}\n"
FAIL_PY = "def handler(event, context):\n    raise RuntimeError('boom ' + str(event.get('n')))\n"
ARN = "arn:aws:lambda:us-east-1:000000000000:function:{}"


def _function(create_function, name, source, **overrides):
    return create_function(name, Code={"ZipFile": make_zip({"lambda_function.py": source})}, **overrides)


def test_it_accepts_an_event_with_202_and_sends_the_success_record_to_a_webhook(
    lambda_client, create_function, webhook
):
    _function(create_function, "async-ok", OK_PY)
    lambda_client.put_function_event_invoke_config(
        FunctionName="async-ok", DestinationConfig={"OnSuccess": {"Destination": webhook.url + "/ok"}}
    )
    started = time.monotonic()
    response = lambda_client.invoke(FunctionName="async-ok", InvocationType="Event", Payload=b'{"n": 1}')
    assert response["StatusCode"] == 202
    assert time.monotonic() - started < 2
    request_id = response["ResponseMetadata"]["RequestId"]
    ((path, record, _),) = webhook.wait(1)
    assert path == "/ok"
    assert set(record) == {
        "version",
        "timestamp",
        "requestContext",
        "requestPayload",
        "responseContext",
        "responsePayload",
    }
    assert record["version"] == "1.0"
    assert record["timestamp"].endswith("Z")
    assert record["requestContext"] == {
        "requestId": request_id,
        "functionArn": ARN.format("async-ok") + ":$LATEST",
        "condition": "Success",
        "approximateInvokeCount": 1,
    }
    assert record["requestPayload"] == {"n": 1}
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    assert record["responsePayload"] == {"echo": {"n": 1}}
    assert records(kind="async_received", request_id=request_id)


def test_it_retries_a_failing_event_twice_with_growing_delays_then_reports_retries_exhausted(
    lambda_client, create_function, webhook
):
    _function(create_function, "async-fail", FAIL_PY)
    lambda_client.put_function_event_invoke_config(
        FunctionName="async-fail", DestinationConfig={"OnFailure": {"Destination": webhook.url}}
    )
    response = lambda_client.invoke(FunctionName="async-fail", InvocationType="Event", Payload=b'{"n": 7}')
    request_id = response["ResponseMetadata"]["RequestId"]
    ((_, record, _),) = webhook.wait(1, timeout=40)
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": "Unhandled",
    }
    assert record["responsePayload"]["errorType"] == "RuntimeError"
    assert record["responsePayload"]["errorMessage"] == "boom 7"
    runs = records(kind="invocation", request_id=request_id)
    assert [run["attempt"] for run in runs] == [1, 2, 3]
    # STRATUS_ASYNC_RETRY_BASE_SECONDS is 1 for the test workers: 1 s, then 2 s.
    first_gap = runs[1]["started_at"] - runs[0]["ended_at"]
    second_gap = runs[2]["started_at"] - runs[1]["ended_at"]
    assert 0.9 <= first_gap < 4
    assert 1.9 <= second_gap < 5
    assert records(kind="async_dropped", request_id=request_id)[0]["condition"] == "RetriesExhausted"


def test_it_honours_maximum_retry_attempts_zero_and_delivers_to_the_dead_letter_target(
    lambda_client, create_function, webhook
):
    _function(create_function, "async-dlq", FAIL_PY, DeadLetterConfig={"TargetArn": webhook.url + "/dlq"})
    lambda_client.put_function_event_invoke_config(FunctionName="async-dlq", MaximumRetryAttempts=0)
    response = lambda_client.invoke(FunctionName="async-dlq", InvocationType="Event", Payload=b'{"n": 3}')
    request_id = response["ResponseMetadata"]["RequestId"]
    ((path, message, _),) = webhook.wait(1)
    assert path == "/dlq"
    assert message["Message"] == {"n": 3}
    assert message["MessageAttributes"] == {
        "RequestID": {"Type": "String", "Value": request_id},
        "ErrorCode": {"Type": "Number", "Value": "200"},
        "ErrorMessage": {"Type": "String", "Value": "boom 3"},
    }
    assert len(records(kind="invocation", request_id=request_id)) == 1


def test_it_sends_the_record_to_a_function_destination_asynchronously(
    lambda_client, create_function, webhook
):
    _function(create_function, "async-target", OK_PY)
    lambda_client.put_function_event_invoke_config(
        FunctionName="async-target", DestinationConfig={"OnSuccess": {"Destination": webhook.url}}
    )
    _function(create_function, "async-source", FAIL_PY)
    lambda_client.put_function_event_invoke_config(
        FunctionName="async-source",
        MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": ARN.format("async-target")}},
    )
    lambda_client.invoke(FunctionName="async-source", InvocationType="Event", Payload=b'{"n": 9}')
    ((_, record, _),) = webhook.wait(1)
    # The target echoes its event, which is the source's failure record.
    inner = record["responsePayload"]["echo"]
    assert inner["requestContext"]["condition"] == "RetriesExhausted"
    assert inner["requestContext"]["functionArn"] == ARN.format("async-source") + ":$LATEST"
    assert inner["requestPayload"] == {"n": 9}


def test_it_drops_an_event_older_than_its_maximum_age_with_event_age_exceeded(
    lambda_client, create_function, webhook
):
    from functions_app.selectors import function_get
    from functions_app.services.events import event_accept
    from functions_app.services.invoke import invocation_target

    _function(create_function, "async-old", OK_PY)
    lambda_client.put_function_event_invoke_config(
        FunctionName="async-old",
        MaximumEventAgeInSeconds=60,
        DestinationConfig={"OnFailure": {"Destination": webhook.url}},
    )
    target = invocation_target(function_get("async-old"), None)
    request_id = event_accept(target=target, payload=b'{"n": 1}', accepted_at=time.time() - 120)
    ((_, record, _),) = webhook.wait(1)
    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert record["requestContext"]["requestId"] == request_id
    assert record["requestContext"]["approximateInvokeCount"] == 0
    assert "responseContext" not in record
    assert records(kind="invocation", request_id=request_id) == []


def test_it_sends_events_straight_to_failure_handling_with_reserved_concurrency_zero(
    lambda_client, create_function, webhook
):
    _function(create_function, "async-zero", OK_PY)
    lambda_client.put_function_concurrency(FunctionName="async-zero", ReservedConcurrentExecutions=0)
    lambda_client.put_function_event_invoke_config(
        FunctionName="async-zero", DestinationConfig={"OnFailure": {"Destination": webhook.url}}
    )
    response = lambda_client.invoke(FunctionName="async-zero", InvocationType="Event", Payload=b"{}")
    assert response["StatusCode"] == 202
    ((_, record, _),) = webhook.wait(1)
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 0


@pytest.mark.slow
def test_it_retries_throttled_events_without_using_attempts(lambda_client, create_function, webhook):
    _function(
        create_function,
        "async-throttled",
        "import time\ndef handler(e, c):\n    time.sleep(0.6)\n    return e\n",
        Timeout=5,
    )
    lambda_client.put_function_concurrency(FunctionName="async-throttled", ReservedConcurrentExecutions=1)
    lambda_client.put_function_event_invoke_config(
        FunctionName="async-throttled",
        MaximumRetryAttempts=0,
        DestinationConfig={"OnSuccess": {"Destination": webhook.url}},
    )
    ids = [
        lambda_client.invoke(
            FunctionName="async-throttled", InvocationType="Event", Payload=json.dumps({"n": n}).encode()
        )["ResponseMetadata"]["RequestId"]
        for n in range(4)
    ]
    delivered = webhook.wait(4, timeout=60)
    assert sorted(record["requestContext"]["requestId"] for _, record, _ in delivered) == sorted(ids)
    assert all(record["requestContext"]["approximateInvokeCount"] == 1 for _, record, _ in delivered)
    assert records(kind="throttle", function="async-throttled")


def test_it_accepts_the_legacy_invoke_async_and_enforces_the_event_payload_limits(
    lambda_client, create_function, webhook
):
    _function(create_function, "async-legacy", OK_PY)
    lambda_client.put_function_event_invoke_config(
        FunctionName="async-legacy", DestinationConfig={"OnSuccess": {"Destination": webhook.url}}
    )
    response = lambda_client.invoke_async(FunctionName="async-legacy", InvokeArgs=b'{"legacy": true}')
    assert response["Status"] == 202
    ((_, record, _),) = webhook.wait(1)
    assert record["requestPayload"] == {"legacy": True}
    with pytest.raises(lambda_client.exceptions.RequestTooLargeException):
        lambda_client.invoke(
            FunctionName="async-legacy", InvocationType="Event", Payload=b'"' + b"x" * (1024 * 1024) + b'"'
        )
    with pytest.raises(lambda_client.exceptions.RequestTooLargeException):
        lambda_client.invoke_async(FunctionName="async-legacy", InvokeArgs=b'"' + b"x" * (256 * 1024) + b'"')


def test_it_lists_failed_events_and_redrives_them_with_their_request_ids(
    lambda_client, create_function, webhook, live_server_url, access_key
):
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    def signed(method, path, body=b""):
        import urllib.request

        request = AWSRequest(
            method=method, url=live_server_url + path, data=body, headers={"Content-Type": "application/json"}
        )
        SigV4Auth(Credentials(*access_key), "lambda", "us-east-1").add_auth(request)
        prepared = request.prepare()
        http = urllib.request.Request(
            prepared.url, data=body or None, method=method, headers=dict(prepared.headers)
        )
        with urllib.request.urlopen(http, timeout=10) as response:
            return json.loads(response.read())

    _function(create_function, "async-redrive", FAIL_PY)
    lambda_client.put_function_event_invoke_config(
        FunctionName="async-redrive",
        MaximumRetryAttempts=0,
        DestinationConfig={
            "OnFailure": {"Destination": webhook.url + "/failure"},
            "OnSuccess": {"Destination": webhook.url + "/success"},
        },
    )
    request_id = lambda_client.invoke(
        FunctionName="async-redrive", InvocationType="Event", Payload=b'{"n": 1}'
    )["ResponseMetadata"]["RequestId"]
    webhook.wait(1)
    listed = signed("GET", "/api/v1/functions/async-redrive/async-events?state=failed")["events"]
    assert [(event["requestId"], event["state"], event["attempts"]) for event in listed] == [
        (request_id, "failed", 1)
    ]
    assert "boom 1" in listed[0]["lastError"]

    lambda_client.update_function_code(
        FunctionName="async-redrive", ZipFile=make_zip({"lambda_function.py": OK_PY})
    )
    redriven = signed(
        "POST",
        "/api/v1/functions/async-redrive/async-events/redrive",
        json.dumps({"requestIds": [request_id]}).encode(),
    )
    assert redriven == {"redriven": [request_id]}
    ((path, record, _),) = webhook.wait(1)
    assert path == "/success"
    assert record["requestContext"]["requestId"] == request_id
    listed = signed("GET", "/api/v1/functions/async-redrive/async-events")["events"]
    assert [event["state"] for event in listed] == ["redriven"]


@pytest.mark.slow
def test_it_keeps_a_failed_webhook_delivery_for_redrive(
    lambda_client, create_function, webhook, live_server_url
):
    from functions_app.models import FailedDelivery

    webhook.status = 500
    _function(create_function, "async-badhook", OK_PY)
    lambda_client.put_function_event_invoke_config(
        FunctionName="async-badhook", DestinationConfig={"OnSuccess": {"Destination": webhook.url}}
    )
    lambda_client.invoke(FunctionName="async-badhook", InvocationType="Event", Payload=b"{}")
    attempts = webhook.wait(4, timeout=60)  # the first try and three retries (STRATUS_DELIVERY_RETRY_SECONDS)
    assert len(attempts) == 4
    deadline = time.monotonic() + 10
    while not FailedDelivery.objects.filter(function__name="async-badhook").exists():
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert records(kind="destination_delivery_failure", function="async-badhook")
