"""Event source mapping filters accept and reject records the way EventBridge patterns do in AWS Lambda."""

from __future__ import annotations

import json

import pytest

from functions_app.triggers.filter_patterns import (
    FilterPatternError,
    filter_criteria_validate,
    pattern_matches,
    patterns_match,
    sqs_filter_view,
    stream_filter_view,
)


def _criteria(*patterns) -> dict:
    return {"Filters": [{"Pattern": json.dumps(pattern)} for pattern in patterns]}


def _matches(pattern: dict, event: dict) -> bool:
    # Every pattern goes through validation first, as it would when a mapping is created.
    (validated,) = filter_criteria_validate(_criteria(pattern))
    return pattern_matches(validated, event)


def _rejected(pattern) -> str:
    with pytest.raises(FilterPatternError) as raised:
        filter_criteria_validate(_criteria(pattern))
    return str(raised.value)


def test_it_returns_parsed_patterns_and_nothing_for_empty_criteria():
    assert filter_criteria_validate(None) == []
    assert filter_criteria_validate({}) == []
    assert filter_criteria_validate({"Filters": []}) == []
    assert filter_criteria_validate(_criteria({"a": [1]}, {"b": ["x"]})) == [{"a": [1]}, {"b": ["x"]}]


def test_it_matches_literal_strings_and_numbers_by_value():
    assert _matches({"state": ["on", "off"]}, {"state": "off"}) is True
    assert _matches({"state": ["on", "off"]}, {"state": "idle"}) is False
    assert _matches({"count": [5]}, {"count": 5.0}) is True
    assert _matches({"count": [5]}, {"count": 6}) is False
    assert _matches({"count": [5]}, {"count": "5"}) is False


def test_it_keeps_booleans_apart_from_numbers():
    assert _matches({"ok": [True]}, {"ok": True}) is True
    assert _matches({"ok": [True]}, {"ok": False}) is False
    assert _matches({"ok": [1]}, {"ok": True}) is False
    assert _matches({"ok": [True]}, {"ok": 1}) is False


def test_it_matches_null_only_on_a_present_null_field():
    assert _matches({"owner": [None]}, {"owner": None}) is True
    assert _matches({"owner": [None]}, {}) is False
    assert _matches({"owner": [None]}, {"owner": ""}) is False


def test_it_requires_every_key_of_the_pattern():
    pattern = {"kind": ["order"], "region": ["eu"]}
    assert _matches(pattern, {"kind": "order", "region": "eu", "extra": 1}) is True
    assert _matches(pattern, {"kind": "order", "region": "us"}) is False
    assert _matches(pattern, {"kind": "order"}) is False


def test_it_recurses_into_nested_objects():
    pattern = {"detail": {"order": {"status": ["paid"]}}}
    assert _matches(pattern, {"detail": {"order": {"status": "paid"}}}) is True
    assert _matches(pattern, {"detail": {"order": {"status": "new"}}}) is False
    assert _matches(pattern, {"detail": {"order": "paid"}}) is False
    assert _matches(pattern, {"detail": "paid"}) is False
    assert _matches(pattern, {}) is False


def test_it_matches_an_event_array_when_any_element_matches():
    assert _matches({"tags": ["red", "blue"]}, {"tags": ["green", "blue"]}) is True
    assert _matches({"tags": ["red", "blue"]}, {"tags": ["green", "yellow"]}) is False
    assert _matches({"tags": ["red"]}, {"tags": []}) is False
    items = {"items": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 9}]}
    assert _matches({"items": {"qty": [{"numeric": [">", 5]}]}}, items) is True
    assert _matches({"items": {"qty": [{"numeric": [">", 10]}]}}, items) is False


def test_it_matches_prefix_and_suffix_on_strings_only():
    assert _matches({"key": [{"prefix": "img/"}]}, {"key": "img/cat.png"}) is True
    assert _matches({"key": [{"prefix": "img/"}]}, {"key": "doc/img/cat.png"}) is False
    assert _matches({"key": [{"suffix": ".png"}]}, {"key": "img/cat.png"}) is True
    assert _matches({"key": [{"suffix": ".png"}]}, {"key": "img/cat.PNG"}) is False
    assert _matches({"n": [{"prefix": "1"}]}, {"n": 12}) is False
    assert _matches({"key": [{"suffix": {"equals-ignore-case": ".png"}}]}, {"key": "CAT.PNG"}) is True


def test_it_matches_equals_ignore_case():
    assert _matches({"name": [{"equals-ignore-case": "AbC"}]}, {"name": "aBc"}) is True
    assert _matches({"name": [{"equals-ignore-case": "AbC"}]}, {"name": "aBcd"}) is False
    assert _matches({"name": [{"equals-ignore-case": "AbC"}]}, {}) is False


def test_it_matches_wildcards_with_escaped_stars_taken_literally():
    assert _matches({"path": [{"wildcard": "logs/*/error*"}]}, {"path": "logs/2024/error.txt"}) is True
    assert _matches({"path": [{"wildcard": "logs/*/error*"}]}, {"path": "logs/2024/info.txt"}) is False
    assert _matches({"path": [{"wildcard": "a*b"}]}, {"path": "ab"}) is True
    assert _matches({"path": [{"wildcard": "a*b"}]}, {"path": "abc"}) is False
    assert _matches({"path": [{"wildcard": "a.c"}]}, {"path": "abc"}) is False
    assert _matches({"path": [{"wildcard": "a\\*b"}]}, {"path": "a*b"}) is True
    assert _matches({"path": [{"wildcard": "a\\*b"}]}, {"path": "axb"}) is False


def test_it_matches_numeric_comparisons_and_ranges():
    assert _matches({"t": [{"numeric": [">", 0, "<=", 5]}]}, {"t": 5}) is True
    assert _matches({"t": [{"numeric": [">", 0, "<=", 5]}]}, {"t": 0.5}) is True
    assert _matches({"t": [{"numeric": [">", 0, "<=", 5]}]}, {"t": 0}) is False
    assert _matches({"t": [{"numeric": [">", 0, "<=", 5]}]}, {"t": 5.01}) is False
    assert _matches({"t": [{"numeric": ["=", 3]}]}, {"t": 3.0}) is True
    assert _matches({"t": [{"numeric": [">=", 3]}]}, {"t": "4"}) is False
    assert _matches({"t": [{"numeric": [">=", 0]}]}, {"t": True}) is False


def test_it_matches_exists_true_on_present_leaves_and_false_on_missing_fields():
    assert _matches({"id": [{"exists": True}]}, {"id": "x"}) is True
    assert _matches({"id": [{"exists": True}]}, {"id": None}) is True
    assert _matches({"id": [{"exists": True}]}, {}) is False
    assert _matches({"id": [{"exists": True}]}, {"id": {"inner": 1}}) is False
    assert _matches({"id": [{"exists": False}]}, {}) is True
    assert _matches({"id": [{"exists": False}]}, {"id": "x"}) is False
    assert _matches({"a": {"b": [{"exists": False}]}}, {"a": {"c": 1}}) is True
    assert _matches({"a": {"b": [{"exists": False}]}}, {"a": {"b": 1}}) is False
    assert _matches({"a": {"b": [{"exists": False}]}}, {}) is True


def test_it_matches_anything_but_a_value_or_values_but_never_a_missing_field():
    assert _matches({"s": [{"anything-but": "done"}]}, {"s": "open"}) is True
    assert _matches({"s": [{"anything-but": "done"}]}, {"s": "done"}) is False
    assert _matches({"s": [{"anything-but": "done"}]}, {}) is False
    assert _matches({"s": [{"anything-but": ["done", "lost"]}]}, {"s": "lost"}) is False
    assert _matches({"s": [{"anything-but": ["done", "lost"]}]}, {"s": "open"}) is True
    assert _matches({"n": [{"anything-but": 0}]}, {"n": 0.0}) is False
    assert _matches({"n": [{"anything-but": 0}]}, {"n": 1}) is True


def test_it_matches_anything_but_a_prefix_suffix_or_case_insensitive_value():
    assert _matches({"k": [{"anything-but": {"prefix": "tmp/"}}]}, {"k": "tmp/x"}) is False
    assert _matches({"k": [{"anything-but": {"prefix": "tmp/"}}]}, {"k": "src/x"}) is True
    assert _matches({"k": [{"anything-but": {"suffix": ".bak"}}]}, {"k": "a.bak"}) is False
    assert _matches({"k": [{"anything-but": {"suffix": ".bak"}}]}, {"k": "a.txt"}) is True
    ignore_case = {"k": [{"anything-but": {"equals-ignore-case": ["Stopped", "Lost"]}}]}
    assert _matches(ignore_case, {"k": "STOPPED"}) is False
    assert _matches(ignore_case, {"k": "running"}) is True


def test_it_matches_ip_addresses_inside_a_cidr_block():
    assert _matches({"ip": [{"cidr": "10.0.0.0/24"}]}, {"ip": "10.0.0.77"}) is True
    assert _matches({"ip": [{"cidr": "10.0.0.0/24"}]}, {"ip": "10.0.1.77"}) is False
    assert _matches({"ip": [{"cidr": "10.0.0.0/24"}]}, {"ip": "not-an-ip"}) is False
    assert _matches({"ip": [{"cidr": "10.0.0.0/24"}]}, {"ip": "::1"}) is False
    assert _matches({"ip": [{"cidr": "2001:db8::/32"}]}, {"ip": "2001:db8::5"}) is True
    # Host bits set in the block are ignored rather than refused.
    assert _matches({"ip": [{"cidr": "10.0.0.9/24"}]}, {"ip": "10.0.0.200"}) is True


def test_it_matches_or_branches_together_with_the_other_keys():
    pattern = {"kind": ["order"], "$or": [{"total": [{"numeric": [">", 100]}]}, {"vip": [True]}]}
    assert _matches(pattern, {"kind": "order", "total": 500}) is True
    assert _matches(pattern, {"kind": "order", "total": 5, "vip": True}) is True
    assert _matches(pattern, {"kind": "order", "total": 5, "vip": False}) is False
    assert _matches(pattern, {"kind": "refund", "total": 500}) is False
    nested = {"detail": {"$or": [{"a": [1]}, {"b": [2]}]}}
    assert _matches(nested, {"detail": {"b": 2}}) is True
    assert _matches(nested, {"detail": {"c": 3}}) is False


def test_it_passes_an_event_when_any_pattern_matches_or_there_are_none():
    patterns = filter_criteria_validate(_criteria({"a": [1]}, {"b": [2]}))
    assert patterns_match(patterns, {"b": 2}) is True
    assert patterns_match(patterns, {"a": 2, "b": 1}) is False
    assert patterns_match([], {"anything": "goes"}) is True


def test_it_rejects_criteria_that_are_not_a_filters_list():
    with pytest.raises(FilterPatternError, match="Invalid filter pattern definition"):
        filter_criteria_validate("not a dict")
    with pytest.raises(FilterPatternError, match="Filters must be a list"):
        filter_criteria_validate({"Filters": {"Pattern": "{}"}})
    with pytest.raises(FilterPatternError, match="Pattern is required"):
        filter_criteria_validate({"Filters": [{}]})
    with pytest.raises(FilterPatternError, match="Pattern is required"):
        filter_criteria_validate({"Filters": [{"Pattern": {"a": [1]}}]})


def test_it_rejects_more_than_five_filters():
    assert len(filter_criteria_validate(_criteria(*[{"n": [i]} for i in range(5)]))) == 5
    with pytest.raises(FilterPatternError, match="at most 5 filters"):
        filter_criteria_validate(_criteria(*[{"n": [i]} for i in range(6)]))


def test_it_rejects_a_pattern_longer_than_4096_characters():
    assert filter_criteria_validate({"Filters": [{"Pattern": json.dumps({"k": ["x" * 4080]})}]})
    with pytest.raises(FilterPatternError, match="longer than 4096"):
        filter_criteria_validate({"Filters": [{"Pattern": json.dumps({"k": ["x" * 4100]})}]})


def test_it_rejects_invalid_json_and_non_object_patterns():
    with pytest.raises(FilterPatternError, match="not valid JSON"):
        filter_criteria_validate({"Filters": [{"Pattern": '{"a": [1'}]})
    with pytest.raises(FilterPatternError, match="not valid JSON"):
        filter_criteria_validate({"Filters": [{"Pattern": '{"a": [NaN]}'}]})
    with pytest.raises(FilterPatternError, match="must be a JSON object"):
        filter_criteria_validate({"Filters": [{"Pattern": '["a"]'}]})


def test_it_rejects_empty_lists_bare_values_and_empty_objects():
    assert "non-empty list" in _rejected({"a": []})
    assert "non-empty list" in _rejected({"a": "x"})
    assert "non-empty object" in _rejected({})
    assert "non-empty object" in _rejected({"a": {}})
    assert "neither a value nor a matcher" in _rejected({"a": [["nested"]]})


def test_it_rejects_unknown_or_malformed_matchers():
    assert "unknown matcher 'startswith'" in _rejected({"a": [{"startswith": "x"}]})
    assert "exactly one key" in _rejected({"a": [{"prefix": "x", "suffix": "y"}]})
    assert "takes a string" in _rejected({"a": [{"prefix": 5}]})
    assert "true or false" in _rejected({"a": [{"exists": "yes"}]})
    assert "not a valid CIDR" in _rejected({"a": [{"cidr": "10.0.0.0/33"}]})
    assert "consecutive" in _rejected({"a": [{"wildcard": "a**b"}]})
    assert "only escape" in _rejected({"a": [{"wildcard": "a\\b"}]})
    assert "takes one of prefix" in _rejected({"a": [{"anything-but": {"numeric": [">", 1]}}]})
    assert "non-empty list" in _rejected({"a": [{"anything-but": [["x"]]}]})


def test_it_rejects_malformed_numeric_ranges():
    assert "operators must be" in _rejected({"a": [{"numeric": ["!=", 1]}]})
    assert "bounds must be numbers" in _rejected({"a": [{"numeric": [">", "1"]}]})
    assert "one or two" in _rejected({"a": [{"numeric": [">", 1, "<"]}]})
    assert "lower bound (> or >=)" in _rejected({"a": [{"numeric": ["<", 5, ">", 1]}]})
    assert "less than its upper bound" in _rejected({"a": [{"numeric": [">", 5, "<", 1]}]})


def test_it_rejects_an_or_with_fewer_than_two_patterns():
    assert "at least 2 patterns" in _rejected({"$or": [{"a": [1]}]})
    assert "at least 2 patterns" in _rejected({"$or": {"a": [1]}})
    assert "non-empty object" in _rejected({"$or": [{"a": [1]}, "b"]})


def test_it_filters_sqs_json_bodies_by_their_fields():
    record = {"messageId": "m1", "body": json.dumps({"type": "order", "total": 12})}
    view = sqs_filter_view(record)
    assert view["body"] == {"type": "order", "total": 12}
    assert view["messageId"] == "m1"
    assert record["body"] == json.dumps({"type": "order", "total": 12})
    assert _matches({"body": {"type": ["order"]}}, view) is True
    assert _matches({"body": {"type": ["refund"]}}, view) is False


def test_it_filters_plain_sqs_bodies_as_strings():
    view = sqs_filter_view({"messageId": "m2", "body": "hello world"})
    assert view["body"] == "hello world"
    assert _matches({"body": [{"prefix": "hello"}]}, view) is True
    assert _matches({"body": {"type": ["order"]}}, view) is False
    array_view = sqs_filter_view({"body": "[1, 2]"})
    assert array_view["body"] == "[1, 2]"


def test_it_decodes_stream_data_for_filters():
    record = {"partitionKey": "p1", "data": "eyJ0ZW1wIjogMzB9"}
    json_view = stream_filter_view(record, b'{"temp": 30}')
    assert json_view == {"partitionKey": "p1", "data": {"temp": 30}}
    assert _matches({"data": {"temp": [{"numeric": [">", 25]}]}}, json_view) is True
    text_view = stream_filter_view(record, b"plain text")
    assert text_view["data"] == "plain text"
    assert _matches({"data": {"temp": [{"numeric": [">", 25]}]}}, text_view) is False
    binary_view = stream_filter_view(record, b"\xff\xfe\x00")
    assert "data" not in binary_view
    assert _matches({"partitionKey": ["p1"]}, binary_view) is True
