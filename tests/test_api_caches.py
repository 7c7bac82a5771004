"""Each process caches what every signed request reads (dashboard.caches): the access key, the
caller's policies, the function and the version it resolves to. A change is seen by the very
next request, in whichever process it lands: these tests never wait for one to apply."""

from __future__ import annotations

import json

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.conftest import aws_client, function_made, make_zip

pytestmark = [pytest.mark.django_db(transaction=True)]

ENV_ECHO = """
import os

def handler(event, context):
    return {"greeting": os.environ.get("GREETING")}
"""

READ_FUNCTIONS = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "lambda:GetFunctionConfiguration", "Resource": "*"}],
    }
)


@pytest.fixture
def iam(live_server_url, access_key):
    return aws_client("iam", live_server_url, access_key)


@pytest.fixture
def reader(iam, live_server_url, create_function):
    """A function ``shared`` and an IAM user ``reader`` with a key and no policy yet:
    ``(access key id, its Lambda client)``."""
    create_function("shared")
    iam.create_user(UserName="reader")
    key = iam.create_access_key(UserName="reader")["AccessKey"]
    return key["AccessKeyId"], aws_client("lambda", live_server_url, (key["AccessKeyId"], key["SecretAccessKey"]))


def _error(call) -> tuple[str, int]:
    with pytest.raises(ClientError) as raised:
        call()
    response = raised.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def _reads(client) -> bool:
    """Twice, so the second is served from the caches."""
    for _ in range(2):
        assert client.get_function_configuration(FunctionName="shared")["FunctionName"] == "shared"
    return True


# --- Who may call -------------------------------------------------------------------------------


def test_a_deleted_key_is_refused_by_the_very_next_request(iam, reader):
    key_id, client = reader
    iam.put_user_policy(UserName="reader", PolicyName="read", PolicyDocument=READ_FUNCTIONS)
    assert _reads(client)

    iam.delete_access_key(UserName="reader", AccessKeyId=key_id)
    assert _error(lambda: client.get_function_configuration(FunctionName="shared")) == (
        "UnrecognizedClientException",
        403,
    )


def test_an_inactive_key_is_refused_at_once_and_signs_again_once_active(iam, reader):
    key_id, client = reader
    iam.put_user_policy(UserName="reader", PolicyName="read", PolicyDocument=READ_FUNCTIONS)
    assert _reads(client)

    iam.update_access_key(UserName="reader", AccessKeyId=key_id, Status="Inactive")
    assert _error(lambda: client.get_function_configuration(FunctionName="shared"))[0] == (
        "UnrecognizedClientException"
    )
    iam.update_access_key(UserName="reader", AccessKeyId=key_id, Status="Active")
    assert _reads(client)


def test_a_key_deleted_by_another_process_is_refused_by_the_server_at_once(iam, reader):
    """This test's process deletes the key through the ORM; the live server is another process."""
    from functions_app.models import AccessKey

    key_id, client = reader
    iam.put_user_policy(UserName="reader", PolicyName="read", PolicyDocument=READ_FUNCTIONS)
    assert _reads(client)

    AccessKey.objects.filter(access_key_id=key_id).delete()
    assert _error(lambda: client.get_function_configuration(FunctionName="shared"))[0] == (
        "UnrecognizedClientException"
    )


def test_a_detached_policy_applies_to_the_very_next_request(iam, reader):
    _, client = reader
    read_only = "arn:aws:iam::aws:policy/AWSLambda_ReadOnlyAccess"
    iam.attach_user_policy(UserName="reader", PolicyArn=read_only)
    assert _reads(client)

    iam.detach_user_policy(UserName="reader", PolicyArn=read_only)
    assert _error(lambda: client.get_function_configuration(FunctionName="shared")) == (
        "AccessDeniedException",
        403,
    )
    iam.put_user_policy(UserName="reader", PolicyName="read", PolicyDocument=READ_FUNCTIONS)
    assert _reads(client)
    iam.delete_user_policy(UserName="reader", PolicyName="read")
    assert _error(lambda: client.get_function_configuration(FunctionName="shared"))[0] == "AccessDeniedException"


def test_a_managed_policys_new_default_version_applies_to_the_very_next_request(iam, reader):
    _, client = reader
    policy = iam.create_policy(PolicyName="reads", PolicyDocument=READ_FUNCTIONS)["Policy"]["Arn"]
    iam.attach_user_policy(UserName="reader", PolicyArn=policy)
    assert _reads(client)

    nothing = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]})
    iam.create_policy_version(PolicyArn=policy, PolicyDocument=nothing, SetAsDefault=True)
    assert _error(lambda: client.get_function_configuration(FunctionName="shared"))[0] == "AccessDeniedException"
    iam.set_default_policy_version(PolicyArn=policy, VersionId="v1")
    assert _reads(client)


def test_leaving_a_group_takes_its_policies_away_at_once(iam, reader):
    _, client = reader
    iam.create_group(GroupName="readers")
    iam.put_group_policy(GroupName="readers", PolicyName="read", PolicyDocument=READ_FUNCTIONS)
    iam.add_user_to_group(GroupName="readers", UserName="reader")
    assert _reads(client)

    iam.remove_user_from_group(GroupName="readers", UserName="reader")
    assert _error(lambda: client.get_function_configuration(FunctionName="shared"))[0] == "AccessDeniedException"


# --- What is called -----------------------------------------------------------------------------


@pytest.fixture
def echo(lambda_client, create_function):
    """A function ``echo`` that answers its GREETING variable, invoked once (warm caches)."""
    create_function("echo", Code={"ZipFile": make_zip({"lambda_function.py": ENV_ECHO})})
    assert _invoke(lambda_client, "echo") == {"greeting": None}
    return "echo"


def _invoke(lambda_client, name: str, qualifier: str | None = None) -> dict:
    extra = {"Qualifier": qualifier} if qualifier else {}
    response = lambda_client.invoke(FunctionName=name, Payload=b"{}", **extra)
    assert "FunctionError" not in response, response["Payload"].read()
    return json.loads(response["Payload"].read())


def _greeting(lambda_client, value: str) -> None:
    lambda_client.update_function_configuration(FunctionName="echo", Environment={"Variables": {"GREETING": value}})


@pytest.mark.usefixtures("stratus_workers")
def test_a_configuration_update_is_seen_by_the_next_read_and_the_next_invoke(lambda_client, echo):
    assert "Environment" not in lambda_client.get_function_configuration(FunctionName="echo")
    _greeting(lambda_client, "hello")
    configuration = lambda_client.get_function_configuration(FunctionName="echo")
    assert configuration["Environment"] == {"Variables": {"GREETING": "hello"}}
    assert _invoke(lambda_client, "echo") == {"greeting": "hello"}

    lambda_client.update_function_configuration(FunctionName="echo", Timeout=7)
    assert lambda_client.get_function_configuration(FunctionName="echo")["Timeout"] == 7


@pytest.mark.usefixtures("stratus_workers")
def test_a_repointed_alias_is_seen_by_the_next_invoke(lambda_client, echo):
    _greeting(lambda_client, "one")
    first = lambda_client.publish_version(FunctionName="echo")["Version"]
    _greeting(lambda_client, "two")
    second = lambda_client.publish_version(FunctionName="echo")["Version"]
    lambda_client.create_alias(FunctionName="echo", Name="live", FunctionVersion=first)
    assert _invoke(lambda_client, "echo", "live") == {"greeting": "one"}
    assert _invoke(lambda_client, "echo", "live") == {"greeting": "one"}

    lambda_client.update_alias(FunctionName="echo", Name="live", FunctionVersion=second)
    assert _invoke(lambda_client, "echo", "live") == {"greeting": "two"}
    lambda_client.delete_alias(FunctionName="echo", Name="live")
    assert _error(lambda: _invoke(lambda_client, "echo", "live")) == ("ResourceNotFoundException", 404)


@pytest.mark.usefixtures("stratus_workers")
def test_a_deleted_function_is_not_found_by_the_next_invoke(lambda_client, echo):
    lambda_client.delete_function(FunctionName="echo")
    assert _error(lambda: _invoke(lambda_client, "echo")) == ("ResourceNotFoundException", 404)
    assert _error(lambda: lambda_client.get_function_configuration(FunctionName="echo"))[0] == (
        "ResourceNotFoundException"
    )


@pytest.mark.usefixtures("stratus_workers")
def test_reserved_concurrency_applies_to_the_next_invoke_and_its_removal_too(lambda_client, echo):
    lambda_client.put_function_concurrency(FunctionName="echo", ReservedConcurrentExecutions=0)
    assert _error(lambda: _invoke(lambda_client, "echo")) == ("TooManyRequestsException", 429)
    lambda_client.delete_function_concurrency(FunctionName="echo")
    assert _invoke(lambda_client, "echo") == {"greeting": None}


# --- What it saves ------------------------------------------------------------------------------


def _signed(client: Client, key: tuple[str, str], method: str, path: str, body: bytes = b""):
    """``client``'s request (in this process, through every middleware), signed with ``key``."""
    request = AWSRequest(method=method, url=f"http://testserver{path}", data=body)
    SigV4Auth(Credentials(*key), "lambda", "us-east-1").add_auth(request)
    headers = {name: value for name, value in request.headers.items()}
    if method == "GET":
        return client.get(path, headers={**headers, "Host": "testserver"})
    return client.post(path, body, content_type="application/json", headers={**headers, "Host": "testserver"})


def test_a_warm_get_function_configuration_runs_no_sql(access_key):
    function_made("counted")
    client, path = Client(), "/2015-03-31/functions/counted/configuration"
    with CaptureQueriesContext(connection) as cold:
        assert _signed(client, access_key, "GET", path).status_code == 200
    with CaptureQueriesContext(connection) as warm:
        assert _signed(client, access_key, "GET", path).status_code == 200
    # Cold: the key, the caller's policies, the function, the version (and the key's last use).
    assert len(cold) >= 4, cold.captured_queries
    assert len(warm) == 0, warm.captured_queries


@pytest.mark.usefixtures("stratus_workers")
def test_a_warm_invoke_runs_no_sql(access_key):
    function_made("counted")
    client, path = Client(), "/2015-03-31/functions/counted/invocations"
    with CaptureQueriesContext(connection) as cold:
        response = _signed(client, access_key, "POST", path, b'{"name": "cold"}')
    assert response.status_code == 200 and json.loads(response.content) == {"hello": "cold"}
    with CaptureQueriesContext(connection) as warm:
        response = _signed(client, access_key, "POST", path, b'{"name": "warm"}')
    assert response.status_code == 200 and json.loads(response.content) == {"hello": "warm"}
    # Cold adds the reserved-concurrency total to what GetFunctionConfiguration reads.
    assert len(cold) >= 5, cold.captured_queries
    assert len(warm) == 0, warm.captured_queries


def test_a_cache_hands_each_caller_its_own_copy_and_forgets_on_a_change():
    from dashboard.caches import Cache, changed, request_scope

    loads = []
    cache = Cache("test", copies=True)

    def load():
        loads.append(1)
        return {"value": len(loads)}

    with request_scope():
        first = cache.get("key", load)
        first["value"] = "changed by its caller"
        assert cache.get("key", load) == {"value": 1}
        assert len(loads) == 1
        changed()  # outside a transaction: announced at once
        assert cache.get("key", load) == {"value": 2}
