"""Times the API takes: ISO 8601 with a date, a time and an explicit offset or Z only; never
pydantic's lax readings (epoch seconds, floats, dates alone)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from billing.api.times import TIME_RULE, IsoTime


class Window(BaseModel):
    since: IsoTime
    until: IsoTime | None = None


ACCEPTED = {
    "2026-01-31T12:00:00Z": datetime(2026, 1, 31, 12, tzinfo=UTC),
    "2026-01-31T12:00:00z": datetime(2026, 1, 31, 12, tzinfo=UTC),
    "2026-01-31t12:00:00Z": datetime(2026, 1, 31, 12, tzinfo=UTC),
    "2026-01-31T12:00Z": datetime(2026, 1, 31, 12, tzinfo=UTC),
    "2026-01-31T12:00:00+00:00": datetime(2026, 1, 31, 12, tzinfo=UTC),
    "2026-01-31T12:00:00-00:00": datetime(2026, 1, 31, 12, tzinfo=UTC),
    "2026-01-31T13:30:00+01:30": datetime(2026, 1, 31, 12, tzinfo=UTC),
    "2026-01-31T00:00:00-14:00": datetime(2026, 1, 31, 14, tzinfo=UTC),
    "2026-01-31T12:00:00.5Z": datetime(2026, 1, 31, 12, 0, 0, 500_000, tzinfo=UTC),
    "2026-01-31T12:00:00.123Z": datetime(2026, 1, 31, 12, 0, 0, 123_000, tzinfo=UTC),  # JS
    "2026-01-31T12:00:00.123456+00:00": datetime(2026, 1, 31, 12, 0, 0, 123_456, tzinfo=UTC),
    "2026-01-31T12:00:00.123456789Z": datetime(2026, 1, 31, 12, 0, 0, 123_456, tzinfo=UTC),
}

REFUSED: dict[str, Any] = {
    "int": 1900000000,
    "negative int": -1,
    "zero": 0,
    "numeric string": "1900000000",
    "padded numeric string": " 1900000000 ",
    "float": 1900000000.5,
    "float string": "1900000000.5",
    "exponent string": "1.9e9",
    "true": True,
    "false": False,
    "list": ["2026-01-31T12:00:00Z"],
    "object": {"time": "2026-01-31T12:00:00Z"},
    "empty": "",
    "date only": "2026-01-31",
    "date and Z": "2026-01-31Z",
    "time only": "12:00:00Z",
    "no offset": "2026-01-31T12:00:00",
    "no offset, fraction": "2026-01-31T12:00:00.123",
    "space for T": "2026-01-31 12:00:00Z",
    "basic offset": "2026-01-31T12:00:00+0100",
    "hour offset": "2026-01-31T12:00:00+01",
    "offset with seconds": "2026-01-31T12:00:00+01:00:00",
    "basic format": "20260131T120000Z",
    "week date": "2026-W05-6T12:00:00Z",
    "ordinal date": "2026-031T12:00:00Z",
    "hour only": "2026-01-31T12Z",
    "offset name": "2026-01-31T12:00:00 UTC",
    "padded": " 2026-01-31T12:00:00Z",
    "trailing newline": "2026-01-31T12:00:00Z\n",
    "fraction of 10 digits": "2026-01-31T12:00:00.1234567890Z",
    "empty fraction": "2026-01-31T12:00:00.Z",
    "comma fraction": "2026-01-31T12:00:00,5Z",
    "Arabic-Indic digits": "\u0662\u0660\u0662\u0666-01-31T12:00:00Z",
    "fullwidth digits": "\uff12\uff10\uff12\uff16-01-31T12:00:00Z",
    "signed year": "+2026-01-31T12:00:00Z",
    "five-digit year": "12026-01-31T12:00:00Z",
    "RFC 2822": "Sat, 31 Jan 2026 12:00:00 +0000",
    "words": "next tuesday",
    "month 13": "2026-13-01T12:00:00Z",
    "February 30": "2026-02-30T12:00:00Z",
    "hour 24": "2026-01-31T24:00:00Z",
    "second 60": "2026-01-31T12:00:60Z",
    "offset 24:00": "2026-01-31T12:00:00+24:00",
}


@pytest.mark.parametrize(("text", "moment"), ACCEPTED.items(), ids=ACCEPTED.keys())
def test_iso_8601_with_an_offset_is_taken(text: str, moment: datetime) -> None:
    window = Window.model_validate({"since": text, "until": text})
    assert window.since == window.until == moment
    assert window.since.utcoffset() is not None


@pytest.mark.parametrize("value", REFUSED.values(), ids=REFUSED.keys())
@pytest.mark.parametrize("name", ["since", "until"])
def test_anything_else_is_refused_naming_the_field(name: str, value: Any) -> None:
    given = {"since": "2026-01-31T12:00:00Z", name: value}
    with pytest.raises(ValidationError) as caught:
        Window.model_validate(given)
    assert [error["loc"] for error in caught.value.errors()] == [(name,)]


@pytest.mark.parametrize("value", [1900000000, "1900000000", 1.9e9, "2026-01-31"])
def test_the_reason_says_what_is_taken(value: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        Window.model_validate({"since": value})
    assert [error["msg"] for error in caught.value.errors()] == [TIME_RULE]


def test_null_is_no_time_where_one_is_optional_only() -> None:
    assert Window.model_validate({"since": "2026-01-31T12:00:00Z", "until": None}).until is None
    with pytest.raises(ValidationError):
        Window.model_validate({"since": None})


def test_json_input_is_held_to_the_same_rule() -> None:
    with pytest.raises(ValidationError):
        Window.model_validate_json('{"since": 1900000000}')
    window = Window.model_validate_json('{"since": "2026-01-31T12:00:00+01:00"}')
    assert window.since.utcoffset() == timedelta(hours=1)
    assert window.since == datetime(2026, 1, 31, 12, tzinfo=timezone(timedelta(hours=1)))


def test_the_schema_is_still_a_date_time_string() -> None:
    schema = Window.model_json_schema()["properties"]
    assert schema["since"] == {"format": "date-time", "title": "Since", "type": "string"}
    assert {"format": "date-time", "type": "string"} in schema["until"]["anyOf"]
