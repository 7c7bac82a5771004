"""Function URL events, responses and CORS headers (payload format 2.0), as plain data."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

from functions_app.triggers.url_events import (
    UrlRequest,
    UrlResponse,
    cors_headers,
    url_event_build,
    url_response_from_result,
)

ACCOUNT = "123456789012"
DOMAIN = "abc123xyz.lambda-url.us-east-1.on.aws"


def _request(**changes) -> UrlRequest:
    request = UrlRequest(
        method="GET",
        raw_path="/my/path",
        raw_query_string="",
        headers=[("Host", DOMAIN), ("User-Agent", "curl/8.5.0")],
        body=b"",
        source_ip="203.0.113.7",
        url_id="abc123xyz",
        domain_name=DOMAIN,
        request_id="c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
        received_at=datetime(2020, 3, 12, 19, 3, 58, 390000, tzinfo=UTC),
    )
    return replace(request, **changes)


def _header(response: UrlResponse, name: str) -> list[str]:
    return [value for key, value in response.headers if key.lower() == name.lower()]


# --- the event ---------------------------------------------------------------------------


def test_it_builds_the_fixed_top_level_and_request_context():
    event = url_event_build(_request(), account_id=ACCOUNT)

    assert event["version"] == "2.0"
    assert event["routeKey"] == "$default"
    assert event["rawPath"] == "/my/path"
    assert event["rawQueryString"] == ""
    assert event["pathParameters"] is None
    assert event["stageVariables"] is None
    assert event["requestContext"] == {
        "accountId": ACCOUNT,
        "apiId": "abc123xyz",
        "authentication": None,
        "domainName": DOMAIN,
        "domainPrefix": "abc123xyz",
        "http": {
            "method": "GET",
            "path": "/my/path",
            "protocol": "HTTP/1.1",
            "sourceIp": "203.0.113.7",
            "userAgent": "curl/8.5.0",
        },
        "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
        "routeKey": "$default",
        "stage": "$default",
        "time": "12/Mar/2020:19:03:58 +0000",
        "timeEpoch": 1584039838390,
    }
    json.dumps(event)  # the event must be JSON-serializable as it stands


def test_it_decodes_repeated_and_encoded_query_parameters_and_keeps_the_raw_string():
    raw = "parameter1=value1&parameter1=value2&q=hello%20world%2C+again&empty=&caf%C3%A9=%E2%9C%93"
    event = url_event_build(_request(raw_query_string=raw), account_id=ACCOUNT)

    assert event["rawQueryString"] == raw
    assert event["queryStringParameters"] == {
        "parameter1": "value1,value2",
        "q": "hello world, again",
        "empty": "",
        "café": "✓",
    }


def test_it_omits_query_parameters_cookies_and_body_when_absent():
    event = url_event_build(_request(), account_id=ACCOUNT)

    assert "queryStringParameters" not in event
    assert "cookies" not in event
    assert "body" not in event
    assert event["isBase64Encoded"] is False


def test_it_moves_cookie_headers_into_cookies():
    headers = [("Host", DOMAIN), ("Cookie", "session=abc; theme=dark"), ("cookie", "lang=en")]
    event = url_event_build(_request(headers=headers), account_id=ACCOUNT)

    assert event["cookies"] == ["session=abc", "theme=dark", "lang=en"]
    assert "cookie" not in event["headers"]


def test_it_lowercases_header_names_and_joins_repeated_values_with_commas():
    headers = [
        ("Host", DOMAIN),
        ("X-Forwarded-For", "198.51.100.1"),
        ("x-forwarded-for", "203.0.113.7"),
        ("Accept", "text/html"),
        ("ACCEPT", "application/json"),
    ]
    event = url_event_build(_request(headers=headers), account_id=ACCOUNT)

    assert event["headers"] == {
        "host": DOMAIN,
        "x-forwarded-for": "198.51.100.1,203.0.113.7",
        "accept": "text/html,application/json",
    }
    assert event["requestContext"]["http"]["userAgent"] == ""


def test_it_sends_a_json_body_as_text():
    body = '{"name": "Zoë"}'.encode()
    headers = [("Host", DOMAIN), ("Content-Type", "application/json; charset=utf-8")]
    event = url_event_build(_request(method="post", headers=headers, body=body), account_id=ACCOUNT)

    assert event["body"] == '{"name": "Zoë"}'
    assert event["isBase64Encoded"] is False
    assert event["requestContext"]["http"]["method"] == "POST"


def test_it_sends_text_for_structured_syntax_suffixes_and_forms():
    for content_type in ("application/vnd.api+json", "image/svg+xml", "application/x-www-form-urlencoded"):
        headers = [("Content-Type", content_type)]
        event = url_event_build(_request(headers=headers, body=b"a=1"), account_id=ACCOUNT)
        assert (event["body"], event["isBase64Encoded"]) == ("a=1", False), content_type


def test_it_base64_encodes_a_binary_body():
    body = bytes(range(256))
    headers = [("Content-Type", "application/octet-stream")]
    event = url_event_build(_request(method="PUT", headers=headers, body=body), account_id=ACCOUNT)

    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == body


def test_it_base64_encodes_text_that_is_not_utf8_or_has_no_content_type():
    latin1 = url_event_build(
        _request(headers=[("Content-Type", "text/plain")], body="café".encode("latin-1")), account_id=ACCOUNT
    )
    untyped = url_event_build(_request(body=b"hello"), account_id=ACCOUNT)

    assert (latin1["body"], latin1["isBase64Encoded"]) == ("Y2Fm6Q==", True)
    assert (untyped["body"], untyped["isBase64Encoded"]) == ("aGVsbG8=", True)


def test_it_formats_time_in_utc_whatever_the_zone_received():
    paris = timezone(timedelta(hours=1))
    received = datetime(2024, 1, 5, 0, 30, 1, 7000, tzinfo=paris)
    context = url_event_build(_request(received_at=received), account_id=ACCOUNT)["requestContext"]

    assert context["time"] == "04/Jan/2024:23:30:01 +0000"
    assert context["timeEpoch"] == 1704411001007


def test_it_adds_the_iam_authorizer_only_when_given():
    caller = {
        "accessKey": "AKIAIOSFODNN7EXAMPLE",
        "accountId": "111122223333",
        "callerId": "AIDACKCEVSQ6C2EXAMPLE",
        "cognitoIdentity": None,
        "principalOrgId": None,
        "userArn": "arn:aws:iam::111122223333:user/example-user",
        "userId": "AIDACKCEVSQ6C2EXAMPLE",
    }
    with_iam = url_event_build(_request(), account_id=ACCOUNT, authorizer_iam=caller)
    without = url_event_build(_request(), account_id=ACCOUNT)

    assert with_iam["requestContext"]["authorizer"] == {"iam": caller}
    assert "authorizer" not in without["requestContext"]


def test_it_takes_the_domain_prefix_without_a_port():
    event = url_event_build(_request(domain_name="localhost:8000"), account_id=ACCOUNT)

    assert event["requestContext"]["domainName"] == "localhost:8000"
    assert event["requestContext"]["domainPrefix"] == "localhost"


# --- the response ------------------------------------------------------------------------


def test_it_sends_a_plain_string_as_json_with_its_quotes():
    response = url_response_from_result(b'"Hello"', function_error=None)

    assert response == UrlResponse(
        status=200, headers=[("content-type", "application/json")], body=b'"Hello"'
    )


def test_it_sends_an_object_without_status_code_as_the_json_body():
    payload = b'{"message": "hi", "headers": {"x-ignored": "1"}}'
    response = url_response_from_result(payload, function_error=None)

    assert response.status == 200
    assert response.headers == [("content-type", "application/json")]
    assert response.body == payload


def test_it_sends_numbers_lists_and_null_as_json():
    for payload in (b"42", b"[1, 2]", b"null"):
        response = url_response_from_result(payload, function_error=None)
        assert (response.status, response.body) == (200, payload)


def test_it_sends_an_empty_payload_as_an_empty_200():
    assert url_response_from_result(b"", function_error=None) == UrlResponse(status=200, headers=[], body=b"")


def test_it_reads_status_headers_and_cookies_from_a_structured_response():
    payload = json.dumps(
        {
            "statusCode": 201,
            "headers": {"Content-Type": "text/plain", "X-Count": 3, "X-Flag": True},
            "multiValueHeaders": {"X-Ignored": ["a", "b"]},
            "cookies": ["a=1; Path=/", "b=2; HttpOnly"],
            "body": "created",
        }
    ).encode()
    response = url_response_from_result(payload, function_error=None)

    assert response.status == 201
    assert response.headers == [
        ("Content-Type", "text/plain"),
        ("X-Count", "3"),
        ("X-Flag", "true"),
        ("Set-Cookie", "a=1; Path=/"),
        ("Set-Cookie", "b=2; HttpOnly"),
    ]
    assert response.body == b"created"


def test_it_defaults_a_structured_response_to_json_content_type():
    response = url_response_from_result(b'{"statusCode": 204}', function_error=None)

    assert response == UrlResponse(status=204, headers=[("content-type", "application/json")], body=b"")


def test_it_decodes_a_base64_body():
    payload = json.dumps(
        {
            "statusCode": 200,
            "headers": {"content-type": "image/png"},
            "body": base64.b64encode(b"\x89PNG\r\n\x1a\n\x00").decode(),
            "isBase64Encoded": True,
        }
    ).encode()
    response = url_response_from_result(payload, function_error=None)

    assert response.status == 200
    assert _header(response, "content-type") == ["image/png"]
    assert response.body == b"\x89PNG\r\n\x1a\n\x00"


def test_it_serves_502_for_a_function_error():
    payload = b'{"errorMessage": "boom", "errorType": "Exception"}'
    response = url_response_from_result(payload, function_error="Unhandled")

    assert response == UrlResponse(
        status=502,
        headers=[("content-type", "application/json")],
        body=b'{"Message":"Internal Server Error"}',
    )


def test_it_serves_502_for_invalid_json():
    for payload in (b"{not json", b"Hello", b"\xff\xfe"):
        response = url_response_from_result(payload, function_error=None)
        assert (response.status, response.body) == (502, b'{"Message":"Internal Server Error"}'), payload


def test_it_serves_502_for_a_bad_status_code():
    for status in ("200", 99, 600, 200.5, True, None):
        payload = json.dumps({"statusCode": status, "body": "x"}).encode()
        assert url_response_from_result(payload, function_error=None).status == 502, status


def test_it_serves_502_for_a_malformed_structured_response():
    bad = [
        {"statusCode": 200, "body": "%%%not base64", "isBase64Encoded": True},
        {"statusCode": 200, "headers": ["content-type", "text/plain"]},
        {"statusCode": 200, "cookies": "a=1"},
        {"statusCode": 200, "body": {"nested": True}},
        {"statusCode": 200, "headers": {"X-Evil": "a\r\nSet-Cookie: stolen=1"}},
    ]
    for result in bad:
        assert url_response_from_result(json.dumps(result).encode(), function_error=None).status == 502, (
            result
        )


# --- CORS --------------------------------------------------------------------------------

CORS = {
    "AllowOrigins": ["https://app.example.com"],
    "AllowMethods": ["GET", "POST"],
    "AllowHeaders": ["content-type", "x-api-key"],
    "ExposeHeaders": ["x-request-id"],
    "MaxAge": 600,
    "AllowCredentials": False,
}


def test_it_answers_an_allowed_preflight():
    headers = cors_headers(
        CORS, origin="https://APP.example.com", method="post", request_headers="content-type", preflight=True
    )

    assert headers == [
        ("Access-Control-Allow-Origin", "https://APP.example.com"),
        ("Vary", "Origin"),
        ("Access-Control-Allow-Methods", "GET,POST"),
        ("Access-Control-Allow-Headers", "content-type,x-api-key"),
        ("Access-Control-Max-Age", "600"),
    ]


def test_it_denies_a_preflight_from_another_origin_or_for_another_method():
    other_origin = cors_headers(
        CORS, origin="https://evil.example", method="GET", request_headers=None, preflight=True
    )
    other_method = cors_headers(
        CORS, origin="https://app.example.com", method="DELETE", request_headers=None, preflight=True
    )

    assert other_origin is None
    assert other_method is None


def test_it_adds_allow_origin_and_expose_headers_to_a_simple_request():
    headers = cors_headers(
        CORS, origin="https://app.example.com", method="GET", request_headers=None, preflight=False
    )

    assert headers == [
        ("Access-Control-Allow-Origin", "https://app.example.com"),
        ("Vary", "Origin"),
        ("Access-Control-Expose-Headers", "x-request-id"),
    ]


def test_it_sends_a_star_for_a_wildcard_origin_without_credentials():
    cors = {"AllowOrigins": ["*"], "AllowMethods": ["*"], "AllowHeaders": ["*"]}
    simple = cors_headers(
        cors, origin="https://any.example", method="GET", request_headers=None, preflight=False
    )
    preflight = cors_headers(
        cors, origin="https://any.example", method="PATCH", request_headers="x-one,x-two", preflight=True
    )

    assert simple == [("Access-Control-Allow-Origin", "*")]
    assert preflight == [
        ("Access-Control-Allow-Origin", "*"),
        ("Access-Control-Allow-Methods", "PATCH"),
        ("Access-Control-Allow-Headers", "x-one,x-two"),
    ]


def test_it_echoes_the_origin_when_credentials_are_allowed():
    cors = {"AllowOrigins": ["*"], "AllowMethods": ["GET"], "AllowCredentials": True, "MaxAge": 0}
    simple = cors_headers(
        cors, origin="https://any.example", method="GET", request_headers=None, preflight=False
    )
    preflight = cors_headers(
        cors, origin="https://any.example", method="GET", request_headers=None, preflight=True
    )

    assert simple == [
        ("Access-Control-Allow-Origin", "https://any.example"),
        ("Vary", "Origin"),
        ("Access-Control-Allow-Credentials", "true"),
    ]
    assert preflight == [
        ("Access-Control-Allow-Origin", "https://any.example"),
        ("Vary", "Origin"),
        ("Access-Control-Allow-Credentials", "true"),
        ("Access-Control-Allow-Methods", "GET"),
        ("Access-Control-Max-Age", "0"),
    ]


def test_it_sends_no_cors_headers_without_config_or_origin():
    assert (
        cors_headers(
            None, origin="https://app.example.com", method="GET", request_headers=None, preflight=False
        )
        is None
    )
    assert (
        cors_headers(
            {}, origin="https://app.example.com", method="GET", request_headers=None, preflight=False
        )
        is None
    )
    assert cors_headers(CORS, origin=None, method="GET", request_headers=None, preflight=False) is None
