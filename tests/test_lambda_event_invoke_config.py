"""Asynchronous-invocation settings (event-invoke configs) per function, version and alias, through boto3."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.django_db(transaction=True)

ARN = "arn:aws:lambda:us-east-1:000000000000:function"
QUEUE = "arn:aws:sqs:us-east-1:000000000000:failures"


@pytest.fixture
def function(lambda_client, create_function):
    """A function ``async-fn`` with version 1 and an alias ``live`` on it."""
    create_function("async-fn")
    lambda_client.publish_version(FunctionName="async-fn")
    lambda_client.create_alias(FunctionName="async-fn", Name="live", FunctionVersion="1")
    return "async-fn"


def _error_code(raised: pytest.ExceptionInfo) -> str:
    return raised.value.response["Error"]["Code"]


def test_it_puts_and_gets_a_config_for_the_function(lambda_client, function):
    before = datetime.now(UTC) - timedelta(seconds=5)

    put = lambda_client.put_function_event_invoke_config(
        FunctionName=function,
        MaximumRetryAttempts=1,
        MaximumEventAgeInSeconds=3600,
        DestinationConfig={"OnFailure": {"Destination": QUEUE}},
    )

    assert put["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert put["FunctionArn"] == f"{ARN}:async-fn:$LATEST"
    assert put["MaximumRetryAttempts"] == 1
    assert put["MaximumEventAgeInSeconds"] == 3600
    assert put["DestinationConfig"]["OnFailure"] == {"Destination": QUEUE}
    assert isinstance(put["LastModified"], datetime)
    assert before <= put["LastModified"] <= datetime.now(UTC) + timedelta(seconds=5)

    got = lambda_client.get_function_event_invoke_config(FunctionName=function)
    assert got["FunctionArn"] == put["FunctionArn"]
    assert got["MaximumRetryAttempts"] == 1
    assert got["MaximumEventAgeInSeconds"] == 3600
    assert got["DestinationConfig"]["OnFailure"] == {"Destination": QUEUE}
    assert got["LastModified"] == put["LastModified"]


def test_it_keeps_separate_configs_per_version_and_alias(lambda_client, function):
    lambda_client.put_function_event_invoke_config(FunctionName=function, MaximumRetryAttempts=0)
    lambda_client.put_function_event_invoke_config(
        FunctionName=function, Qualifier="1", MaximumRetryAttempts=1
    )
    aliased = lambda_client.put_function_event_invoke_config(
        FunctionName=function, Qualifier="live", MaximumRetryAttempts=2
    )
    assert aliased["FunctionArn"] == f"{ARN}:async-fn:live"

    assert lambda_client.get_function_event_invoke_config(FunctionName=function)["MaximumRetryAttempts"] == 0
    version = lambda_client.get_function_event_invoke_config(FunctionName=function, Qualifier="1")
    assert version["MaximumRetryAttempts"] == 1
    assert version["FunctionArn"] == f"{ARN}:async-fn:1"
    alias = lambda_client.get_function_event_invoke_config(FunctionName=f"{function}:live")
    assert alias["MaximumRetryAttempts"] == 2


def test_it_lists_every_config_of_a_function(lambda_client, function):
    lambda_client.put_function_event_invoke_config(FunctionName=function, MaximumRetryAttempts=0)
    lambda_client.put_function_event_invoke_config(
        FunctionName=function, Qualifier="1", MaximumRetryAttempts=1
    )
    lambda_client.put_function_event_invoke_config(
        FunctionName=function, Qualifier="live", MaximumRetryAttempts=2
    )

    listed = lambda_client.list_function_event_invoke_configs(FunctionName=function)

    by_arn = {
        config["FunctionArn"]: config["MaximumRetryAttempts"]
        for config in listed["FunctionEventInvokeConfigs"]
    }
    assert by_arn == {f"{ARN}:async-fn:$LATEST": 0, f"{ARN}:async-fn:1": 1, f"{ARN}:async-fn:live": 2}
    assert all(isinstance(c["LastModified"], datetime) for c in listed["FunctionEventInvokeConfigs"])
    assert "NextMarker" not in listed


def test_it_pages_the_config_list(lambda_client, function):
    for qualifier in ("$LATEST", "1", "live"):
        lambda_client.put_function_event_invoke_config(
            FunctionName=function, Qualifier=qualifier, MaximumRetryAttempts=0
        )

    arns = []
    first = lambda_client.list_function_event_invoke_configs(FunctionName=function, MaxItems=2)
    arns += [config["FunctionArn"] for config in first["FunctionEventInvokeConfigs"]]
    assert len(arns) == 2
    rest = lambda_client.list_function_event_invoke_configs(
        FunctionName=function, MaxItems=2, Marker=first["NextMarker"]
    )
    arns += [config["FunctionArn"] for config in rest["FunctionEventInvokeConfigs"]]
    assert "NextMarker" not in rest
    assert sorted(arns) == sorted(f"{ARN}:async-fn:{q}" for q in ("$LATEST", "1", "live"))


def test_it_lists_nothing_for_a_function_without_configs(lambda_client, function):
    assert (
        lambda_client.list_function_event_invoke_configs(FunctionName=function)["FunctionEventInvokeConfigs"]
        == []
    )


def test_it_replaces_the_whole_config_on_put(lambda_client, function):
    lambda_client.put_function_event_invoke_config(
        FunctionName=function,
        MaximumRetryAttempts=1,
        MaximumEventAgeInSeconds=120,
        DestinationConfig={"OnFailure": {"Destination": QUEUE}},
    )

    replaced = lambda_client.put_function_event_invoke_config(FunctionName=function, MaximumRetryAttempts=2)

    assert replaced["MaximumRetryAttempts"] == 2
    assert "MaximumEventAgeInSeconds" not in replaced
    assert not replaced["DestinationConfig"].get("OnFailure")
    got = lambda_client.get_function_event_invoke_config(FunctionName=function)
    assert "MaximumEventAgeInSeconds" not in got
    assert not got["DestinationConfig"].get("OnFailure")

    again = lambda_client.put_function_event_invoke_config(
        FunctionName=function, MaximumEventAgeInSeconds=300
    )
    assert "MaximumRetryAttempts" not in again
    assert again["MaximumEventAgeInSeconds"] == 300


def test_it_merges_changes_on_update(lambda_client, function):
    success = f"{ARN}:other-fn"
    lambda_client.put_function_event_invoke_config(
        FunctionName=function,
        MaximumRetryAttempts=1,
        MaximumEventAgeInSeconds=120,
        DestinationConfig={"OnFailure": {"Destination": QUEUE}},
    )

    updated = lambda_client.update_function_event_invoke_config(
        FunctionName=function,
        MaximumEventAgeInSeconds=600,
        DestinationConfig={"OnSuccess": {"Destination": success}},
    )

    assert updated["MaximumRetryAttempts"] == 1
    assert updated["MaximumEventAgeInSeconds"] == 600
    assert updated["DestinationConfig"]["OnFailure"] == {"Destination": QUEUE}
    assert updated["DestinationConfig"]["OnSuccess"] == {"Destination": success}
    got = lambda_client.get_function_event_invoke_config(FunctionName=function)
    assert (got["MaximumRetryAttempts"], got["MaximumEventAgeInSeconds"]) == (1, 600)
    assert got["DestinationConfig"]["OnSuccess"] == {"Destination": success}


def test_it_moves_last_modified_forward_on_update(lambda_client, function):
    put = lambda_client.put_function_event_invoke_config(FunctionName=function, MaximumRetryAttempts=1)

    updated = lambda_client.update_function_event_invoke_config(FunctionName=function, MaximumRetryAttempts=0)

    assert updated["LastModified"] >= put["LastModified"]
    assert updated["MaximumRetryAttempts"] == 0


def test_it_answers_update_without_a_config_with_resource_not_found(lambda_client, function):
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.update_function_event_invoke_config(FunctionName=function, MaximumRetryAttempts=1)


def test_it_deletes_a_config(lambda_client, function):
    lambda_client.put_function_event_invoke_config(
        FunctionName=function, Qualifier="live", MaximumRetryAttempts=1
    )
    lambda_client.put_function_event_invoke_config(FunctionName=function, MaximumRetryAttempts=1)

    deleted = lambda_client.delete_function_event_invoke_config(FunctionName=function, Qualifier="live")

    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException) as raised:
        lambda_client.get_function_event_invoke_config(FunctionName=function, Qualifier="live")
    assert "doesn't have an EventInvokeConfig" in str(raised.value)
    # The unqualified function's config is untouched.
    assert lambda_client.get_function_event_invoke_config(FunctionName=function)["MaximumRetryAttempts"] == 1
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.delete_function_event_invoke_config(FunctionName=function, Qualifier="live")


def test_it_answers_a_missing_config_with_resource_not_found(lambda_client, function):
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.get_function_event_invoke_config(FunctionName=function)


def test_it_answers_unknown_qualifiers_and_functions_with_resource_not_found(lambda_client, function):
    for qualifier in ("9", "nosuch"):
        with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
            lambda_client.put_function_event_invoke_config(
                FunctionName=function, Qualifier=qualifier, MaximumRetryAttempts=1
            )
        with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
            lambda_client.get_function_event_invoke_config(FunctionName=function, Qualifier=qualifier)
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.put_function_event_invoke_config(FunctionName="ghost", MaximumRetryAttempts=1)
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.list_function_event_invoke_configs(FunctionName="ghost")


def test_it_accepts_the_bounds_of_retries_and_event_age(lambda_client, function):
    low = lambda_client.put_function_event_invoke_config(
        FunctionName=function, MaximumRetryAttempts=0, MaximumEventAgeInSeconds=60
    )
    assert (low["MaximumRetryAttempts"], low["MaximumEventAgeInSeconds"]) == (0, 60)

    high = lambda_client.put_function_event_invoke_config(
        FunctionName=function, MaximumRetryAttempts=2, MaximumEventAgeInSeconds=21600
    )
    assert (high["MaximumRetryAttempts"], high["MaximumEventAgeInSeconds"]) == (2, 21600)


@pytest.mark.parametrize(
    "fields",
    [
        {"MaximumRetryAttempts": -1},
        {"MaximumRetryAttempts": 3},
        {"MaximumRetryAttempts": "two"},
        {"MaximumEventAgeInSeconds": 59},
        {"MaximumEventAgeInSeconds": 21601},
        {"MaximumEventAgeInSeconds": 90.5},
    ],
)
def test_it_refuses_retries_and_event_ages_out_of_bounds(lambda_client_unvalidated, function, fields):
    client = lambda_client_unvalidated
    for call in (client.put_function_event_invoke_config, client.update_function_event_invoke_config):
        client.put_function_event_invoke_config(FunctionName=function, MaximumRetryAttempts=1)
        with pytest.raises(ClientError) as raised:
            call(FunctionName=function, **fields)
        assert _error_code(raised) == "InvalidParameterValueException"
        assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        # Nothing was changed by the refused call.
        assert client.get_function_event_invoke_config(FunctionName=function)["MaximumRetryAttempts"] == 1


@pytest.mark.parametrize(
    "destination",
    [
        f"{ARN}:other-fn",
        f"{ARN}:other-fn:live",
        QUEUE,
        "arn:aws:sns:us-east-1:000000000000:topic",
        "https://hooks.example.com/lambda?token=abc",
        "http://127.0.0.1:9000/hook",
    ],
)
def test_it_accepts_function_queue_topic_and_webhook_destinations(lambda_client, function, destination):
    put = lambda_client.put_function_event_invoke_config(
        FunctionName=function,
        DestinationConfig={
            "OnSuccess": {"Destination": destination},
            "OnFailure": {"Destination": destination},
        },
    )

    assert put["DestinationConfig"]["OnSuccess"] == {"Destination": destination}
    got = lambda_client.get_function_event_invoke_config(FunctionName=function)
    assert got["DestinationConfig"]["OnFailure"] == {"Destination": destination}


@pytest.mark.parametrize(
    "destination",
    [
        "not a destination",
        "queue-name",
        "ftp://example.com/x",
        "arn:aws:iam::000000000000:role/r",
        "https://",
    ],
)
def test_it_refuses_garbage_destinations(lambda_client, function, destination):
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException):
        lambda_client.put_function_event_invoke_config(
            FunctionName=function, DestinationConfig={"OnFailure": {"Destination": destination}}
        )
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.get_function_event_invoke_config(FunctionName=function)


@pytest.mark.parametrize(
    "destination", [f"{ARN}:async-fn", f"{ARN}:async-fn:live", f"{ARN}:async-fn:$LATEST"]
)
def test_it_refuses_the_function_itself_as_destination(lambda_client, function, destination):
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException) as raised:
        lambda_client.put_function_event_invoke_config(
            FunctionName=function, DestinationConfig={"OnSuccess": {"Destination": destination}}
        )
    assert "destination for itself" in str(raised.value)


def test_it_refuses_a_destination_config_that_is_not_an_object(lambda_client, function):
    # botocore cannot serialize this shape, so the body is replaced just before signing.
    def send_malformed_body(request, **kwargs):
        request.data = json.dumps({"DestinationConfig": {"OnFailure": QUEUE}}).encode()

    lambda_client.meta.events.register("before-sign.lambda.PutFunctionEventInvokeConfig", send_malformed_body)

    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException):
        lambda_client.put_function_event_invoke_config(FunctionName=function)


def test_it_drops_the_configs_with_their_function(lambda_client, function, create_function):
    lambda_client.put_function_event_invoke_config(FunctionName=function, MaximumRetryAttempts=1)
    lambda_client.delete_function(FunctionName=function)
    create_function(function)

    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.get_function_event_invoke_config(FunctionName=function)
