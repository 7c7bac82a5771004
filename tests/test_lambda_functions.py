"""CreateFunction, GetFunction, ListFunctions, updates and deletion through boto3."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError, WaiterError

from tests.conftest import ROLE, lambda_role, make_zip

pytestmark = pytest.mark.django_db(transaction=True)

ARN = "arn:aws:lambda:us-east-1:000000000000:function"
LAST_MODIFIED = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
FAST = {"Delay": 1, "MaxAttempts": 2}

SECOND_PY = """
def handler(event, context):
    return {"second": True}
"""


def _sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def _download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read()


def _names(functions: list[dict]) -> list[str]:
    return [function["FunctionName"] for function in functions]


def test_it_creates_a_function_and_reports_it_as_botocore_expects(
    lambda_client, create_function, hello_zip, python_runtime
):
    created = create_function("hello", Description="says hello", MemorySize=256, Timeout=10)
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert created["FunctionName"] == "hello"
    assert created["FunctionArn"] == "arn:aws:lambda:us-east-1:000000000000:function:hello"
    assert created["Runtime"] == python_runtime
    assert created["MemorySize"] == 256 and created["Timeout"] == 10
    assert created["Version"] == "$LATEST"
    assert created["CodeSha256"] == base64.b64encode(hashlib.sha256(hello_zip).digest()).decode()
    assert created["CodeSize"] == len(hello_zip)
    assert created["State"] == "Active"
    assert created["EphemeralStorage"] == {"Size": 512}

    fetched = lambda_client.get_function(FunctionName="hello")
    assert fetched["Configuration"]["RevisionId"] == created["RevisionId"]
    assert fetched["Code"]["RepositoryType"] == "S3"


def test_it_answers_unknown_functions_with_resource_not_found(lambda_client):
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException) as raised:
        lambda_client.get_function(FunctionName="nope")
    assert "Function not found" in str(raised.value)


# --- CreateFunction -------------------------------------------------------------------------


def test_it_fills_in_aws_defaults_for_everything_left_out(create_function):
    created = create_function("defaults")

    assert created["Timeout"] == 3
    assert created["MemorySize"] == 128
    assert created["EphemeralStorage"] == {"Size": 512}
    assert created["Architectures"] == ["x86_64"]
    assert created["PackageType"] == "Zip"
    assert created["TracingConfig"] == {"Mode": "PassThrough"}
    assert created["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": "/aws/lambda/defaults"}
    assert created["Description"] == ""
    assert created["LastUpdateStatus"] == "Successful"
    assert UUID.match(created["RevisionId"])
    assert "Environment" not in created


def test_it_reports_last_modified_as_lambdas_millisecond_string(create_function):
    created = create_function("stamped")

    assert LAST_MODIFIED.match(created["LastModified"]), created["LastModified"]
    moment = datetime.strptime(created["LastModified"], "%Y-%m-%dT%H:%M:%S.%f%z")
    assert abs((datetime.now(UTC) - moment).total_seconds()) < 60


def test_it_keeps_the_settings_given_at_creation(lambda_client, create_function):
    create_function(
        "configured",
        Architectures=["arm64"],
        TracingConfig={"Mode": "Active"},
        EphemeralStorage={"Size": 2048},
        LoggingConfig={"LogFormat": "JSON", "LogGroup": "/custom/group"},
    )

    config = lambda_client.get_function_configuration(FunctionName="configured")
    assert config["Architectures"] == ["arm64"]
    assert config["TracingConfig"] == {"Mode": "Active"}
    assert config["EphemeralStorage"] == {"Size": 2048}
    assert config["LoggingConfig"] == {"LogFormat": "JSON", "LogGroup": "/custom/group"}


def test_it_round_trips_environment_variables(lambda_client, create_function):
    variables = {"GREETING": "hi there", "EMPTY": "", "JSONISH": '{"a": [1, 2]}', "unicode_ok": "héllo ✓"}

    created = create_function("with-env", Environment={"Variables": variables})

    assert created["Environment"] == {"Variables": variables}
    assert lambda_client.get_function_configuration(FunctionName="with-env")["Environment"] == {
        "Variables": variables
    }
    assert lambda_client.get_function(FunctionName="with-env")["Configuration"]["Environment"] == {
        "Variables": variables
    }


def test_it_stores_tags_given_at_creation(lambda_client, create_function):
    tags = {"team": "payments", "env": "prod"}

    create_function("tagged", Tags=tags)

    assert lambda_client.get_function(FunctionName="tagged")["Tags"] == tags
    assert lambda_client.list_tags(Resource=f"{ARN}:tagged")["Tags"] == tags


def test_it_refuses_a_second_function_with_the_same_name(lambda_client, create_function):
    original = create_function("taken", Description="the original")

    with pytest.raises(lambda_client.exceptions.ResourceConflictException) as raised:
        create_function("taken", Description="the impostor", Code={"ZipFile": make_zip({"x.py": ""})})

    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert "Function already exist: taken" in str(raised.value)
    config = lambda_client.get_function_configuration(FunctionName="taken")
    assert config["Description"] == "the original"
    assert config["CodeSha256"] == original["CodeSha256"]
    assert config["RevisionId"] == original["RevisionId"]


def test_it_publishes_version_one_when_asked_at_creation(lambda_client, create_function):
    created = create_function("published", Publish=True)

    assert created["Version"] == "1"
    assert created["FunctionArn"] == f"{ARN}:published:1"
    versions = lambda_client.list_versions_by_function(FunctionName="published")["Versions"]
    assert [version["Version"] for version in versions] == ["$LATEST", "1"]


@pytest.mark.parametrize(
    "identifier",
    ["000000000000:function:by-arn", f"{ARN}:by-arn"],
    ids=["partial-arn", "full-arn"],
)
def test_it_creates_a_function_named_by_its_arn(lambda_client, create_function, identifier):
    created = create_function(identifier)

    assert created["FunctionName"] == "by-arn"
    assert created["FunctionArn"] == f"{ARN}:by-arn"
    assert _names(lambda_client.list_functions()["Functions"]) == ["by-arn"]


def test_it_refuses_to_create_a_function_named_with_a_qualifier(lambda_client, create_function):
    with pytest.raises(ClientError) as raised:
        create_function(f"{ARN}:qualified:1")

    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert lambda_client.list_functions()["Functions"] == []


def test_it_refuses_to_create_a_function_in_another_account(lambda_client, create_function):
    with pytest.raises(ClientError) as raised:
        create_function("arn:aws:lambda:us-east-1:111122223333:function:elsewhere")

    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] in (400, 403, 404)
    assert lambda_client.list_functions()["Functions"] == []


def test_it_creates_a_function_with_the_aws_cli(aws_cli, tmp_path, hello_zip, python_runtime):
    package = tmp_path / "package.zip"
    package.write_bytes(hello_zip)

    created = json.loads(
        aws_cli(
            "lambda",
            "create-function",
            "--function-name",
            "from-cli",
            "--runtime",
            python_runtime,
            "--role",
            lambda_role(),
            "--handler",
            "lambda_function.handler",
            "--zip-file",
            f"fileb://{package}",
            "--environment",
            "Variables={MODE=cli}",
        ).stdout
    )
    assert created["FunctionArn"] == f"{ARN}:from-cli"
    assert created["CodeSha256"] == _sha256(hello_zip)

    config = json.loads(aws_cli("lambda", "get-function-configuration", "--function-name", "from-cli").stdout)
    assert config["Environment"] == {"Variables": {"MODE": "cli"}}
    assert config["Timeout"] == 3


# --- GetFunction / GetFunctionConfiguration -------------------------------------------------


@pytest.mark.parametrize(
    "identifier",
    ["lookup", "000000000000:function:lookup", f"{ARN}:lookup"],
    ids=["name", "partial-arn", "full-arn"],
)
def test_it_finds_a_function_by_name_partial_arn_or_full_arn(lambda_client, create_function, identifier):
    created = create_function("lookup")

    fetched = lambda_client.get_function(FunctionName=identifier)
    assert fetched["Configuration"]["FunctionArn"] == f"{ARN}:lookup"
    assert fetched["Configuration"]["RevisionId"] == created["RevisionId"]
    config = lambda_client.get_function_configuration(FunctionName=identifier)
    assert config["FunctionName"] == "lookup"


def test_it_finds_a_version_named_inside_the_function_name(lambda_client, create_function):
    create_function("qualified", Publish=True)
    lambda_client.update_function_configuration(FunctionName="qualified", Description="changed later")

    for identifier in ("qualified:1", "000000000000:function:qualified:1", f"{ARN}:qualified:1"):
        config = lambda_client.get_function(FunctionName=identifier)["Configuration"]
        assert config["Version"] == "1"
        assert config["FunctionArn"] == f"{ARN}:qualified:1"
        assert config["Description"] == ""

    by_parameter = lambda_client.get_function_configuration(FunctionName="qualified", Qualifier="1")
    assert by_parameter["FunctionArn"] == f"{ARN}:qualified:1"
    latest = lambda_client.get_function_configuration(FunctionName="qualified:$LATEST")
    assert latest["Description"] == "changed later"
    assert latest["Version"] == "$LATEST"


def test_it_refuses_a_qualifier_that_contradicts_the_one_in_the_name(lambda_client, create_function):
    create_function("contradicted", Publish=True)

    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException):
        lambda_client.get_function(FunctionName="contradicted:1", Qualifier="$LATEST")


def test_it_answers_unknown_versions_with_resource_not_found(lambda_client, create_function):
    create_function("unversioned")

    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.get_function(FunctionName="unversioned", Qualifier="7")
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.get_function_configuration(FunctionName="unversioned", Qualifier="no-such-alias")


def test_it_offers_the_uploaded_zip_at_code_location(lambda_client, create_function, hello_zip):
    create_function("downloadable", Publish=True)
    second_zip = make_zip({"lambda_function.py": SECOND_PY})
    lambda_client.update_function_code(FunctionName="downloadable", ZipFile=second_zip)

    latest = lambda_client.get_function(FunctionName="downloadable")["Code"]["Location"]
    first = lambda_client.get_function(FunctionName="downloadable", Qualifier="1")["Code"]["Location"]

    assert _download(latest) == second_zip
    assert _download(first) == hello_zip


def test_it_stops_serving_the_code_once_the_function_is_deleted(lambda_client, create_function):
    create_function("short-lived")
    location = lambda_client.get_function(FunctionName="short-lived")["Code"]["Location"]
    lambda_client.delete_function(FunctionName="short-lived")

    with pytest.raises(urllib.error.HTTPError) as raised:
        _download(location)

    assert raised.value.code == 404


def test_it_refuses_a_code_location_whose_signed_payload_was_altered(lambda_client, create_function):
    create_function("guarded-code")
    secret_zip = make_zip({"lambda_function.py": SECOND_PY})
    create_function("secret-code", Code={"ZipFile": secret_zip})
    location = lambda_client.get_function(FunctionName="guarded-code")["Code"]["Location"]
    prefix, _, token = location.rpartition("/")
    _, _, signature = token.partition(":")
    # Point the payload at the other function's code, keeping guarded-code's signature.
    payload = json.dumps(
        {"sha256": hashlib.sha256(secret_zip).hexdigest(), "name": "secret-code"}, separators=(",", ":")
    )
    forged = base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")

    with pytest.raises(urllib.error.HTTPError) as raised:
        _download(f"{prefix}/{forged}:{signature}")

    assert raised.value.code == 404
    assert _download(location) != secret_zip


def test_it_reports_the_configuration_alone(lambda_client, create_function, hello_zip, python_runtime):
    create_function("config-only", Handler="lambda_function.handler", Description="just config")

    config = lambda_client.get_function_configuration(FunctionName="config-only")

    assert config["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert config["FunctionName"] == "config-only"
    assert config["Handler"] == "lambda_function.handler"
    assert config["Runtime"] == python_runtime
    assert config["Role"] == ROLE
    assert config["Description"] == "just config"
    assert config["CodeSha256"] == _sha256(hello_zip)
    assert "Code" not in config and "Tags" not in config


# --- ListFunctions --------------------------------------------------------------------------


def test_it_lists_functions_in_pages_following_next_marker(lambda_client, create_function):
    names = [f"page-{index}" for index in range(7)]
    for name in reversed(names):
        create_function(name)

    pages = []
    marker = None
    while True:
        kwargs = {"MaxItems": 3} | ({"Marker": marker} if marker else {})
        page = lambda_client.list_functions(**kwargs)
        pages.append(_names(page["Functions"]))
        marker = page.get("NextMarker")
        if not marker:
            break

    assert pages == [names[0:3], names[3:6], names[6:7]]


def test_it_lists_every_function_through_the_paginator(lambda_client, create_function):
    for index in range(5):
        create_function(f"paged-{index}")

    paginator = lambda_client.get_paginator("list_functions")
    pages = list(paginator.paginate(PaginationConfig={"PageSize": 2}))

    assert [len(page["Functions"]) for page in pages] == [2, 2, 1]
    assert [name for page in pages for name in _names(page["Functions"])] == [f"paged-{i}" for i in range(5)]


def test_it_lists_only_latest_unless_all_versions_are_asked_for(lambda_client, create_function):
    create_function("multi", Publish=True)
    lambda_client.update_function_configuration(FunctionName="multi", Timeout=30)
    lambda_client.publish_version(FunctionName="multi")
    create_function("single")

    latest_only = lambda_client.list_functions()["Functions"]
    assert [(f["FunctionName"], f["Version"]) for f in latest_only] == [
        ("multi", "$LATEST"),
        ("single", "$LATEST"),
    ]
    assert latest_only[0]["FunctionArn"] == f"{ARN}:multi"

    everything = lambda_client.list_functions(FunctionVersion="ALL")["Functions"]
    assert [(f["FunctionName"], f["Version"]) for f in everything] == [
        ("multi", "$LATEST"),
        ("multi", "1"),
        ("multi", "2"),
        ("single", "$LATEST"),
    ]
    assert everything[2]["FunctionArn"] == f"{ARN}:multi:2"
    assert everything[2]["Timeout"] == 30 and everything[1]["Timeout"] == 3


def test_it_returns_at_most_50_functions_per_page(lambda_client, create_function):
    for index in range(52):
        create_function(f"bulk-{index:02d}")

    first = lambda_client.list_functions(MaxItems=1000)
    second = lambda_client.list_functions(Marker=first["NextMarker"])

    assert len(first["Functions"]) == 50
    assert _names(second["Functions"]) == ["bulk-50", "bulk-51"]
    assert "NextMarker" not in second


def test_it_lists_nothing_when_there_are_no_functions(lambda_client):
    listed = lambda_client.list_functions()

    assert listed["Functions"] == []
    assert "NextMarker" not in listed


# --- UpdateFunctionConfiguration ------------------------------------------------------------


def test_it_updates_only_the_configuration_given(lambda_client, create_function):
    created = create_function("tunable", MemorySize=512, Environment={"Variables": {"A": "1"}})

    updated = lambda_client.update_function_configuration(
        FunctionName="tunable", Timeout=60, Description="slower now"
    )

    assert updated["Timeout"] == 60
    assert updated["Description"] == "slower now"
    assert updated["MemorySize"] == 512
    assert updated["Environment"] == {"Variables": {"A": "1"}}
    assert updated["CodeSha256"] == created["CodeSha256"]
    assert updated["RevisionId"] != created["RevisionId"]
    assert UUID.match(updated["RevisionId"])
    assert updated["LastUpdateStatus"] == "Successful"
    assert (
        lambda_client.get_function_configuration(FunctionName="tunable")["RevisionId"]
        == updated["RevisionId"]
    )


def test_it_replaces_environment_variables_on_update(lambda_client, create_function):
    create_function("env-swap", Environment={"Variables": {"OLD": "1", "KEEP": "x"}})

    updated = lambda_client.update_function_configuration(
        FunctionName="env-swap", Environment={"Variables": {"NEW": "2"}}
    )
    assert updated["Environment"] == {"Variables": {"NEW": "2"}}

    cleared = lambda_client.update_function_configuration(
        FunctionName="env-swap", Environment={"Variables": {}}
    )
    assert cleared.get("Environment", {}).get("Variables", {}) == {}


def test_it_applies_an_update_made_with_the_current_revision_id(lambda_client, create_function):
    created = create_function("guarded-update")

    updated = lambda_client.update_function_configuration(
        FunctionName="guarded-update", MemorySize=1024, RevisionId=created["RevisionId"]
    )

    assert updated["MemorySize"] == 1024


def test_it_refuses_an_update_made_with_a_stale_revision_id(lambda_client, create_function):
    created = create_function("stale")
    current = lambda_client.update_function_configuration(FunctionName="stale", Timeout=5)

    with pytest.raises(lambda_client.exceptions.PreconditionFailedException) as raised:
        lambda_client.update_function_configuration(
            FunctionName="stale", Timeout=99, RevisionId=created["RevisionId"]
        )

    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    assert "Revision Id" in str(raised.value)
    config = lambda_client.get_function_configuration(FunctionName="stale")
    assert config["Timeout"] == 5
    assert config["RevisionId"] == current["RevisionId"]


def test_it_updates_nothing_when_one_field_of_an_update_is_invalid(
    lambda_client_unvalidated, create_function
):
    created = create_function("all-or-nothing")

    with pytest.raises(ClientError) as raised:
        lambda_client_unvalidated.update_function_configuration(
            FunctionName="all-or-nothing", Timeout=30, MemorySize=64
        )

    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    config = lambda_client_unvalidated.get_function_configuration(FunctionName="all-or-nothing")
    assert config["Timeout"] == 3 and config["MemorySize"] == 128
    assert config["RevisionId"] == created["RevisionId"]


def test_it_updates_the_configuration_with_the_aws_cli(aws_cli, create_function):
    create_function("cli-tuned")

    updated = json.loads(
        aws_cli(
            "lambda", "update-function-configuration", "--function-name", "cli-tuned", "--memory-size", "256"
        ).stdout
    )

    assert updated["MemorySize"] == 256


# --- UpdateFunctionCode ---------------------------------------------------------------------


def test_it_replaces_the_code_and_reports_the_new_hash(lambda_client, create_function, hello_zip):
    created = create_function("recoded")
    second_zip = make_zip({"lambda_function.py": SECOND_PY})

    updated = lambda_client.update_function_code(FunctionName="recoded", ZipFile=second_zip)

    assert updated["CodeSha256"] == _sha256(second_zip) != created["CodeSha256"]
    assert updated["CodeSize"] == len(second_zip)
    assert updated["Version"] == "$LATEST"
    assert updated["RevisionId"] != created["RevisionId"]
    assert lambda_client.get_function_configuration(FunctionName="recoded")["CodeSha256"] == _sha256(
        second_zip
    )


def test_it_publishes_a_version_when_updating_code_with_publish(lambda_client, create_function, hello_zip):
    create_function("recoded-published")
    second_zip = make_zip({"lambda_function.py": SECOND_PY})

    published = lambda_client.update_function_code(
        FunctionName="recoded-published", ZipFile=second_zip, Publish=True
    )

    assert published["Version"] == "1"
    assert published["FunctionArn"] == f"{ARN}:recoded-published:1"
    assert published["CodeSha256"] == _sha256(second_zip)
    version_one = lambda_client.get_function_configuration(FunctionName="recoded-published", Qualifier="1")
    assert version_one["CodeSha256"] == _sha256(second_zip)


def test_it_only_validates_new_code_on_a_dry_run(lambda_client, create_function, hello_zip):
    created = create_function("dry")

    answered = lambda_client.update_function_code(
        FunctionName="dry", ZipFile=make_zip({"lambda_function.py": SECOND_PY}), DryRun=True
    )

    assert answered["CodeSha256"] == created["CodeSha256"]
    config = lambda_client.get_function_configuration(FunctionName="dry")
    assert config["CodeSha256"] == _sha256(hello_zip)
    assert config["RevisionId"] == created["RevisionId"]


def test_it_refuses_new_code_with_a_stale_revision_id(lambda_client, create_function, hello_zip):
    created = create_function("stale-code")
    lambda_client.update_function_configuration(FunctionName="stale-code", Timeout=5)

    with pytest.raises(lambda_client.exceptions.PreconditionFailedException):
        lambda_client.update_function_code(
            FunctionName="stale-code",
            ZipFile=make_zip({"lambda_function.py": SECOND_PY}),
            RevisionId=created["RevisionId"],
        )

    assert lambda_client.get_function_configuration(FunctionName="stale-code")["CodeSha256"] == _sha256(
        hello_zip
    )


def test_it_keeps_the_old_code_when_the_new_code_is_not_a_zip(lambda_client, create_function, hello_zip):
    created = create_function("keeps-code")

    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException) as raised:
        lambda_client.update_function_code(FunctionName="keeps-code", ZipFile=b"definitely not a zip")

    assert "unzip" in str(raised.value)
    config = lambda_client.get_function_configuration(FunctionName="keeps-code")
    assert config["CodeSha256"] == _sha256(hello_zip)
    assert config["RevisionId"] == created["RevisionId"]


# --- DeleteFunction -------------------------------------------------------------------------


def test_it_deletes_a_function_with_its_versions_and_aliases(lambda_client, create_function):
    create_function("doomed", Publish=True)
    lambda_client.create_alias(FunctionName="doomed", Name="live", FunctionVersion="1")

    deleted = lambda_client.delete_function(FunctionName="doomed")

    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    for qualifier in (None, "1", "live"):
        kwargs = {"Qualifier": qualifier} if qualifier else {}
        with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
            lambda_client.get_function(FunctionName="doomed", **kwargs)
    assert lambda_client.list_functions(FunctionVersion="ALL")["Functions"] == []


def test_it_answers_deleting_an_unknown_function_with_resource_not_found(lambda_client):
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.delete_function(FunctionName="never-was")


def test_it_starts_afresh_when_a_deleted_name_is_reused(lambda_client, create_function):
    create_function("phoenix", Publish=True, Tags={"old": "yes"})
    lambda_client.create_alias(FunctionName="phoenix", Name="live", FunctionVersion="1")
    lambda_client.delete_function(FunctionName="phoenix")

    create_function("phoenix")

    assert lambda_client.get_function(FunctionName="phoenix").get("Tags", {}) == {}
    assert lambda_client.list_aliases(FunctionName="phoenix")["Aliases"] == []
    assert lambda_client.publish_version(FunctionName="phoenix")["Version"] == "1"


def test_it_deletes_a_function_by_full_arn(lambda_client, create_function):
    create_function("arn-doomed")

    lambda_client.delete_function(FunctionName=f"{ARN}:arn-doomed")

    assert lambda_client.list_functions()["Functions"] == []


# --- Waiters --------------------------------------------------------------------------------


def test_it_satisfies_the_function_active_and_updated_waiters(lambda_client, create_function):
    create_function("waited")
    lambda_client.get_waiter("function_active_v2").wait(FunctionName="waited", WaiterConfig=FAST)

    lambda_client.update_function_configuration(FunctionName="waited", Timeout=9)
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName="waited", WaiterConfig=FAST)

    lambda_client.get_waiter("function_active").wait(FunctionName="waited", WaiterConfig=FAST)
    lambda_client.get_waiter("function_updated").wait(FunctionName="waited", WaiterConfig=FAST)


def test_it_makes_the_function_exists_waiter_fail_for_a_missing_function(lambda_client):
    with pytest.raises(WaiterError):
        lambda_client.get_waiter("function_exists").wait(
            FunctionName="absent", WaiterConfig={"Delay": 1, "MaxAttempts": 1}
        )


def test_it_makes_the_function_exists_waiter_retry_until_the_function_appears(lambda_client, create_function):
    def create_later():
        time.sleep(0.3)
        create_function("late")

    creator = threading.Thread(target=create_later)
    creator.start()
    try:
        lambda_client.get_waiter("function_exists").wait(
            FunctionName="late", WaiterConfig={"Delay": 1, "MaxAttempts": 5}
        )
    finally:
        creator.join()

    assert lambda_client.get_function(FunctionName="late")["Configuration"]["State"] == "Active"


def test_it_satisfies_the_cli_wait_commands(aws_cli, create_function):
    create_function("cli-waited")

    for waiter in ("function-exists", "function-active-v2", "function-updated-v2"):
        aws_cli("lambda", "wait", waiter, "--function-name", "cli-waited")
