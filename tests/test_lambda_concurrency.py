"""Reserved and provisioned concurrency, and the account settings that report them, through boto3."""

from __future__ import annotations

from datetime import datetime

import pytest
from botocore.exceptions import ClientError

from tests.conftest import make_zip

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_reports_no_reserved_concurrency_until_one_is_set(lambda_client, create_function):
    create_function("plain")

    got = lambda_client.get_function_concurrency(FunctionName="plain")
    assert "ReservedConcurrentExecutions" not in got
    assert "Concurrency" not in lambda_client.get_function(FunctionName="plain")


def test_it_reserves_concurrency_and_shows_it_on_get_function(lambda_client, create_function):
    create_function("reserved")

    put = lambda_client.put_function_concurrency(FunctionName="reserved", ReservedConcurrentExecutions=25)
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert put["ReservedConcurrentExecutions"] == 25

    assert (
        lambda_client.get_function_concurrency(FunctionName="reserved")["ReservedConcurrentExecutions"] == 25
    )
    assert lambda_client.get_function(FunctionName="reserved")["Concurrency"] == {
        "ReservedConcurrentExecutions": 25
    }

    changed = lambda_client.put_function_concurrency(FunctionName="reserved", ReservedConcurrentExecutions=7)
    assert changed["ReservedConcurrentExecutions"] == 7
    assert (
        lambda_client.get_function_concurrency(FunctionName="reserved")["ReservedConcurrentExecutions"] == 7
    )


def test_it_accepts_zero_reserved_concurrency_which_throttles_the_function(lambda_client, create_function):
    create_function("stopped")

    lambda_client.put_function_concurrency(FunctionName="stopped", ReservedConcurrentExecutions=0)

    assert lambda_client.get_function_concurrency(FunctionName="stopped")["ReservedConcurrentExecutions"] == 0
    assert lambda_client.get_function(FunctionName="stopped")["Concurrency"] == {
        "ReservedConcurrentExecutions": 0
    }


def test_it_deletes_reserved_concurrency(lambda_client, create_function):
    create_function("released")
    lambda_client.put_function_concurrency(FunctionName="released", ReservedConcurrentExecutions=10)

    deleted = lambda_client.delete_function_concurrency(FunctionName="released")

    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert "ReservedConcurrentExecutions" not in lambda_client.get_function_concurrency(
        FunctionName="released"
    )
    assert "Concurrency" not in lambda_client.get_function(FunctionName="released")


def test_it_accepts_the_function_arn_for_reserved_concurrency(lambda_client, create_function):
    arn = create_function("by-arn")["FunctionArn"]

    lambda_client.put_function_concurrency(FunctionName=arn, ReservedConcurrentExecutions=3)

    assert lambda_client.get_function_concurrency(FunctionName="by-arn")["ReservedConcurrentExecutions"] == 3


def test_it_refuses_a_reservation_that_leaves_fewer_than_100_unreserved(lambda_client, create_function):
    create_function("big")
    create_function("small")

    lambda_client.put_function_concurrency(FunctionName="big", ReservedConcurrentExecutions=900)
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException) as raised:
        lambda_client.put_function_concurrency(FunctionName="small", ReservedConcurrentExecutions=1)
    assert "UnreservedConcurrentExecution below its minimum value of [100]" in str(raised.value)
    assert "ReservedConcurrentExecutions" not in lambda_client.get_function_concurrency(FunctionName="small")

    # The function's own previous reservation is not counted twice when it changes.
    lambda_client.put_function_concurrency(FunctionName="big", ReservedConcurrentExecutions=899)
    lambda_client.put_function_concurrency(FunctionName="small", ReservedConcurrentExecutions=1)


def test_it_refuses_a_single_reservation_above_the_account_limit_minus_100(lambda_client, create_function):
    create_function("greedy")

    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException):
        lambda_client.put_function_concurrency(FunctionName="greedy", ReservedConcurrentExecutions=901)
    assert "Concurrency" not in lambda_client.get_function(FunctionName="greedy")


def test_it_refuses_a_negative_or_non_integer_reservation(lambda_client_unvalidated, create_function):
    create_function("odd")
    client = lambda_client_unvalidated

    for value in (-1, "ten", 2.5, True):
        with pytest.raises(ClientError) as raised:
            client.put_function_concurrency(FunctionName="odd", ReservedConcurrentExecutions=value)
        assert raised.value.response["Error"]["Code"] == "InvalidParameterValueException", value
        assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_it_answers_concurrency_calls_on_unknown_functions_with_resource_not_found(lambda_client):
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.put_function_concurrency(FunctionName="ghost", ReservedConcurrentExecutions=1)
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.get_function_concurrency(FunctionName="ghost")
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.delete_function_concurrency(FunctionName="ghost")


def test_it_reports_account_limits_and_an_empty_account(lambda_client):
    settings = lambda_client.get_account_settings()

    limit = settings["AccountLimit"]
    assert limit["ConcurrentExecutions"] == 1000
    assert limit["UnreservedConcurrentExecutions"] == 1000
    assert limit["CodeSizeZipped"] == 52_428_800
    assert limit["CodeSizeUnzipped"] == 262_144_000
    assert limit["TotalCodeSize"] == 80_530_636_800
    assert settings["AccountUsage"] == {"TotalCodeSize": 0, "FunctionCount": 0}


def test_it_reports_reservations_function_count_and_code_size_in_account_settings(
    lambda_client, create_function
):
    first = create_function("one")
    other_zip = make_zip({"lambda_function.py": "def handler(e, c):\n    return 2\n"})
    second = create_function("two", Code={"ZipFile": other_zip})
    lambda_client.put_function_concurrency(FunctionName="one", ReservedConcurrentExecutions=150)
    lambda_client.put_function_concurrency(FunctionName="two", ReservedConcurrentExecutions=50)

    settings = lambda_client.get_account_settings()

    assert settings["AccountLimit"]["UnreservedConcurrentExecutions"] == 800
    assert settings["AccountUsage"]["FunctionCount"] == 2
    assert settings["AccountUsage"]["TotalCodeSize"] == first["CodeSize"] + second["CodeSize"]

    lambda_client.delete_function_concurrency(FunctionName="one")
    lambda_client.delete_function(FunctionName="two")
    settings = lambda_client.get_account_settings()
    assert settings["AccountLimit"]["UnreservedConcurrentExecutions"] == 1000
    assert settings["AccountUsage"] == {"TotalCodeSize": first["CodeSize"], "FunctionCount": 1}


@pytest.fixture
def published(lambda_client, create_function):
    """A function with version 1 published and an alias ``live`` pointing at it."""
    create_function("warm")
    lambda_client.publish_version(FunctionName="warm")
    lambda_client.create_alias(FunctionName="warm", Name="live", FunctionVersion="1")
    return "warm"


def test_it_puts_provisioned_concurrency_on_a_published_version(lambda_client, published):
    put = lambda_client.put_provisioned_concurrency_config(
        FunctionName=published, Qualifier="1", ProvisionedConcurrentExecutions=2
    )

    assert put["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert put["RequestedProvisionedConcurrentExecutions"] == 2
    assert put["Status"] in ("IN_PROGRESS", "READY")
    assert isinstance(put["LastModified"], str)
    datetime.strptime(put["LastModified"], "%Y-%m-%dT%H:%M:%S.%f%z")

    got = lambda_client.get_provisioned_concurrency_config(FunctionName=published, Qualifier="1")
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert got["RequestedProvisionedConcurrentExecutions"] == 2
    assert got["Status"] in ("IN_PROGRESS", "READY")
    assert got["AllocatedProvisionedConcurrentExecutions"] <= 2
    assert got["AvailableProvisionedConcurrentExecutions"] <= 2


def test_it_puts_provisioned_concurrency_on_an_alias_and_replaces_it(lambda_client, published):
    lambda_client.put_provisioned_concurrency_config(
        FunctionName=published, Qualifier="live", ProvisionedConcurrentExecutions=1
    )
    lambda_client.put_provisioned_concurrency_config(
        FunctionName=published, Qualifier="live", ProvisionedConcurrentExecutions=3
    )

    got = lambda_client.get_provisioned_concurrency_config(FunctionName=published, Qualifier="live")
    assert got["RequestedProvisionedConcurrentExecutions"] == 3
    listed = lambda_client.list_provisioned_concurrency_configs(FunctionName=published)
    assert len(listed["ProvisionedConcurrencyConfigs"]) == 1


def test_it_refuses_provisioned_concurrency_on_latest(lambda_client, published):
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException) as raised:
        lambda_client.put_provisioned_concurrency_config(
            FunctionName=published, Qualifier="$LATEST", ProvisionedConcurrentExecutions=1
        )
    assert "unpublished" in str(raised.value)


def test_it_refuses_provisioned_concurrency_on_an_alias_of_latest(lambda_client, create_function):
    create_function("cold")
    lambda_client.create_alias(FunctionName="cold", Name="head", FunctionVersion="$LATEST")

    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException):
        lambda_client.put_provisioned_concurrency_config(
            FunctionName="cold", Qualifier="head", ProvisionedConcurrentExecutions=1
        )


def test_it_refuses_provisioned_concurrency_without_a_qualifier(lambda_client_unvalidated, published):
    with pytest.raises(ClientError) as raised:
        lambda_client_unvalidated.put_provisioned_concurrency_config(
            FunctionName=published, ProvisionedConcurrentExecutions=1
        )
    assert raised.value.response["Error"]["Code"] == "InvalidParameterValueException"


def test_it_refuses_less_than_one_provisioned_execution(lambda_client_unvalidated, published):
    with pytest.raises(ClientError) as raised:
        lambda_client_unvalidated.put_provisioned_concurrency_config(
            FunctionName=published, Qualifier="1", ProvisionedConcurrentExecutions=0
        )
    assert raised.value.response["Error"]["Code"] == "InvalidParameterValueException"


def test_it_answers_unknown_qualifiers_with_resource_not_found(lambda_client, published):
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.put_provisioned_concurrency_config(
            FunctionName=published, Qualifier="7", ProvisionedConcurrentExecutions=1
        )
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.get_provisioned_concurrency_config(FunctionName=published, Qualifier="nosuch")


def test_it_answers_a_missing_provisioned_config_with_its_own_not_found(lambda_client, published):
    with pytest.raises(lambda_client.exceptions.ProvisionedConcurrencyConfigNotFoundException) as raised:
        lambda_client.get_provisioned_concurrency_config(FunctionName=published, Qualifier="1")
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404

    with pytest.raises(lambda_client.exceptions.ProvisionedConcurrencyConfigNotFoundException):
        lambda_client.delete_provisioned_concurrency_config(FunctionName=published, Qualifier="live")


def test_it_deletes_a_provisioned_config(lambda_client, published):
    lambda_client.put_provisioned_concurrency_config(
        FunctionName=published, Qualifier="1", ProvisionedConcurrentExecutions=1
    )

    deleted = lambda_client.delete_provisioned_concurrency_config(FunctionName=published, Qualifier="1")

    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(lambda_client.exceptions.ProvisionedConcurrencyConfigNotFoundException):
        lambda_client.get_provisioned_concurrency_config(FunctionName=published, Qualifier="1")


def test_it_lists_provisioned_configs_with_their_arns(lambda_client, published):
    lambda_client.put_provisioned_concurrency_config(
        FunctionName=published, Qualifier="1", ProvisionedConcurrentExecutions=1
    )
    lambda_client.put_provisioned_concurrency_config(
        FunctionName=published, Qualifier="live", ProvisionedConcurrentExecutions=2
    )

    listed = lambda_client.list_provisioned_concurrency_configs(FunctionName=published)

    by_arn = {
        config["FunctionArn"]: config["RequestedProvisionedConcurrentExecutions"]
        for config in listed["ProvisionedConcurrencyConfigs"]
    }
    base = "arn:aws:lambda:us-east-1:000000000000:function:warm"
    assert by_arn == {f"{base}:1": 1, f"{base}:live": 2}
    assert "NextMarker" not in listed


def test_it_pages_provisioned_configs(lambda_client, published):
    lambda_client.put_provisioned_concurrency_config(
        FunctionName=published, Qualifier="1", ProvisionedConcurrentExecutions=1
    )
    lambda_client.put_provisioned_concurrency_config(
        FunctionName=published, Qualifier="live", ProvisionedConcurrentExecutions=1
    )

    first = lambda_client.list_provisioned_concurrency_configs(FunctionName=published, MaxItems=1)
    assert len(first["ProvisionedConcurrencyConfigs"]) == 1
    second = lambda_client.list_provisioned_concurrency_configs(
        FunctionName=published, MaxItems=1, Marker=first["NextMarker"]
    )
    assert len(second["ProvisionedConcurrencyConfigs"]) == 1
    assert "NextMarker" not in second
    assert first["ProvisionedConcurrencyConfigs"] != second["ProvisionedConcurrencyConfigs"]


def test_it_lists_no_provisioned_configs_for_a_function_without_any(lambda_client, published):
    assert (
        lambda_client.list_provisioned_concurrency_configs(FunctionName=published)[
            "ProvisionedConcurrencyConfigs"
        ]
        == []
    )


def test_it_keeps_provisioned_concurrency_within_the_functions_reservation(lambda_client, published):
    lambda_client.put_function_concurrency(FunctionName=published, ReservedConcurrentExecutions=2)

    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException):
        lambda_client.put_provisioned_concurrency_config(
            FunctionName=published, Qualifier="1", ProvisionedConcurrentExecutions=3
        )
    lambda_client.put_provisioned_concurrency_config(
        FunctionName=published, Qualifier="1", ProvisionedConcurrentExecutions=2
    )
    # And a reservation may not drop below what is provisioned.
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException):
        lambda_client.put_function_concurrency(FunctionName=published, ReservedConcurrentExecutions=1)
