"""Every bound and bad input of CreateFunction gets a 4xx that says what to fix, and leaves nothing behind."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.conftest import lambda_role

pytestmark = pytest.mark.django_db(transaction=True)

CREATE_PATH = "/2015-03-31/functions"


def _error(raised: pytest.ExceptionInfo) -> tuple[int, str, str]:
    response = raised.value.response
    return (
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Code"],
        response["Error"]["Message"],
    )


def _assert_not_created(client, name: str) -> None:
    assert client.list_functions(FunctionVersion="ALL")["Functions"] == []
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_function(FunctionName=name)


def _create_params(hello_zip: bytes, python_runtime: str, **overrides) -> dict:
    params = {
        "FunctionName": "checked",
        "Runtime": python_runtime,
        "Role": lambda_role(),
        "Handler": "lambda_function.handler",
        "Code": {"ZipFile": hello_zip},
    }
    params.update(overrides)
    return params


def _signed(
    url: str, key: tuple[str, str], method: str, path: str, body: bytes, headers: dict | None = None
) -> tuple[int, dict[str, str], bytes]:
    """Send a SigV4-signed request as botocore would, but with any body we like."""
    request = AWSRequest(method=method, url=url + path, data=body, headers=headers or {})
    SigV4Auth(Credentials(*key), "lambda", "us-east-1").add_auth(request)
    prepared = request.prepare()
    http = urllib.request.Request(prepared.url, data=body, method=method, headers=dict(prepared.headers))
    try:
        with urllib.request.urlopen(http, timeout=60) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


@pytest.fixture
def create(lambda_client_unvalidated, hello_zip, python_runtime):
    """CreateFunction ``checked`` through a client that leaves all checking to the server."""

    def call(**overrides):
        return lambda_client_unvalidated.create_function(
            **_create_params(hello_zip, python_runtime, **overrides)
        )

    return call


# --- Bounds of section 9 --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "shown"),
    [
        (
            "MemorySize",
            127,
            "at 'memorySize' failed to satisfy constraint: Member must have value greater than or equal to 128",
        ),
        (
            "MemorySize",
            10241,
            "at 'memorySize' failed to satisfy constraint: Member must have value less than or equal to 10240",
        ),
        ("MemorySize", 64, "greater than or equal to 128"),
        (
            "Timeout",
            0,
            "at 'timeout' failed to satisfy constraint: Member must have value greater than or equal to 1",
        ),
        (
            "Timeout",
            901,
            "at 'timeout' failed to satisfy constraint: Member must have value less than or equal to 900",
        ),
        ("EphemeralStorage", {"Size": 511}, "greater than or equal to 512"),
        ("EphemeralStorage", {"Size": 10241}, "less than or equal to 10240"),
    ],
    ids=["memory-127", "memory-10241", "memory-64", "timeout-0", "timeout-901", "tmp-511", "tmp-10241"],
)
def test_it_refuses_values_outside_lambdas_bounds(lambda_client_unvalidated, create, field, value, shown):
    with pytest.raises(ClientError) as raised:
        create(**{field: value})

    status, code, message = _error(raised)
    assert (status, code) == (400, "ValidationException")
    assert shown in message
    assert message.startswith("1 validation error detected: Value '")
    _assert_not_created(lambda_client_unvalidated, "checked")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("MemorySize", 128),
        ("MemorySize", 10240),
        ("Timeout", 1),
        ("Timeout", 900),
        ("EphemeralStorage", {"Size": 512}),
        ("EphemeralStorage", {"Size": 10240}),
    ],
    ids=["memory-128", "memory-10240", "timeout-1", "timeout-900", "tmp-512", "tmp-10240"],
)
def test_it_accepts_values_on_lambdas_bounds(lambda_client, create, field, value):
    created = create(**{field: value})

    assert created[field] == value
    assert lambda_client.get_function_configuration(FunctionName="checked")[field] == value


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("MemorySize", "big"),
        ("Timeout", 3.5),
        ("MemorySize", True),
        ("EphemeralStorage", 1024),
        ("Environment", ["A=1"]),
        ("Environment", {"Variables": {"COUNT": 3}}),
    ],
    ids=["memory-string", "timeout-float", "memory-bool", "tmp-not-object", "env-list", "env-number-value"],
)
def test_it_refuses_values_of_the_wrong_type(
    live_server_url, access_key, lambda_client, hello_zip, python_runtime, field, value
):
    # Sent as raw JSON: botocore could not even serialize some of these.
    params = _create_params(hello_zip, python_runtime, **{field: value})
    params["Code"] = {"ZipFile": base64.b64encode(hello_zip).decode()}

    status, headers, answer = _signed(
        live_server_url,
        access_key,
        "POST",
        CREATE_PATH,
        json.dumps(params).encode(),
        {"Content-Type": "application/json"},
    )

    assert status == 400
    assert headers["x-amzn-errortype"] == "InvalidParameterValueException"
    assert field.lower() in json.loads(answer)["message"].lower()
    _assert_not_created(lambda_client, "checked")


def test_it_refuses_bounds_beyond_standard_lambda_on_update_too(lambda_client_unvalidated, create):
    created = create()

    for field, value in (("MemorySize", 10241), ("Timeout", 901), ("EphemeralStorage", {"Size": 511})):
        with pytest.raises(ClientError) as raised:
            lambda_client_unvalidated.update_function_configuration(FunctionName="checked", **{field: value})
        assert _error(raised)[:2] == (400, "ValidationException")

    config = lambda_client_unvalidated.get_function_configuration(FunctionName="checked")
    assert (config["MemorySize"], config["Timeout"], config["EphemeralStorage"]) == (128, 3, {"Size": 512})
    assert config["RevisionId"] == created["RevisionId"]


def test_it_accepts_environment_variables_of_exactly_4_kb(lambda_client, create):
    # Lambda measures the variables as JSON: {"BIG":"xxx…"} is 10 bytes plus the value.
    variables = {"BIG": "x" * (4096 - 10)}
    assert len(json.dumps(variables, separators=(",", ":"))) == 4096

    created = create(Environment={"Variables": variables})

    assert created["Environment"] == {"Variables": variables}


def test_it_refuses_environment_variables_over_4_kb(lambda_client, create):
    variables = {"BIG": "x" * (4096 - 9)}

    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException) as raised:
        create(Environment={"Variables": variables})

    assert "exceeded the 4KB limit" in str(raised.value)
    assert "4097 bytes" in str(raised.value)
    _assert_not_created(lambda_client, "checked")


def test_it_refuses_environment_variables_over_4_kb_spread_over_many_keys(lambda_client, create):
    variables = {f"KEY_{index:03d}": "v" * 40 for index in range(100)}

    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException) as raised:
        create(Environment={"Variables": variables})

    assert "4KB" in str(raised.value)
    _assert_not_created(lambda_client, "checked")


@pytest.mark.parametrize(
    "key", ["AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT"]
)
def test_it_refuses_reserved_environment_variable_keys(lambda_client, create, key):
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException) as raised:
        create(Environment={"Variables": {"FINE": "1", key: "mine"}})

    assert "reserved keys" in str(raised.value)
    assert key in str(raised.value)
    _assert_not_created(lambda_client, "checked")


def test_it_refuses_a_reserved_environment_key_on_update(lambda_client, create):
    create(Environment={"Variables": {"FINE": "1"}})

    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException):
        lambda_client.update_function_configuration(
            FunctionName="checked", Environment={"Variables": {"AWS_REGION": "eu-west-1"}}
        )

    config = lambda_client.get_function_configuration(FunctionName="checked")
    assert config["Environment"] == {"Variables": {"FINE": "1"}}


@pytest.mark.parametrize("key", ["1STARTS_WITH_DIGIT", "HAS-DASH", "HAS SPACE", "_HANDLER"])
def test_it_refuses_environment_variable_names_lambda_cannot_set(lambda_client, create, key):
    with pytest.raises(ClientError) as raised:
        create(Environment={"Variables": {key: "value"}})

    assert _error(raised)[0] == 400
    assert key in _error(raised)[2]
    _assert_not_created(lambda_client, "checked")


def test_it_refuses_a_description_over_256_characters(lambda_client_unvalidated, create):
    with pytest.raises(ClientError) as raised:
        create(Description="d" * 257)

    status, code, message = _error(raised)
    assert (status, code) == (400, "ValidationException")
    assert "less than or equal to 256" in message
    _assert_not_created(lambda_client_unvalidated, "checked")
    assert create(Description="d" * 256)["Description"] == "d" * 256


# --- Function names -------------------------------------------------------------------------


def test_it_accepts_a_function_name_of_64_characters(lambda_client, create):
    name = "n" * 60 + "-_9Z"

    created = create(FunctionName=name)

    assert created["FunctionName"] == name
    assert lambda_client.get_function(FunctionName=name)["Configuration"]["FunctionName"] == name


@pytest.mark.parametrize(
    "name",
    ["n" * 65, "has space", "dots.not.allowed", "slash/name", "émoji", ""],
    ids=["65-chars", "space", "dots", "slash", "non-ascii", "empty"],
)
def test_it_refuses_function_names_lambda_does_not_allow(lambda_client_unvalidated, create, name):
    with pytest.raises(ClientError) as raised:
        create(FunctionName=name)

    status, code, message = _error(raised)
    assert status == 400
    assert code == "ValidationException"
    assert "functionName" in message
    assert lambda_client_unvalidated.list_functions()["Functions"] == []


def test_it_answers_lookups_of_an_overlong_name_with_a_validation_error(lambda_client):
    with pytest.raises(ClientError) as raised:
        lambda_client.get_function(FunctionName="n" * 65)

    assert _error(raised)[:2] == (400, "ValidationException")
    assert "64" in _error(raised)[2]


# --- Runtime, handler, role -----------------------------------------------------------------


def test_it_refuses_an_unknown_runtime_and_names_the_ones_it_has(lambda_client, create, python_runtime):
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException) as raised:
        create(Runtime="cobol85")

    message = str(raised.value)
    assert "cobol85" in message
    assert python_runtime in message
    _assert_not_created(lambda_client, "checked")


@pytest.mark.parametrize("handler", ["handler", "lambda_function.", ".handler"])
def test_it_refuses_a_python_handler_that_is_not_module_dot_function(lambda_client, create, handler):
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException) as raised:
        create(Handler=handler)

    assert "module.function" in str(raised.value)
    _assert_not_created(lambda_client, "checked")


def test_it_refuses_a_handler_with_whitespace(lambda_client, create):
    with pytest.raises(ClientError) as raised:
        create(Handler="lambda_function. handler")

    assert _error(raised)[:2] == (400, "ValidationException")
    _assert_not_created(lambda_client, "checked")


def test_it_requires_a_handler_for_a_python_runtime(lambda_client_unvalidated, hello_zip, python_runtime):
    params = _create_params(hello_zip, python_runtime)
    del params["Handler"]

    with pytest.raises(lambda_client_unvalidated.exceptions.InvalidParameterValueException) as raised:
        lambda_client_unvalidated.create_function(**params)

    assert "Handler is required" in str(raised.value)
    _assert_not_created(lambda_client_unvalidated, "checked")


@pytest.mark.parametrize(
    "role",
    [
        "lambda-role",
        "arn:aws:iam::000000000000:user/someone",
        "arn:aws:iam::12345:role/short-account",
        "arn:aws:s3:::bucket",
    ],
    ids=["bare-name", "user-arn", "short-account", "not-iam"],
)
def test_it_refuses_a_role_that_is_not_an_iam_role_arn(lambda_client, create, role):
    with pytest.raises(ClientError) as raised:
        create(Role=role)

    status, code, message = _error(raised)
    assert (status, code) == (400, "ValidationException")
    assert "role" in message and role in message
    _assert_not_created(lambda_client, "checked")


def test_it_requires_a_role(lambda_client_unvalidated, hello_zip, python_runtime):
    params = _create_params(hello_zip, python_runtime)
    del params["Role"]

    with pytest.raises(ClientError) as raised:
        lambda_client_unvalidated.create_function(**params)

    assert _error(raised)[0] == 400
    _assert_not_created(lambda_client_unvalidated, "checked")


# --- Code -----------------------------------------------------------------------------------


def test_it_refuses_code_that_is_not_a_zip(lambda_client, create):
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException) as raised:
        create(Code={"ZipFile": b"print('I am a script, not a zip')"})

    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "Could not unzip uploaded file" in str(raised.value)
    _assert_not_created(lambda_client, "checked")


def test_it_refuses_a_truncated_zip(lambda_client, create, hello_zip):
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException) as raised:
        create(Code={"ZipFile": hello_zip[: len(hello_zip) // 2]})

    assert "unzip" in str(raised.value)
    _assert_not_created(lambda_client, "checked")


def test_it_refuses_a_zip_file_member_that_is_not_base64(
    live_server_url, access_key, lambda_client, python_runtime
):
    body = json.dumps(
        {
            "FunctionName": "checked",
            "Runtime": python_runtime,
            "Role": lambda_role(),
            "Handler": "lambda_function.handler",
            "Code": {"ZipFile": "this is *not* base64!"},
        }
    ).encode()

    status, headers, answer = _signed(
        live_server_url, access_key, "POST", CREATE_PATH, body, {"Content-Type": "application/json"}
    )

    assert status == 400
    assert headers["x-amzn-errortype"] == "InvalidParameterValueException"
    assert "base64" in json.loads(answer)["message"]
    _assert_not_created(lambda_client, "checked")


def test_it_refuses_base64_that_decodes_to_garbage(
    live_server_url, access_key, lambda_client, python_runtime
):
    body = json.dumps(
        {
            "FunctionName": "checked",
            "Runtime": python_runtime,
            "Role": lambda_role(),
            "Handler": "lambda_function.handler",
            "Code": {"ZipFile": base64.b64encode(bytes(range(256)) * 4).decode()},
        }
    ).encode()

    status, headers, answer = _signed(
        live_server_url, access_key, "POST", CREATE_PATH, body, {"Content-Type": "application/json"}
    )

    assert status == 400
    assert headers["x-amzn-errortype"] == "InvalidParameterValueException"
    assert "Could not unzip" in json.loads(answer)["message"]
    _assert_not_created(lambda_client, "checked")


def test_it_refuses_a_zip_with_paths_outside_the_package(lambda_client, create):
    from tests.conftest import make_zip

    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException) as raised:
        create(Code={"ZipFile": make_zip({"lambda_function.py": "", "../escape.py": "x = 1"})})

    assert "../escape.py" in str(raised.value)
    _assert_not_created(lambda_client, "checked")


def test_it_refuses_code_from_s3(lambda_client, create):
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException) as raised:
        create(Code={"S3Bucket": "deployments", "S3Key": "checked.zip"})

    assert "ZipFile" in str(raised.value)
    _assert_not_created(lambda_client, "checked")


def test_it_refuses_container_images(lambda_client, create):
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException):
        create(
            Code={"ImageUri": "000000000000.dkr.ecr.us-east-1.amazonaws.com/app:latest"}, PackageType="Image"
        )

    _assert_not_created(lambda_client, "checked")


def test_it_requires_code(lambda_client_unvalidated, hello_zip, python_runtime):
    params = _create_params(hello_zip, python_runtime)
    del params["Code"]

    with pytest.raises(lambda_client_unvalidated.exceptions.InvalidParameterValueException) as raised:
        lambda_client_unvalidated.create_function(**params)

    assert "ZipFile" in str(raised.value)
    _assert_not_created(lambda_client_unvalidated, "checked")


def test_it_refuses_s3_code_on_update(lambda_client, create, hello_zip):
    created = create()

    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException):
        lambda_client.update_function_code(FunctionName="checked", S3Bucket="deployments", S3Key="new.zip")

    assert (
        lambda_client.get_function_configuration(FunctionName="checked")["CodeSha256"]
        == created["CodeSha256"]
    )


# --- Settings Stratus cannot honour ---------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "shown"),
    [
        ("Layers", ["arn:aws:lambda:us-east-1:000000000000:layer:deps:1"], "layers"),
        ("KMSKeyArn", "arn:aws:kms:us-east-1:000000000000:key/abc", "KMS"),
        ("VpcConfig", {"SubnetIds": ["subnet-1"], "SecurityGroupIds": ["sg-1"]}, "VpcConfig"),
        (
            "FileSystemConfigs",
            [
                {
                    "Arn": "arn:aws:elasticfilesystem:us-east-1:000000000000:access-point/fsap-1",
                    "LocalMountPath": "/mnt/x",
                }
            ],
            "EFS",
        ),
    ],
    ids=["layers", "kms", "vpc", "efs"],
)
def test_it_refuses_settings_it_cannot_honour(lambda_client, create, field, value, shown):
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException) as raised:
        create(**{field: value})

    assert shown in str(raised.value)
    _assert_not_created(lambda_client, "checked")


def test_it_refuses_layers_on_update(lambda_client, create):
    created = create()

    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException):
        lambda_client.update_function_configuration(
            FunctionName="checked", Layers=["arn:aws:lambda:us-east-1:000000000000:layer:deps:1"], Timeout=30
        )

    config = lambda_client.get_function_configuration(FunctionName="checked")
    assert config["Timeout"] == 3 and config["RevisionId"] == created["RevisionId"]


@pytest.mark.parametrize(
    ("field", "value", "shown"),
    [
        ("Architectures", ["x86_64", "arm64"], "exactly one of x86_64 or arm64"),
        ("Architectures", ["sparc"], "exactly one of x86_64 or arm64"),
        ("TracingConfig", {"Mode": "Loud"}, "'Loud' at 'tracingConfig.mode'"),
        ("LoggingConfig", {"LogFormat": "XML"}, "'XML' at 'loggingConfig.logFormat'"),
        ("Tags", {"aws:reserved": "no"}, "'aws:reserved'"),
    ],
    ids=["two-architectures", "unknown-architecture", "tracing-mode", "log-format", "aws-tag"],
)
def test_it_refuses_other_invalid_settings(lambda_client_unvalidated, create, field, value, shown):
    with pytest.raises(ClientError) as raised:
        create(**{field: value})

    status, _, message = _error(raised)
    assert status == 400
    assert shown in message
    _assert_not_created(lambda_client_unvalidated, "checked")


# --- The request itself ---------------------------------------------------------------------


def test_it_refuses_a_body_that_is_not_json(live_server_url, access_key, lambda_client):
    status, headers, answer = _signed(
        live_server_url,
        access_key,
        "POST",
        CREATE_PATH,
        b'{"FunctionName": "checked", "Role": ',
        {"Content-Type": "application/json"},
    )

    assert status == 400
    assert headers["x-amzn-errortype"] == "InvalidRequestContentException"
    body = json.loads(answer)
    assert body["Type"] == "User"
    assert "Could not parse request body into json" in body["message"]
    assert lambda_client.list_functions()["Functions"] == []


@pytest.mark.parametrize(
    "body", [b"[]", b'"checked"', b"\xff\xfe not utf-8"], ids=["array", "string", "bytes"]
)
def test_it_refuses_a_body_that_is_not_a_json_object(live_server_url, access_key, lambda_client, body):
    status, headers, _ = _signed(
        live_server_url, access_key, "POST", CREATE_PATH, body, {"Content-Type": "application/json"}
    )

    assert status == 400
    assert headers["x-amzn-errortype"] == "InvalidRequestContentException"
    assert lambda_client.list_functions()["Functions"] == []


def test_it_refuses_a_body_that_is_not_json_on_update(live_server_url, access_key, lambda_client, create):
    created = create()

    status, headers, _ = _signed(
        live_server_url,
        access_key,
        "PUT",
        f"{CREATE_PATH}/checked/configuration",
        b"Timeout=30",
        {"Content-Type": "application/json"},
    )

    assert (status, headers["x-amzn-errortype"]) == (400, "InvalidRequestContentException")
    assert (
        lambda_client.get_function_configuration(FunctionName="checked")["RevisionId"]
        == created["RevisionId"]
    )


def test_it_refuses_a_create_request_over_70167211_bytes(live_server_url, access_key, lambda_client):
    body = b"0" * 70_167_212

    status, headers, answer = _signed(
        live_server_url, access_key, "POST", CREATE_PATH, body, {"Content-Type": "application/json"}
    )

    assert status == 413
    assert headers["x-amzn-errortype"] == "RequestTooLargeException"
    assert "70167211" in json.loads(answer)["message"]
    assert lambda_client.list_functions()["Functions"] == []


def test_it_refuses_a_package_over_50_mb(lambda_client, create):
    # Stored (not deflated) random-ish bytes keep the zip just over the 52,428,800-byte limit.
    import io
    import os
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("lambda_function.py", "def handler(e, c):\n    return 1\n")
        archive.writestr("blob.bin", os.urandom(52_428_800))

    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException) as raised:
        create(Code={"ZipFile": buffer.getvalue()})

    assert "52428800" in str(raised.value)
    _assert_not_created(lambda_client, "checked")


def test_it_accepts_a_package_of_several_megabytes(lambda_client, create):
    import io
    import os
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("lambda_function.py", "def handler(e, c):\n    return 1\n")
        archive.writestr("blob.bin", os.urandom(5 * 1024 * 1024))

    created = create(Code={"ZipFile": buffer.getvalue()})

    assert created["CodeSize"] == len(buffer.getvalue())


def test_it_reports_a_bad_value_through_the_aws_cli(
    aws_cli, tmp_path, hello_zip, python_runtime, lambda_client
):
    package = tmp_path / "package.zip"
    package.write_bytes(hello_zip)

    result = aws_cli(
        "lambda",
        "create-function",
        "--function-name",
        "checked",
        "--runtime",
        python_runtime,
        "--role",
        lambda_role(),
        "--handler",
        "lambda_function.handler",
        "--zip-file",
        f"fileb://{package}",
        "--timeout",
        "901",
        check=False,
    )

    assert result.returncode != 0
    assert "ValidationException" in result.stderr
    assert "less than or equal to 900" in result.stderr
    assert lambda_client.list_functions()["Functions"] == []
