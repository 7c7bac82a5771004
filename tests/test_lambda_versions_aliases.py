"""PublishVersion, ListVersionsByFunction, version deletion and aliases, through boto3 and the AWS CLI."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from botocore.exceptions import ClientError, WaiterError

from tests.conftest import lambda_role, make_zip

pytestmark = pytest.mark.django_db(transaction=True)

ARN = "arn:aws:lambda:us-east-1:000000000000:function"

SECOND_PY = """
def handler(event, context):
    return {"second": True}
"""


def _sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def _versions(lambda_client, name: str) -> list[str]:
    return [
        version["Version"]
        for version in lambda_client.list_versions_by_function(FunctionName=name)["Versions"]
    ]


def _error_code(raised: pytest.ExceptionInfo) -> str:
    return raised.value.response["Error"]["Code"]


@pytest.fixture
def two_versions(lambda_client, create_function):
    """A function ``routed`` with versions 1 (Timeout 3) and 2 (Timeout 10)."""
    create_function("routed")
    lambda_client.publish_version(FunctionName="routed")
    lambda_client.update_function_configuration(FunctionName="routed", Timeout=10)
    lambda_client.publish_version(FunctionName="routed")
    return "routed"


# --- PublishVersion -------------------------------------------------------------------------


def test_it_publishes_numbered_versions_from_latest(lambda_client, create_function, hello_zip):
    create_function("versioned", Description="first cut")

    first = lambda_client.publish_version(FunctionName="versioned")
    lambda_client.update_function_configuration(FunctionName="versioned", MemorySize=256)
    second = lambda_client.publish_version(FunctionName="versioned", Description="bigger")

    assert first["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert first["Version"] == "1"
    assert first["FunctionArn"] == f"{ARN}:versioned:1"
    assert first["Description"] == "first cut"
    assert first["MemorySize"] == 128
    assert first["CodeSha256"] == _sha256(hello_zip)
    assert second["Version"] == "2"
    assert second["FunctionArn"] == f"{ARN}:versioned:2"
    assert second["Description"] == "bigger"
    assert second["MemorySize"] == 256


def test_it_freezes_a_published_version_against_later_changes(lambda_client, create_function):
    create_function("frozen", Environment={"Variables": {"STAGE": "one"}})
    lambda_client.publish_version(FunctionName="frozen")

    lambda_client.update_function_configuration(
        FunctionName="frozen", Environment={"Variables": {"STAGE": "two"}}, Timeout=42
    )
    lambda_client.update_function_code(
        FunctionName="frozen", ZipFile=make_zip({"lambda_function.py": SECOND_PY})
    )

    version_one = lambda_client.get_function_configuration(FunctionName="frozen", Qualifier="1")
    assert version_one["Environment"] == {"Variables": {"STAGE": "one"}}
    assert version_one["Timeout"] == 3
    latest = lambda_client.get_function_configuration(FunctionName="frozen")
    assert latest["Timeout"] == 42
    assert latest["CodeSha256"] != version_one["CodeSha256"]


def test_it_returns_the_newest_version_when_latest_has_not_changed(lambda_client, create_function):
    create_function("unchanged")
    first = lambda_client.publish_version(FunctionName="unchanged")

    again = lambda_client.publish_version(FunctionName="unchanged")

    assert again["Version"] == "1"
    assert again["RevisionId"] == first["RevisionId"]
    assert _versions(lambda_client, "unchanged") == ["$LATEST", "1"]


def test_it_refuses_to_publish_when_the_code_sha256_does_not_match(lambda_client, create_function, hello_zip):
    create_function("mismatched")

    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException) as raised:
        lambda_client.publish_version(FunctionName="mismatched", CodeSha256=_sha256(b"some other package"))

    assert "CodeSHA256" in str(raised.value)
    assert _versions(lambda_client, "mismatched") == ["$LATEST"]
    published = lambda_client.publish_version(FunctionName="mismatched", CodeSha256=_sha256(hello_zip))
    assert published["Version"] == "1"


def test_it_refuses_to_publish_with_a_stale_revision_id(lambda_client, create_function):
    created = create_function("stale-publish")
    lambda_client.update_function_configuration(FunctionName="stale-publish", Timeout=7)

    with pytest.raises(lambda_client.exceptions.PreconditionFailedException):
        lambda_client.publish_version(FunctionName="stale-publish", RevisionId=created["RevisionId"])

    assert _versions(lambda_client, "stale-publish") == ["$LATEST"]


def test_it_answers_publishing_an_unknown_function_with_resource_not_found(lambda_client):
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.publish_version(FunctionName="ghost")


def test_it_satisfies_the_published_version_active_waiter(lambda_client, create_function):
    create_function("waited-version")
    lambda_client.publish_version(FunctionName="waited-version")

    lambda_client.get_waiter("published_version_active").wait(
        FunctionName="waited-version", Qualifier="1", WaiterConfig={"Delay": 1, "MaxAttempts": 2}
    )
    with pytest.raises(WaiterError):
        lambda_client.get_waiter("published_version_active").wait(
            FunctionName="waited-version", Qualifier="2", WaiterConfig={"Delay": 1, "MaxAttempts": 1}
        )


# --- ListVersionsByFunction -----------------------------------------------------------------


def test_it_lists_latest_first_then_versions_in_order(lambda_client, two_versions):
    versions = lambda_client.list_versions_by_function(FunctionName=two_versions)["Versions"]

    assert [version["Version"] for version in versions] == ["$LATEST", "1", "2"]
    assert [version["FunctionArn"] for version in versions] == [
        f"{ARN}:routed:$LATEST",
        f"{ARN}:routed:1",
        f"{ARN}:routed:2",
    ]
    assert [version["Timeout"] for version in versions] == [10, 3, 10]


def test_it_lists_versions_in_pages(lambda_client, create_function):
    create_function("many-versions")
    for timeout in range(4, 8):
        lambda_client.update_function_configuration(FunctionName="many-versions", Timeout=timeout)
        lambda_client.publish_version(FunctionName="many-versions")

    first = lambda_client.list_versions_by_function(FunctionName="many-versions", MaxItems=2)
    second = lambda_client.list_versions_by_function(
        FunctionName="many-versions", MaxItems=2, Marker=first["NextMarker"]
    )
    third = lambda_client.list_versions_by_function(
        FunctionName="many-versions", MaxItems=2, Marker=second["NextMarker"]
    )

    pages = [[version["Version"] for version in page["Versions"]] for page in (first, second, third)]
    assert pages == [["$LATEST", "1"], ["2", "3"], ["4"]]
    assert "NextMarker" not in third
    paginator = lambda_client.get_paginator("list_versions_by_function")
    everything = [
        version["Version"]
        for page in paginator.paginate(FunctionName="many-versions", PaginationConfig={"PageSize": 3})
        for version in page["Versions"]
    ]
    assert everything == ["$LATEST", "1", "2", "3", "4"]


def test_it_lists_versions_with_the_aws_cli(aws_cli, create_function):
    create_function("cli-versions")
    published = json.loads(aws_cli("lambda", "publish-version", "--function-name", "cli-versions").stdout)
    assert published["Version"] == "1"

    listed = json.loads(
        aws_cli("lambda", "list-versions-by-function", "--function-name", "cli-versions").stdout
    )

    assert [version["Version"] for version in listed["Versions"]] == ["$LATEST", "1"]


# --- Deleting versions ----------------------------------------------------------------------


def test_it_deletes_one_version_and_keeps_the_rest(lambda_client, two_versions):
    deleted = lambda_client.delete_function(FunctionName=two_versions, Qualifier="1")

    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert _versions(lambda_client, two_versions) == ["$LATEST", "2"]
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.get_function(FunctionName=two_versions, Qualifier="1")
    assert (
        lambda_client.get_function(FunctionName=two_versions, Qualifier="2")["Configuration"]["Version"]
        == "2"
    )


def test_it_deletes_a_version_named_in_the_function_arn(lambda_client, two_versions):
    lambda_client.delete_function(FunctionName=f"{ARN}:routed:2")

    assert _versions(lambda_client, two_versions) == ["$LATEST", "1"]


def test_it_refuses_to_delete_latest_by_qualifier(lambda_client, two_versions):
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException) as raised:
        lambda_client.delete_function(FunctionName=two_versions, Qualifier="$LATEST")

    assert "$LATEST" in str(raised.value)
    assert _versions(lambda_client, two_versions) == ["$LATEST", "1", "2"]


def test_it_refuses_to_delete_a_version_an_alias_points_at(lambda_client, two_versions):
    lambda_client.create_alias(FunctionName=two_versions, Name="live", FunctionVersion="1")
    lambda_client.create_alias(
        FunctionName=two_versions,
        Name="canary",
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}},
    )

    for version, aliases in (("1", "canary, live"), ("2", "canary")):
        with pytest.raises(lambda_client.exceptions.ResourceConflictException) as raised:
            lambda_client.delete_function(FunctionName=two_versions, Qualifier=version)
        assert aliases in str(raised.value)

    assert _versions(lambda_client, two_versions) == ["$LATEST", "1", "2"]


def test_it_answers_deleting_an_unknown_version_with_resource_not_found(lambda_client, two_versions):
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.delete_function(FunctionName=two_versions, Qualifier="9")


def test_it_never_reuses_a_deleted_version_number(lambda_client, two_versions):
    lambda_client.delete_function(FunctionName=two_versions, Qualifier="2")
    lambda_client.update_function_configuration(FunctionName=two_versions, Timeout=20)

    published = lambda_client.publish_version(FunctionName=two_versions)

    assert published["Version"] == "3"
    assert _versions(lambda_client, two_versions) == ["$LATEST", "1", "3"]


def test_it_never_reuses_the_newest_number_even_when_every_version_is_gone(lambda_client, two_versions):
    lambda_client.delete_function(FunctionName=two_versions, Qualifier="1")
    lambda_client.delete_function(FunctionName=two_versions, Qualifier="2")

    # $LATEST now matches no surviving version, so this publishes a new one.
    published = lambda_client.publish_version(FunctionName=two_versions)

    assert published["Version"] == "3"


# --- Aliases --------------------------------------------------------------------------------


def test_it_creates_and_gets_an_alias_with_weighted_routing(lambda_client, two_versions):
    created = lambda_client.create_alias(
        FunctionName=two_versions,
        Name="live",
        FunctionVersion="1",
        Description="production",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.25}},
    )

    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert created["AliasArn"] == f"{ARN}:routed:live"
    assert created["Name"] == "live"
    assert created["FunctionVersion"] == "1"
    assert created["Description"] == "production"
    assert created["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.25}}
    fetched = lambda_client.get_alias(FunctionName=two_versions, Name="live")
    assert {key: fetched[key] for key in ("AliasArn", "FunctionVersion", "RoutingConfig", "RevisionId")} == {
        key: created[key] for key in ("AliasArn", "FunctionVersion", "RoutingConfig", "RevisionId")
    }


def test_it_updates_an_alias_and_changes_its_revision_id(lambda_client, two_versions):
    created = lambda_client.create_alias(FunctionName=two_versions, Name="live", FunctionVersion="1")

    updated = lambda_client.update_alias(
        FunctionName=two_versions,
        Name="live",
        FunctionVersion="2",
        RoutingConfig={"AdditionalVersionWeights": {"1": 0.5}},
        RevisionId=created["RevisionId"],
    )

    assert updated["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert updated["FunctionVersion"] == "2"
    assert updated["RoutingConfig"] == {"AdditionalVersionWeights": {"1": 0.5}}
    assert updated["RevisionId"] != created["RevisionId"]
    assert lambda_client.get_alias(FunctionName=two_versions, Name="live")["FunctionVersion"] == "2"

    unrouted = lambda_client.update_alias(
        FunctionName=two_versions, Name="live", RoutingConfig={"AdditionalVersionWeights": {}}
    )
    assert unrouted.get("RoutingConfig", {}).get("AdditionalVersionWeights", {}) == {}


def test_it_refuses_an_alias_update_with_a_stale_revision_id(lambda_client, two_versions):
    created = lambda_client.create_alias(FunctionName=two_versions, Name="live", FunctionVersion="1")
    lambda_client.update_alias(FunctionName=two_versions, Name="live", Description="touched")

    with pytest.raises(lambda_client.exceptions.PreconditionFailedException):
        lambda_client.update_alias(
            FunctionName=two_versions, Name="live", FunctionVersion="2", RevisionId=created["RevisionId"]
        )

    assert lambda_client.get_alias(FunctionName=two_versions, Name="live")["FunctionVersion"] == "1"


def test_it_deletes_an_alias(lambda_client, two_versions):
    lambda_client.create_alias(FunctionName=two_versions, Name="live", FunctionVersion="1")

    deleted = lambda_client.delete_alias(FunctionName=two_versions, Name="live")

    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.get_alias(FunctionName=two_versions, Name="live")
    # With the alias gone, its version can be deleted.
    lambda_client.delete_function(FunctionName=two_versions, Qualifier="1")


def test_it_lists_aliases_and_filters_them_by_version(lambda_client, two_versions):
    lambda_client.create_alias(FunctionName=two_versions, Name="stable", FunctionVersion="1")
    lambda_client.create_alias(FunctionName=two_versions, Name="beta", FunctionVersion="2")
    lambda_client.create_alias(FunctionName=two_versions, Name="dev", FunctionVersion="$LATEST")

    everything = lambda_client.list_aliases(FunctionName=two_versions)["Aliases"]
    on_two = lambda_client.list_aliases(FunctionName=two_versions, FunctionVersion="2")["Aliases"]

    assert sorted(alias["Name"] for alias in everything) == ["beta", "dev", "stable"]
    assert [alias["Name"] for alias in on_two] == ["beta"]
    assert on_two[0]["AliasArn"] == f"{ARN}:routed:beta"


def test_it_lists_aliases_in_pages(lambda_client, two_versions):
    for name in ("a1", "a2", "a3"):
        lambda_client.create_alias(FunctionName=two_versions, Name=name, FunctionVersion="1")

    first = lambda_client.list_aliases(FunctionName=two_versions, MaxItems=2)
    second = lambda_client.list_aliases(FunctionName=two_versions, MaxItems=2, Marker=first["NextMarker"])

    names = [alias["Name"] for alias in first["Aliases"] + second["Aliases"]]
    assert sorted(names) == ["a1", "a2", "a3"] and len(first["Aliases"]) == 2
    assert "NextMarker" not in second


def test_it_shows_an_alias_through_get_function(lambda_client, two_versions):
    lambda_client.create_alias(FunctionName=two_versions, Name="live", FunctionVersion="1")

    by_qualifier = lambda_client.get_function(FunctionName=two_versions, Qualifier="live")["Configuration"]
    by_name = lambda_client.get_function_configuration(FunctionName=f"{two_versions}:live")

    for config in (by_qualifier, by_name):
        assert config["FunctionArn"] == f"{ARN}:routed:live"
        assert config["Version"] == "1"
        assert config["Timeout"] == 3


def test_it_follows_an_alias_when_it_moves(lambda_client, two_versions):
    lambda_client.create_alias(FunctionName=two_versions, Name="live", FunctionVersion="1")

    lambda_client.update_alias(FunctionName=two_versions, Name="live", FunctionVersion="2")

    config = lambda_client.get_function_configuration(FunctionName=two_versions, Qualifier="live")
    assert config["Version"] == "2" and config["Timeout"] == 10


def test_it_refuses_moving_an_alias_onto_its_own_additional_version(lambda_client, two_versions):
    created = lambda_client.create_alias(
        FunctionName=two_versions,
        Name="canary",
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.2}},
    )

    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException):
        lambda_client.update_alias(FunctionName=two_versions, Name="canary", FunctionVersion="2")

    alias = lambda_client.get_alias(FunctionName=two_versions, Name="canary")
    assert alias["FunctionVersion"] == "1"
    assert alias["RevisionId"] == created["RevisionId"]


def test_it_refuses_routing_to_a_version_that_does_not_exist(lambda_client, two_versions):
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.create_alias(
            FunctionName=two_versions,
            Name="canary",
            FunctionVersion="1",
            RoutingConfig={"AdditionalVersionWeights": {"9": 0.2}},
        )

    assert lambda_client.list_aliases(FunctionName=two_versions)["Aliases"] == []


def test_it_answers_an_unknown_alias_with_resource_not_found(lambda_client, two_versions):
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException) as raised:
        lambda_client.get_alias(FunctionName=two_versions, Name="missing")
    assert "missing" in str(raised.value)
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.update_alias(FunctionName=two_versions, Name="missing", FunctionVersion="1")
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.delete_alias(FunctionName=two_versions, Name="missing")


def test_it_refuses_an_alias_name_made_only_of_digits(lambda_client, two_versions):
    with pytest.raises(ClientError) as raised:
        lambda_client.create_alias(FunctionName=two_versions, Name="123", FunctionVersion="1")

    assert _error_code(raised) == "ValidationException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert lambda_client.list_aliases(FunctionName=two_versions)["Aliases"] == []
    # Digits mixed with letters are fine.
    assert (
        lambda_client.create_alias(FunctionName=two_versions, Name="v123", FunctionVersion="1")["Name"]
        == "v123"
    )


def test_it_refuses_a_second_alias_with_the_same_name(lambda_client, two_versions):
    lambda_client.create_alias(FunctionName=two_versions, Name="live", FunctionVersion="1")

    with pytest.raises(lambda_client.exceptions.ResourceConflictException):
        lambda_client.create_alias(FunctionName=two_versions, Name="live", FunctionVersion="2")

    assert lambda_client.get_alias(FunctionName=two_versions, Name="live")["FunctionVersion"] == "1"


def test_it_refuses_an_alias_to_a_version_that_does_not_exist(lambda_client, two_versions):
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.create_alias(FunctionName=two_versions, Name="live", FunctionVersion="9")

    assert lambda_client.list_aliases(FunctionName=two_versions)["Aliases"] == []


@pytest.mark.parametrize(
    ("primary", "weights", "reason"),
    [
        ("1", {"2": 1.5}, "between 0.0 and 1.0"),
        ("1", {"2": 0.1, "$LATEST": 0.1}, "at most one"),
        ("$LATEST", {"1": 0.5}, "$LATEST"),
        ("1", {"$LATEST": 0.5}, "$LATEST"),
        ("1", {"1": 0.5}, "primary"),
    ],
    ids=["weight-over-one", "two-extra-versions", "latest-primary", "latest-extra", "same-version"],
)
def test_it_refuses_routing_aws_does_not_allow(
    lambda_client_unvalidated, two_versions, primary, weights, reason
):
    client = lambda_client_unvalidated
    with pytest.raises(client.exceptions.InvalidParameterValueException) as raised:
        client.create_alias(
            FunctionName=two_versions,
            Name="weighted",
            FunctionVersion=primary,
            RoutingConfig={"AdditionalVersionWeights": weights},
        )

    assert reason in str(raised.value)
    assert client.list_aliases(FunctionName=two_versions)["Aliases"] == []


def test_it_refuses_routing_to_a_version_with_a_different_role(lambda_client, two_versions):
    lambda_client.update_function_configuration(FunctionName=two_versions, Role=lambda_role("other-role"))
    lambda_client.publish_version(FunctionName=two_versions)

    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException):
        lambda_client.create_alias(
            FunctionName=two_versions,
            Name="mixed",
            FunctionVersion="2",
            RoutingConfig={"AdditionalVersionWeights": {"3": 0.5}},
        )


def test_it_manages_aliases_with_the_aws_cli(aws_cli, two_versions):
    created = json.loads(
        aws_cli(
            "lambda",
            "create-alias",
            "--function-name",
            two_versions,
            "--name",
            "live",
            "--function-version",
            "1",
            "--routing-config",
            "AdditionalVersionWeights={2=0.3}",
        ).stdout
    )
    assert created["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.3}}

    listed = json.loads(aws_cli("lambda", "list-aliases", "--function-name", two_versions).stdout)
    assert [alias["Name"] for alias in listed["Aliases"]] == ["live"]

    aws_cli("lambda", "delete-alias", "--function-name", two_versions, "--name", "live")
    missing = aws_cli("lambda", "get-alias", "--function-name", two_versions, "--name", "live", check=False)
    assert missing.returncode != 0
    assert "ResourceNotFoundException" in missing.stderr
