"""Who may call the Lambda API: SigV4 signatures, access keys, the CLI, health and the admin."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from django.contrib.auth import get_user_model

from functions_app.models import AccessKey
from functions_app.services.access_keys import access_key_revoke
from tests.conftest import ROOT, aws_client, stratus_env

pytestmark = pytest.mark.django_db(transaction=True)

SIGV4_TIMESTAMP = "%Y%m%dT%H%M%SZ"


def _send(request: urllib.request.Request) -> tuple[int, dict[str, str], bytes]:
    """Send ``request``; the answer's status, headers (lower-cased names) and body."""
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, headers, body = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, headers, body = error.code, error.headers, error.read()
    return status, {name.lower(): value for name, value in headers.items()}, body


def _signed_send(
    url: str,
    key: tuple[str, str],
    *,
    method: str = "GET",
    body: bytes = b"",
    signed_at: datetime | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """Sign a request with botocore's SigV4 signer at a chosen moment, then send it."""
    request = AWSRequest(method=method, url=url, data=body, headers={"Content-Type": "application/json"})
    request.context["timestamp"] = (signed_at or datetime.now(UTC)).strftime(SIGV4_TIMESTAMP)
    request.headers["X-Amz-Date"] = request.context["timestamp"]
    signer = SigV4Auth(Credentials(*key), "lambda", "us-east-1")
    signature = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    request.headers["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={signer.scope(request)}, "
        f"SignedHeaders={signer.signed_headers(signer.headers_to_sign(request))}, Signature={signature}"
    )
    prepared = request.prepare()
    return _send(
        urllib.request.Request(url, data=body or None, headers=dict(prepared.headers), method=method)
    )


def _error(status_headers_body: tuple[int, dict[str, str], bytes]) -> tuple[int, str, dict]:
    status, headers, body = status_headers_body
    return status, headers.get("x-amzn-errortype", ""), json.loads(body)


def test_it_refuses_unsigned_requests_with_missing_authentication_token(live_server_url):
    url = f"{live_server_url}/2015-03-31/functions"
    listing = _error(_send(urllib.request.Request(url)))
    creating = _error(
        _send(
            urllib.request.Request(
                url,
                data=json.dumps({"FunctionName": "sneaky"}).encode(),
                headers={"Content-Type": "application/json"},
                method="POST",
            )
        )
    )

    for status, code, body in (listing, creating):
        assert status == 403
        assert code == "MissingAuthenticationTokenException"
        assert body["Type"] == "User"
        assert body["message"] == "Missing Authentication Token"
    assert not get_user_model().objects.filter(username="sneaky").exists()


def test_it_accepts_a_request_signed_by_hand(live_server_url, access_key):
    status, headers, body = _signed_send(f"{live_server_url}/2015-03-31/functions", access_key)

    assert status == 200
    assert json.loads(body)["Functions"] == []
    assert headers["x-amzn-requestid"]


def test_it_refuses_an_unknown_access_key(live_server_url):
    client = aws_client("lambda", live_server_url, ("AKIANOSUCHKEY0000000", "whatever"))

    with pytest.raises(client.exceptions.ClientError) as raised:
        client.list_functions()

    assert raised.value.response["Error"]["Code"] == "UnrecognizedClientException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_it_refuses_a_wrong_secret(live_server_url, access_key):
    client = aws_client("lambda", live_server_url, (access_key[0], access_key[1] + "x"))

    with pytest.raises(client.exceptions.ClientError) as raised:
        client.list_functions()

    assert raised.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert "signature we calculated does not match" in raised.value.response["Error"]["Message"]


def test_it_refuses_a_revoked_key(live_server_url, access_key):
    client = aws_client("lambda", live_server_url, access_key)
    client.list_functions()

    access_key_revoke(key=AccessKey.objects.get(access_key_id=access_key[0]))

    with pytest.raises(client.exceptions.ClientError) as raised:
        client.list_functions()
    assert raised.value.response["Error"]["Code"] == "UnrecognizedClientException"


def test_it_refuses_the_keys_of_a_deactivated_user(live_server_url, access_key):
    get_user_model().objects.filter(username="tester").update(is_active=False)
    client = aws_client("lambda", live_server_url, access_key)

    with pytest.raises(client.exceptions.ClientError) as raised:
        client.list_functions()
    assert raised.value.response["Error"]["Code"] == "UnrecognizedClientException"


def test_it_records_when_a_key_was_last_used(lambda_client, access_key):
    assert AccessKey.objects.get(access_key_id=access_key[0]).last_used_at is None

    lambda_client.list_functions()

    assert AccessKey.objects.get(access_key_id=access_key[0]).last_used_at is not None


def test_it_refuses_a_signature_twenty_minutes_old(live_server_url, access_key):
    signed_at = datetime.now(UTC) - timedelta(minutes=20)

    status, code, body = _error(
        _signed_send(f"{live_server_url}/2015-03-31/functions", access_key, signed_at=signed_at)
    )

    assert (status, code) == (403, "InvalidSignatureException")
    assert body["message"].startswith("Signature expired")


def test_it_refuses_a_signature_from_twenty_minutes_ahead(live_server_url, access_key):
    signed_at = datetime.now(UTC) + timedelta(minutes=20)

    status, code, body = _error(
        _signed_send(f"{live_server_url}/2015-03-31/functions", access_key, signed_at=signed_at)
    )

    assert (status, code) == (403, "InvalidSignatureException")
    assert body["message"].startswith("Signature not yet current")


def test_it_accepts_a_signature_a_few_minutes_old(live_server_url, access_key):
    signed_at = datetime.now(UTC) - timedelta(minutes=5)

    status, _, _ = _signed_send(f"{live_server_url}/2015-03-31/functions", access_key, signed_at=signed_at)

    assert status == 200


def test_it_refuses_a_body_changed_after_signing(lambda_client, create_function):
    create_function("guarded")

    def tamper(request, **kwargs):
        request.body = request.body.replace(b"5", b"9")

    lambda_client.meta.events.register("before-send.lambda.PutFunctionConcurrency", tamper)

    with pytest.raises(lambda_client.exceptions.ClientError) as raised:
        lambda_client.put_function_concurrency(FunctionName="guarded", ReservedConcurrentExecutions=5)
    assert raised.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert "Concurrency" not in lambda_client.get_function(FunctionName="guarded")


def test_it_refuses_a_body_that_does_not_match_its_declared_hash(live_server_url, access_key):
    url = f"{live_server_url}/2015-03-31/functions"
    request = AWSRequest(method="GET", url=url, headers={"X-Amz-Content-SHA256": "0" * 64})
    SigV4Auth(Credentials(*access_key), "lambda", "us-east-1").add_auth(request)

    status, code, body = _error(_send(urllib.request.Request(url, headers=dict(request.prepare().headers))))

    assert (status, code) == (403, "InvalidSignatureException")
    assert "X-Amz-Content-SHA256" in body["message"]


def test_it_refuses_a_request_signed_for_another_service(live_server_url, access_key):
    url = f"{live_server_url}/2015-03-31/functions"
    request = AWSRequest(method="GET", url=url)
    SigV4Auth(Credentials(*access_key), "sqs", "us-east-1").add_auth(request)

    status, code, body = _error(_send(urllib.request.Request(url, headers=dict(request.prepare().headers))))

    assert (status, code) == (403, "InvalidSignatureException")
    assert "scoped to correct service: 'lambda'" in body["message"]


def test_it_refuses_a_malformed_authorization_header(live_server_url):
    request = urllib.request.Request(
        f"{live_server_url}/2015-03-31/functions", headers={"Authorization": "Bearer abc"}
    )

    status, code, _ = _error(_send(request))

    assert (status, code) == (403, "IncompleteSignatureException")


def test_it_signs_over_the_raw_path_so_a_percent_encoded_arn_works(lambda_client, create_function):
    created = create_function("by-arn")
    lambda_client.publish_version(FunctionName="by-arn")

    # botocore sends the ARN percent-encoded (arn%3Aaws%3Alambda%3A...); the signature covers that form.
    fetched = lambda_client.get_function(FunctionName=created["FunctionArn"])
    assert fetched["Configuration"]["FunctionName"] == "by-arn"
    version = lambda_client.get_function_configuration(FunctionName=f"{created['FunctionArn']}:1")
    assert version["Version"] == "1"
    partial = lambda_client.get_function(FunctionName="000000000000:function:by-arn")
    assert partial["Configuration"]["FunctionArn"] == created["FunctionArn"]


def test_it_issues_a_working_key_from_the_createaccesskey_command(live_server_url):
    result = subprocess.run(
        [sys.executable, "manage.py", "createaccesskey", "bob"],
        cwd=ROOT,
        env=stratus_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    issued = json.loads(lines[0])
    assert set(issued) == {"AccessKeyId", "SecretAccessKey"}
    key = AccessKey.objects.select_related("user").get(access_key_id=issued["AccessKeyId"])
    assert key.user.username == "bob"
    assert issued["SecretAccessKey"] not in key.secret_ciphertext

    client = aws_client("lambda", live_server_url, (issued["AccessKeyId"], issued["SecretAccessKey"]))
    assert client.list_functions()["Functions"] == []


def test_it_stores_secrets_only_encrypted(access_key):
    key_id, secret = access_key

    stored = AccessKey.objects.get(access_key_id=key_id)

    assert secret not in stored.secret_ciphertext
    assert secret.encode() not in stored.secret_ciphertext.encode()


def test_it_works_with_the_aws_cli(aws_cli, create_function):
    create_function("from-cli")

    listed = json.loads(aws_cli("lambda", "list-functions").stdout)
    assert [function["FunctionName"] for function in listed["Functions"]] == ["from-cli"]

    settings = json.loads(aws_cli("lambda", "get-account-settings").stdout)
    assert settings["AccountLimit"]["ConcurrentExecutions"] == 1000
    assert settings["AccountUsage"]["FunctionCount"] == 1


def test_it_reports_cli_errors_with_the_aws_error_code(aws_cli):
    result = aws_cli("lambda", "get-function", "--function-name", "ghost", check=False)

    assert result.returncode != 0
    assert "ResourceNotFoundException" in result.stderr


def test_it_answers_healthz_without_signing(live_server_url):
    status, headers, body = _send(urllib.request.Request(f"{live_server_url}/healthz"))

    assert headers["content-type"].startswith("application/json")
    report = json.loads(body)
    # No metrics consumer runs here: degraded (200) with a worker alive, else error (503).
    assert status == (503 if report["status"] == "error" else 200), report
    assert report["status"] in ("degraded", "error"), report
    assert any("no metrics consumer" in problem for problem in report["problems"]), report
    assert report["database"]["status"] == "ok"
    assert report["redis"]["status"] == "ok"


def test_it_lets_a_staff_user_into_the_admin(client):
    get_user_model().objects.create_user("admin", password="correct horse battery", is_staff=True)

    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": "admin", "password": "correct horse battery", "next": "/admin/"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/admin/"

    index = client.get("/admin/")
    assert index.status_code == 200
    assert b"Site administration" in index.content


def test_it_keeps_non_staff_users_out_of_the_admin(client):
    get_user_model().objects.create_user("visitor", password="correct horse battery")

    client.post("/admin/login/", {"username": "visitor", "password": "correct horse battery"})

    response = client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_it_issues_a_working_key_from_the_admin_and_shows_the_secret_once(client, live_server_url):
    admin = get_user_model().objects.create_superuser("root", password="correct horse battery")
    client.force_login(admin)

    response = client.post(
        "/admin/functions_app/accesskey/add/", {"user": admin.pk, "description": "ci"}, follow=True
    )

    assert response.status_code == 200
    shown = re.search(
        rb"Access key (AKIA[A-Z2-7]{16}) created\. Its secret, shown only this once: (\S+)<", response.content
    )
    assert shown, response.content
    key_id, secret = shown.group(1).decode(), shown.group(2).decode()
    assert AccessKey.objects.get(access_key_id=key_id).description == "ci"
    assert aws_client("lambda", live_server_url, (key_id, secret)).list_functions()["Functions"] == []
