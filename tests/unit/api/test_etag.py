"""Conditional GETs (RFC 9110 §13.1.2): If-None-Match by the weak comparison, ``*``, and
headers that are no list of entity tags (a full answer, never an error)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from billing.api.etag import if_none_match_matches, with_etag

BODY = {"entitlements": [{"feature_code": "pro", "active": True}]}


def event(headers: dict[str, str] | None = None, multi: dict[str, list[str]] | None = None) -> Any:
    return APIGatewayProxyEvent({"headers": headers or {}, "multiValueHeaders": multi or {}})


def current_etag() -> str:
    etag = with_etag(event(), BODY).headers["ETag"]
    assert isinstance(etag, str)
    return etag


def not_modified(header: str, name: str = "If-None-Match") -> bool:
    answer = with_etag(event({name: header}), BODY)
    assert answer.status_code in (200, 304)
    return answer.status_code == 304


MATCHING = {
    "strong": "{etag}",
    "weak": "W/{etag}",
    "any": "*",
    "any, padded": "  *  ",
    "in a list": '"other", {etag}',
    "weak in a list": 'W/"other", W/{etag}',
    "list without spaces": '"other",{etag},"more"',
    "list with extra spaces and empty items": ' ,  "other" ,, {etag} , ',
    "after junk": "junk, {etag}",
}
NOT_MATCHING = {
    "another tag": '"0123"',
    "another weak tag": 'W/"0123"',
    "unquoted": "{bare}",
    "weak unquoted": "W/{bare}",
    "lower-case weak prefix": "w/{etag}",
    "weak twice": "W/W/{etag}",
    "half quoted": '"{bare}',
    "empty": "",
    "spaces": "   ",
    "commas": ",,,",
    "junk": "not an etag at all",
    "control characters": "\x00\x1b[2J",
    "unicode": "\u202e\u00e9\U0001f600",
    "very long": '"x",' * 10_000,
}


@pytest.mark.parametrize("template", MATCHING.values(), ids=MATCHING.keys())
def test_a_matching_if_none_match_answers_304_with_the_etag(template: str) -> None:
    etag = current_etag()
    answer = with_etag(event({"If-None-Match": template.format(etag=etag)}), BODY)
    assert answer.status_code == 304
    assert answer.body == ""
    assert answer.headers["ETag"] == etag
    assert answer.headers["Cache-Control"] == "private, no-cache"


@pytest.mark.parametrize("template", NOT_MATCHING.values(), ids=NOT_MATCHING.keys())
def test_anything_else_answers_200_with_the_body(template: str) -> None:
    etag = current_etag()
    header = template.format(etag=etag, bare=etag.strip('"'))
    answer = with_etag(event({"If-None-Match": header}), BODY)
    assert answer.status_code == 200
    assert isinstance(answer.body, str)
    assert json.loads(answer.body) == BODY
    assert answer.headers["ETag"] == etag


def test_the_header_name_is_matched_in_any_case() -> None:
    assert not_modified(current_etag(), name="if-none-match")
    assert not_modified("*", name="IF-NONE-MATCH")


def test_each_of_several_if_none_match_headers_counts() -> None:
    """REST events carry every line of a repeated header in multiValueHeaders; ``headers``
    keeps only the last."""
    etag = current_etag()
    multi = {"If-None-Match": [f"W/{etag}", '"other"']}
    answer = with_etag(event({"If-None-Match": '"other"'}, multi), BODY)
    assert answer.status_code == 304


def test_no_if_none_match_answers_200() -> None:
    assert with_etag(event(), BODY).status_code == 200
    assert not if_none_match_matches([], '"a"')


def test_another_body_has_another_etag() -> None:
    other = with_etag(event({"If-None-Match": current_etag()}), {"entitlements": []})
    assert other.status_code == 200
    assert other.headers["ETag"] != current_etag()
