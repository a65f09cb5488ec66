"""The stand-in's clock: a ``Date`` header on every answer, and ``/_standin/clock`` moving time
on (never back) for everything the stand-in dates."""

from __future__ import annotations

from email.utils import parsedate_to_datetime
from typing import Any

import pytest

from tests.unit.devstack.stripe_standin.conftest import START, Harness

DAY = 86_400


def clock_control(harness: Harness, body: str = "") -> tuple[int, Any]:
    method = "POST" if body else "GET"
    status, _, answer = harness.call(method, "/_standin/clock", body, key=None)
    return status, answer


@pytest.mark.parametrize(
    ("method", "path", "key"),
    [
        ("GET", "/v1/customers", "sk_test_unit"),
        ("GET", "/v1/customers/cus_missing", "sk_test_unit"),  # an error
        ("GET", "/v1/customers", None),  # a 401
        ("GET", "/_standin/health", None),
        ("GET", "/checkout/cs_test_missing", None),  # a page
    ],
)
def test_every_answer_carries_a_date_from_the_stand_ins_clock(
    harness: Harness, method: str, path: str, key: str | None
) -> None:
    harness.clock.now = START + 0.75
    _, headers, _ = harness.call(method, path, key=key)
    assert headers["Date"] == "Thu, 01 Jan 2026 00:00:00 GMT"
    harness.standin.clock.advance(DAY + 61)
    _, headers, _ = harness.call(method, path, key=key)
    assert parsedate_to_datetime(headers["Date"]).timestamp() == START + DAY + 61


def test_the_clock_control_reads_and_advances(harness: Harness) -> None:
    assert clock_control(harness) == (200, {"now": START})
    assert clock_control(harness, '{"advance": 3600}') == (200, {"now": START + 3600})
    harness.clock.now += 10  # the clock it was given still runs underneath
    assert clock_control(harness) == (200, {"now": START + 3610})
    assert clock_control(harness, f'{{"now": {START + DAY}}}') == (200, {"now": START + DAY})


def test_objects_and_events_are_dated_by_the_moved_clock(harness: Harness) -> None:
    clock_control(harness, f'{{"advance": {30 * DAY}}}')
    customer = harness.call("POST", "/v1/customers", "email=a@x.io")[2]
    assert customer["created"] == START + 30 * DAY
    [event] = harness.standin.emitted()
    assert event["created"] == START + 30 * DAY
    found = harness.call("GET", f"/v1/customers?created[gte]={START + 30 * DAY}")[2]
    assert [item["id"] for item in found["data"]] == [customer["id"]]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (f'{{"now": {START - 1}}}', "now"),  # backwards
        ('{"advance": 0}', "advance"),
        ('{"advance": -5}', "advance"),
        ('{"advance": 1, "now": 1}', "now"),
        ('{"advance": "1"}', "advance"),
        ('{"now": true}', "now"),
        ('{"later": 1}', "later"),
    ],
)
def test_the_clock_never_goes_back_and_refuses_bad_bodies(
    harness: Harness, body: str, param: str
) -> None:
    status, answer = clock_control(harness, body)
    assert status == 400
    assert (answer["error"]["type"], answer["error"]["param"]) == ("invalid_request_error", param)
    assert clock_control(harness) == (200, {"now": START})


def test_the_rate_limit_windows_follow_the_moved_clock(harness: Harness) -> None:
    harness.standin.rate_limit(1)
    assert harness.call("GET", "/v1/customers")[0] == 200
    assert harness.call("GET", "/v1/customers")[0] == 429
    clock_control(harness, '{"advance": 1}')
    assert harness.call("GET", "/v1/customers")[0] == 200
