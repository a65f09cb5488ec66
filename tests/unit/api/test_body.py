"""Request bodies: JSON only (415 otherwise), parsed strictly (422 naming the field)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.api.body import (
    MAX_DEPTH,
    MAX_INTEGER_DIGITS,
    check_content_type,
    parse_json,
    request_body,
)
from billing.errors import UnsupportedMediaTypeError, ValidationError


def refused(text: str) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        parse_json(text)
    assert not isinstance(caught.value, UnsupportedMediaTypeError)
    return caught.value


# JSON the API may be sent: any shape within the limits, any key, any string.
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**MAX_INTEGER_DIGITS) + 1, max_value=10**MAX_INTEGER_DIGITS - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=30,
)


@given(value=json_values)
def test_json_within_the_limits_parses_as_json_does(value: Any) -> None:
    text = json.dumps(value)
    assert parse_json(text) == json.loads(text)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('{"project_id": 1, "project_id": 2}', "project_id"),
        ('{"a": {"x": 1, "y": 2, "x": 3}}', "a.x"),
        ('[{"k": 1}, {"k": 1, "k": 1}]', "body.1.k"),
    ],
)
def test_a_key_given_twice_is_refused_naming_it(text: str, field: str) -> None:
    problem = refused(text)
    assert (problem.field, problem.reason) == (field, "given more than once")


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 500, 5_000, 100_000])
@pytest.mark.parametrize(("inner", "ends"), [("[", "]"), ('{"a":', "}")], ids=["list", "object"])
def test_nesting_deeper_than_the_limit_is_refused(depth: int, inner: str, ends: str) -> None:
    text = inner * depth + "1" + ends * depth
    assert "nested deeper" in refused(text).reason
    assert refused(inner * depth).field == "body"  # never closed: not JSON, or too deep


def test_nesting_up_to_the_limit_is_taken() -> None:
    assert parse_json("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('{"quantity": ' + "9" * (MAX_INTEGER_DIGITS + 1) + "}", "quantity"),
        ('{"quantity": -' + "9" * 4301 + "}", "quantity"),
        ('{"a": [1, ' + "1" * 100_000 + "]}", "a.1"),
        ('{"trial_days": 1e400}', "trial_days"),
        ('{"trial_days": -1e400}', "trial_days"),
        ('{"x": NaN}', "x"),
        ('{"x": Infinity}', "x"),
        ('{"x": -Infinity}', "x"),
        ("1" * 5000, "body"),
    ],
)
def test_numbers_of_any_length_or_no_number_at_all_are_refused_naming_the_field(
    text: str, field: str
) -> None:
    assert refused(text).field == field


@pytest.mark.parametrize("text", ["", "{", "<xml/>", "{'a': 1}", '{"a": 1} x', "\ufeff{}"])
def test_what_is_not_json_is_refused_naming_the_body(text: str) -> None:
    problem = refused(text)
    assert problem.field == "body" and problem.reason.startswith("must be JSON")


ACCEPTED = [
    "application/json",
    "application/json; charset=utf-8",
    "Application/JSON;charset=UTF-8",
    'application/json; charset="utf-8"',
    "application/json ; charset=utf8",
]
REFUSED = [
    "text/plain",
    "application/xml",
    "image/png",
    "*/*",
    "application/*",
    "application/json-patch+json",
    "application/jsonx",
    "multipart/form-data; boundary=x",
    "application/x-www-form-urlencoded",
    "application/json; charset=latin-1",
    "application/json; charset=utf-16",
    "",
]


@pytest.mark.parametrize("content_type", ACCEPTED)
def test_json_in_utf8_is_accepted_in_any_spelling(content_type: str) -> None:
    check_content_type({"content-type": content_type}, has_body=True)


@pytest.mark.parametrize("content_type", REFUSED)
def test_any_other_content_type_is_415_naming_the_header(content_type: str) -> None:
    for has_body in (True, False):
        with pytest.raises(UnsupportedMediaTypeError) as caught:
            check_content_type({"Content-Type": content_type}, has_body=has_body)
        assert caught.value.field == "Content-Type"


@given(content_type=st.text())
def test_any_content_type_is_accepted_only_when_it_is_json_in_utf8(content_type: str) -> None:
    media_type, *parameters = (part.strip() for part in content_type.split(";"))
    charsets = [
        value.strip().strip('"').lower()
        for name, _, value in (p.partition("=") for p in parameters)
        if name.strip().lower() == "charset"
    ]
    json_in_utf8 = media_type.lower() == "application/json" and all(
        charset in ("utf-8", "utf8") for charset in charsets
    )
    try:
        check_content_type({"Content-Type": content_type}, has_body=True)
    except UnsupportedMediaTypeError:
        assert not json_in_utf8
    else:
        assert json_in_utf8


def test_a_body_without_a_content_type_is_415_and_no_body_needs_none() -> None:
    with pytest.raises(UnsupportedMediaTypeError):
        check_content_type({}, has_body=True)
    check_content_type({}, has_body=False)


def test_two_different_content_types_are_415() -> None:
    with pytest.raises(UnsupportedMediaTypeError, match="more than once"):
        check_content_type({"Content-Type": ["application/json", "text/plain"]}, has_body=True)


JSON = {"Content-Type": "application/json"}
UNENCODED: list[str | list[str]] = [
    "identity",
    "IDENTITY",
    " Identity ",
    "identity, identity",
    "",
    ["identity"],
    ["identity", "Identity"],
]
ENCODED: list[str | list[str]] = [
    "gzip",
    "GZIP",
    "x-gzip",
    "deflate",
    "br",
    "zstd",
    "compress",
    "gzip, identity",
    "identity, gzip",
    "identity,gzip",
    "identity;q=1",
    "identity-ish",
    "chunked",
    ["identity", "gzip"],
    ["gzip"],
]


@pytest.mark.parametrize("encoding", UNENCODED, ids=repr)
def test_a_body_as_sent_passes(encoding: str | list[str]) -> None:
    check_content_type(JSON, has_body=True)
    check_content_type({**JSON, "content-encoding": encoding}, has_body=True)


@pytest.mark.parametrize("encoding", ENCODED, ids=repr)
def test_a_body_with_a_content_encoding_is_415_naming_the_header(
    encoding: str | list[str],
) -> None:
    for name in ("Content-Encoding", "content-encoding", "CONTENT-ENCODING"):
        with pytest.raises(UnsupportedMediaTypeError) as caught:
            check_content_type({**JSON, name: encoding}, has_body=True)
        assert caught.value.field == "Content-Encoding"


def test_a_content_encoding_without_a_body_encodes_nothing() -> None:
    check_content_type({"Content-Encoding": "gzip"}, has_body=False)


def test_an_encoded_body_is_refused_before_it_is_read() -> None:
    event: dict[str, Any] = {
        "headers": {"Content-Type": "application/json"},
        "multiValueHeaders": {"Content-Encoding": ["identity", "gzip"]},
        "body": '{"a": 1}',
    }
    with pytest.raises(UnsupportedMediaTypeError, match="Content-Encoding"):
        request_body(event)


def test_the_event_keeps_its_body_and_gets_the_plain_json_content_type() -> None:
    event: dict[str, Any] = {
        "headers": {"content-type": "Application/JSON; charset=UTF-8"},
        "multiValueHeaders": {"content-type": ["Application/JSON; charset=UTF-8"]},
        "body": '{"a": 1}',
        "isBase64Encoded": False,
    }
    assert request_body(event) == {"a": 1}
    assert event["headers"] == {"Content-Type": "application/json"}
    assert event["multiValueHeaders"] == {"Content-Type": ["application/json"]}


def test_a_body_that_is_not_utf8_is_refused_naming_the_body() -> None:
    event = {
        "headers": {"Content-Type": "application/json"},
        "body": "z/8A",  # base64 of ff ff 00
        "isBase64Encoded": True,
    }
    with pytest.raises(ValidationError) as caught:
        request_body(event)
    assert caught.value.field == "body"
