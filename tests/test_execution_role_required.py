"""A function's Role must be a role of its account that Lambda can assume, as on AWS:
CreateFunction and UpdateFunctionConfiguration refuse anything else with AWS's error, and the
dashboard's create page makes a role with basic Lambda permissions or uses an existing one."""

from __future__ import annotations

import json
import re
import sys

import pytest
from botocore.exceptions import ClientError
from django.contrib.auth import get_user_model
from django.test import Client

from functions_app.models import LATEST, Function, FunctionVersion
from iam.models import Role
from iam.selectors import attached_arns
from iam.services import account_create, account_default, role_create
from tests.conftest import lambda_role

pytestmark = pytest.mark.django_db(transaction=True)

ACCOUNT = "000000000000"
RUNTIME = f"python3.{sys.version_info.minor}"
CANNOT_BE_ASSUMED = "The role defined for the function cannot be assumed by Lambda."
BASIC_EXECUTION = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"


def _trust(service: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
        }
    )


def _error(raised: pytest.ExceptionInfo) -> tuple[int, str, str]:
    response = raised.value.response
    return (
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Code"],
        response["Error"]["Message"],
    )


def _refused(lambda_client, create) -> None:
    """``create()`` is refused with AWS's InvalidParameterValueException and its message."""
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException) as raised:
        create()
    assert _error(raised) == (400, "InvalidParameterValueException", CANNOT_BE_ASSUMED)


def _nothing_created(lambda_client) -> None:
    assert lambda_client.list_functions(FunctionVersion="ALL")["Functions"] == []
    assert not Function.objects.exists()


# --- CreateFunction -----------------------------------------------------------------------------


def test_it_refuses_a_role_that_does_not_exist_and_creates_nothing(lambda_client, create_function):
    _refused(lambda_client, lambda: create_function("hello", Role=f"arn:aws:iam::{ACCOUNT}:role/missing"))

    _nothing_created(lambda_client)


def test_it_refuses_a_role_that_trusts_only_another_service(lambda_client, create_function):
    role = role_create(account=account_default(), name="for-ec2", trust_policy=_trust("ec2.amazonaws.com"))

    _refused(lambda_client, lambda: create_function("hello", Role=role.arn))

    _nothing_created(lambda_client)


def test_it_refuses_a_role_of_another_account(lambda_client, create_function):
    other = account_create(name="other")
    role = role_create(account=other, name="lambda-role", trust_policy=_trust("lambda.amazonaws.com"))

    # Passing another account's role is cross-account iam:PassRole, which no policy of the
    # role's account can allow: refused before the role is even looked at.
    with pytest.raises(ClientError) as raised:
        create_function("hello", Role=role.arn)
    error = raised.value.response["Error"]
    assert error["Code"] == "AccessDeniedException" and "iam:PassRole" in error["Message"]
    _nothing_created(lambda_client)


def test_it_refuses_a_role_of_another_account_even_to_an_administrator_of_every_account():
    """A superuser passes any role; the role must still be one of the function's account."""
    import base64

    from functions_app.errors import InvalidParameterValue
    from functions_app.services.functions import function_create
    from tests.conftest import HELLO_PY, make_zip

    hello_zip = base64.b64encode(make_zip({"lambda_function.py": HELLO_PY})).decode()

    other = account_create(name="other")
    role = role_create(account=other, name="lambda-role", trust_policy=_trust("lambda.amazonaws.com"))
    with pytest.raises(InvalidParameterValue, match="cannot be assumed by Lambda"):
        function_create(
            fields={
                "FunctionName": "hello",
                "Runtime": RUNTIME,
                "Handler": "lambda_function.handler",
                "Code": {"ZipFile": hello_zip},
                "Role": role.arn,
            }
        )


def test_it_takes_a_role_with_a_path_by_its_full_arn(lambda_client, create_function):
    arn = lambda_role("my-role", path="/service-role/")
    assert arn == f"arn:aws:iam::{ACCOUNT}:role/service-role/my-role"

    # The same name at another path is another role, which does not exist.
    _refused(lambda_client, lambda: create_function("hello", Role=f"arn:aws:iam::{ACCOUNT}:role/my-role"))
    _refused(
        lambda_client, lambda: create_function("hello", Role=f"arn:aws:iam::{ACCOUNT}:role/other/my-role")
    )
    created = create_function("hello", Role=arn)

    assert created["Role"] == arn
    assert lambda_client.get_function_configuration(FunctionName="hello")["Role"] == arn


def test_it_answers_a_malformed_role_arn_with_a_validation_exception(lambda_client_unvalidated, hello_zip):
    with pytest.raises(ClientError) as raised:
        lambda_client_unvalidated.create_function(
            FunctionName="hello",
            Runtime=RUNTIME,
            Role="lambda-role",
            Handler="lambda_function.handler",
            Code={"ZipFile": hello_zip},
        )

    assert _error(raised) == (
        400,
        "ValidationException",
        "1 validation error detected: Value 'lambda-role' at 'role' failed to satisfy constraint: Member must "
        r"satisfy regular expression pattern: arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+",
    )
    _nothing_created(lambda_client_unvalidated)


def test_it_refuses_a_role_that_does_not_exist_through_the_aws_cli(
    aws_cli, tmp_path, hello_zip, lambda_client
):
    package = tmp_path / "package.zip"
    package.write_bytes(hello_zip)

    result = aws_cli(
        "lambda", "create-function", "--function-name", "hello", "--runtime", RUNTIME,
        "--role", f"arn:aws:iam::{ACCOUNT}:role/missing", "--handler", "lambda_function.handler",
        "--zip-file", f"fileb://{package}",
        check=False,
    )  # fmt: skip

    assert result.returncode != 0
    assert "(InvalidParameterValueException) when calling the CreateFunction operation" in result.stderr
    assert CANNOT_BE_ASSUMED in result.stderr
    _nothing_created(lambda_client)


# --- UpdateFunctionConfiguration ----------------------------------------------------------------


def test_it_refuses_to_change_to_a_role_lambda_cannot_assume_and_keeps_the_old_one(
    lambda_client, create_function
):
    created = create_function("hello")
    for_ec2 = role_create(account=account_default(), name="for-ec2", trust_policy=_trust("ec2.amazonaws.com"))

    for role in (f"arn:aws:iam::{ACCOUNT}:role/missing", for_ec2.arn):
        _refused(
            lambda_client,
            lambda role=role: lambda_client.update_function_configuration(FunctionName="hello", Role=role),
        )

    configuration = lambda_client.get_function_configuration(FunctionName="hello")
    assert configuration["Role"] == created["Role"] == lambda_role()
    assert configuration["RevisionId"] == created["RevisionId"]


def test_it_changes_to_another_role_lambda_can_assume(lambda_client, create_function):
    create_function("hello")
    other = lambda_role("other-role", path="/service-role/")

    updated = lambda_client.update_function_configuration(FunctionName="hello", Role=other)

    assert updated["Role"] == other
    assert FunctionVersion.objects.get(function__name="hello", version=LATEST).role == other


# --- The dashboard's create page ----------------------------------------------------------------


@pytest.fixture
def admin_client() -> Client:
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("admin", password="unused-password"))
    return client


def _create_form(**fields: str) -> dict[str, str]:
    return {
        "name": "hello",
        "runtime": RUNTIME,
        "memory": "128",
        "timeout": "3",
        "source": "blueprint",
        **fields,
    }


def test_it_creates_a_new_role_with_basic_lambda_permissions_by_default(admin_client):
    form = admin_client.get("/functions/new").content.decode()
    assert re.search(r'name="role_source" value="new"\s+checked', form)

    response = admin_client.post("/functions/new", _create_form(role_source="new"))

    assert response.status_code == 302
    role = Role.objects.get()
    assert re.fullmatch(r"hello-role-[a-z0-9]{8}", role.name)
    assert role.path == "/service-role/"
    assert role.arn == f"arn:aws:iam::{ACCOUNT}:role/service-role/{role.name}"
    assert attached_arns(role) == [BASIC_EXECUTION]
    assert FunctionVersion.objects.get(function__name="hello", version=LATEST).role == role.arn


def test_it_keeps_no_new_role_when_the_function_is_refused(admin_client):
    admin_client.post("/functions/new", _create_form())
    roles = list(Role.objects.values_list("name", flat=True))

    response = admin_client.post("/functions/new", _create_form())

    assert response.status_code == 400
    assert "Function already exist: hello" in response.content.decode()
    assert list(Role.objects.values_list("name", flat=True)) == roles


def test_it_offers_the_roles_lambda_can_assume_and_uses_the_one_chosen(admin_client):
    chosen = lambda_role("chosen", path="/service-role/")
    lambda_role("another")
    role_create(account=account_default(), name="for-ec2", trust_policy=_trust("ec2.amazonaws.com"))

    form = admin_client.get("/functions/new").content.decode()
    offered = re.findall(r'<option value="(arn:aws:iam::[^"]+)"', form)
    assert offered == [f"arn:aws:iam::{ACCOUNT}:role/another", chosen]

    response = admin_client.post("/functions/new", _create_form(role_source="existing", role=chosen))

    assert response.status_code == 302
    assert FunctionVersion.objects.get(function__name="hello", version=LATEST).role == chosen
    assert Role.objects.count() == 3  # no new one


def test_it_shows_why_an_existing_role_is_refused_next_to_the_role_field(admin_client):
    for_ec2 = role_create(account=account_default(), name="for-ec2", trust_policy=_trust("ec2.amazonaws.com"))

    response = admin_client.post("/functions/new", _create_form(role_source="existing", role=for_ec2.arn))

    assert response.status_code == 400
    html = response.content.decode()
    field_error = f'<p class="error field-error">{CANNOT_BE_ASSUMED}</p>'
    assert html.index("<legend>Execution role</legend>") < html.index(field_error)
    assert not Function.objects.exists()
