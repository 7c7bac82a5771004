"""Function URLs end to end: boto3 configures them, plain HTTP calls them, real workers run them."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.conftest import aws_client, make_zip

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("stratus_workers")]

ECHO_PY = """
import base64, json

def handler(event, context):
    path = event["rawPath"]
    if path == "/plain":
        return "Hello"
    if path == "/boom":
        raise RuntimeError("boom")
    if path == "/binary":
        return {"statusCode": 200, "headers": {"content-type": "image/png"},
                "body": base64.b64encode(bytes(range(256))).decode(), "isBase64Encoded": True}
    if path == "/dict":
        return {"ok": True}
    return {
        "statusCode": 201,
        "headers": {"x-echo": "yes", "content-type": "application/json"},
        "cookies": ["a=1; Path=/", "b=2; HttpOnly"],
        "body": json.dumps(event),
    }
"""


def _call(url: str, *, method: str = "GET", body: bytes | None = None, headers: dict | None = None):
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def _public(lambda_client, name: str) -> None:
    """The two statements AWS's console adds with a NONE URL (the API adds none)."""
    lambda_client.add_permission(
        FunctionName=name,
        StatementId="FunctionURLAllowPublicAccess",
        Action="lambda:InvokeFunctionUrl",
        Principal="*",
        FunctionUrlAuthType="NONE",
    )
    lambda_client.add_permission(
        FunctionName=name,
        StatementId="FunctionURLAllowInvokeAction",
        Action="lambda:InvokeFunction",
        Principal="*",
        InvokedViaFunctionUrl=True,
    )


@pytest.fixture
def echo_url(lambda_client, create_function):
    create_function("echo", Code={"ZipFile": make_zip({"lambda_function.py": ECHO_PY})})

    def make(**fields):
        fields.setdefault("AuthType", "NONE")
        url = lambda_client.create_function_url_config(FunctionName="echo", **fields)["FunctionUrl"]
        if fields["AuthType"] == "NONE":
            _public(lambda_client, "echo")
        return url

    return make


def test_it_manages_url_configs_through_the_lambda_api(lambda_client, create_function):
    create_function("web")
    created = lambda_client.create_function_url_config(
        FunctionName="web", AuthType="AWS_IAM", Cors={"AllowOrigins": ["https://example.com"]}
    )
    assert "/lambda-url/" in created["FunctionUrl"] and created["AuthType"] == "AWS_IAM"
    with pytest.raises(lambda_client.exceptions.ResourceConflictException):
        lambda_client.create_function_url_config(FunctionName="web", AuthType="NONE")
    updated = lambda_client.update_function_url_config(FunctionName="web", AuthType="NONE")
    assert updated["AuthType"] == "NONE" and updated["FunctionUrl"] == created["FunctionUrl"]
    got = lambda_client.get_function_url_config(FunctionName="web")
    assert got["Cors"] == {"AllowOrigins": ["https://example.com"]}
    listed = lambda_client.list_function_url_configs(FunctionName="web")["FunctionUrlConfigs"]
    assert [config["FunctionUrl"] for config in listed] == [created["FunctionUrl"]]
    with pytest.raises(lambda_client.exceptions.ClientError):
        lambda_client.create_function_url_config(FunctionName="web", AuthType="OPEN")
    lambda_client.delete_function_url_config(FunctionName="web")
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.get_function_url_config(FunctionName="web")


def test_it_turns_a_get_with_query_and_cookies_into_a_2_0_event(echo_url):
    url = echo_url()
    status, headers, body = _call(
        f"{url}items/42?color=red&color=blue&q=a%20b",
        headers={"Cookie": "session=abc; theme=dark", "X-Custom": "v"},
    )
    assert status == 201
    assert headers["x-echo"] == "yes"
    assert headers.get_all("Set-Cookie") == ["a=1; Path=/", "b=2; HttpOnly"]
    event = json.loads(body)
    assert event["version"] == "2.0" and event["routeKey"] == "$default"
    assert event["rawPath"] == "/items/42"
    assert event["rawQueryString"] == "color=red&color=blue&q=a%20b"
    assert event["queryStringParameters"] == {"color": "red,blue", "q": "a b"}
    assert event["cookies"] == ["session=abc", "theme=dark"]
    assert event["headers"]["x-custom"] == "v"
    assert event["requestContext"]["http"]["method"] == "GET"
    assert event["requestContext"]["apiId"] == url.rstrip("/").rsplit("/", 1)[1]
    assert "body" not in event


def test_it_passes_post_bodies_text_and_binary(echo_url):
    url = echo_url()
    status, _, body = _call(
        f"{url}submit", method="POST", body=b'{"a": 1}', headers={"Content-Type": "application/json"}
    )
    event = json.loads(body)
    assert status == 201 and event["body"] == '{"a": 1}' and event["isBase64Encoded"] is False
    raw = bytes(range(256))
    _, _, body = _call(
        f"{url}upload", method="POST", body=raw, headers={"Content-Type": "application/octet-stream"}
    )
    event = json.loads(body)
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == raw


def test_it_applies_the_2_0_response_rules(echo_url):
    url = echo_url()
    status, headers, body = _call(f"{url}plain")
    assert (status, body) == (200, b'"Hello"')
    assert "X-Frame-Options" not in headers  # the dashboard's framing rule is not the function's
    assert headers["Content-Type"] == "application/json"
    status, _, body = _call(f"{url}dict")
    assert status == 200 and json.loads(body) == {"ok": True}
    status, headers, body = _call(f"{url}binary")
    assert status == 200 and body == bytes(range(256)) and headers["Content-Type"] == "image/png"
    status, _, body = _call(f"{url}boom")
    assert status == 502 and json.loads(body) == {"Message": "Internal Server Error"}


def test_it_answers_cors_preflights_as_configured(echo_url):
    url = echo_url(
        Cors={
            "AllowOrigins": ["https://app.example.com"],
            "AllowMethods": ["POST"],
            "AllowHeaders": ["x-token"],
            "MaxAge": 300,
        }
    )
    status, headers, _ = _call(
        url,
        method="OPTIONS",
        headers={
            "Origin": "https://app.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-token",
        },
    )
    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "POST" in headers["Access-Control-Allow-Methods"]
    assert headers["Access-Control-Max-Age"] == "300"
    _, headers, _ = _call(
        url,
        method="OPTIONS",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "Access-Control-Allow-Origin" not in headers
    _, headers, _ = _call(f"{url}x", headers={"Origin": "https://app.example.com"})
    assert headers["Access-Control-Allow-Origin"] == "https://app.example.com"


def _signed(
    url: str, key: tuple[str, str], *, method: str = "GET", service: str = "lambda"
) -> tuple[int, bytes]:
    request = AWSRequest(method=method, url=url, data=b"")
    SigV4Auth(Credentials(*key), service, "us-east-1").add_auth(request)
    status, _, body = _call(url, method=method, headers=dict(request.headers.items()))
    return status, body


def test_it_refuses_unsigned_and_unpermitted_calls_to_an_aws_iam_url(
    echo_url, lambda_client, access_key, live_server_url
):
    url = echo_url(AuthType="AWS_IAM")
    assert _call(f"{url}x")[0] == 403
    iam = aws_client("iam", live_server_url, access_key)
    iam.create_user(UserName="url-caller")
    created = iam.create_access_key(UserName="url-caller")["AccessKey"]
    caller = (created["AccessKeyId"], created["SecretAccessKey"])
    status, _ = _signed(f"{url}x", caller)
    assert status == 403  # signed, but neither its policies nor the function's let this user in
    lambda_client.add_permission(
        FunctionName="echo",
        StatementId="url",
        Action="lambda:InvokeFunctionUrl",
        Principal="arn:aws:iam::000000000000:user/url-caller",
        FunctionUrlAuthType="AWS_IAM",
    )
    assert _signed(f"{url}x", caller)[0] == 403  # lambda:InvokeFunction is needed too, since 2025
    lambda_client.add_permission(
        FunctionName="echo",
        StatementId="url-invoke",
        Action="lambda:InvokeFunction",
        Principal="arn:aws:iam::000000000000:user/url-caller",
        InvokedViaFunctionUrl=True,
    )
    status, body = _signed(f"{url}x?a=1", caller)
    assert status == 201
    authorizer = json.loads(body)["requestContext"]["authorizer"]["iam"]
    assert authorizer["accessKey"] == caller[0]
    assert authorizer["userArn"].endswith(":user/url-caller")
    # An administrator's own policies allow it without any statement naming it.
    assert _signed(f"{url}x", access_key)[0] == 201
    assert _signed(f"{url}x", (access_key[0], "wrong-secret"))[0] == 403
    assert _signed(f"{url}x", access_key, service="sqs")[0] == 403  # AWS_IAM URLs are signed for lambda


def test_it_keeps_a_none_url_private_until_the_functions_policy_makes_it_public(
    lambda_client, create_function
):
    create_function("not-yet-public", Code={"ZipFile": make_zip({"lambda_function.py": ECHO_PY})})
    url = lambda_client.create_function_url_config(FunctionName="not-yet-public", AuthType="NONE")[
        "FunctionUrl"
    ]
    assert _call(f"{url}x")[0] == 403
    lambda_client.add_permission(
        FunctionName="not-yet-public",
        StatementId="FunctionURLAllowPublicAccess",
        Action="lambda:InvokeFunctionUrl",
        Principal="*",
        FunctionUrlAuthType="NONE",
    )
    assert _call(f"{url}x")[0] == 403  # InvokeFunction through the URL is needed too
    lambda_client.add_permission(
        FunctionName="not-yet-public",
        StatementId="FunctionURLAllowInvokeAction",
        Action="lambda:InvokeFunction",
        Principal="*",
        InvokedViaFunctionUrl=True,
    )
    assert _call(f"{url}x")[0] == 201


def test_it_answers_404_for_an_unknown_url(live_server_url):
    assert _call(f"{live_server_url}/lambda-url/{'a' * 32}/")[0] == 404


def test_it_serves_a_url_by_host_name_under_the_wildcard_domain(echo_url, client, settings):
    url_id = echo_url().rstrip("/").rsplit("/", 1)[1]
    settings.STRATUS_FUNCTION_URL_DOMAIN = "lambda-url.localhost"
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, ".lambda-url.localhost"]
    response = client.get("/orders/7?x=1", HTTP_HOST=f"{url_id}.lambda-url.localhost:8000")
    assert response.status_code == 201
    event = json.loads(response.content)
    assert event["rawPath"] == "/orders/7"
    assert event["requestContext"]["domainName"] == f"{url_id}.lambda-url.localhost:8000"
    assert event["requestContext"]["domainPrefix"] == url_id


def test_it_refuses_a_body_over_six_megabytes_with_413(echo_url):
    status, _, body = _call(
        f"{echo_url()}upload",
        method="POST",
        body=b"x" * (6 * 1024 * 1024 + 1),
        headers={"Content-Type": "application/octet-stream"},
    )
    assert status == 413 and b"6291456" in body
