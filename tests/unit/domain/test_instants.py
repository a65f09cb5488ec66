"""Times the API takes, at the calendar's and the offsets' edges: a 422 naming the field,
never an OverflowError (a 500)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.domain import metrics
from billing.domain.clock import EARLIEST_INSTANT, LATEST_INSTANT, utc_instant
from billing.domain.grants import GrantRequest, validate_request
from billing.errors import ValidationError

NOW = datetime(2026, 11, 1, tzinfo=UTC)
# Every offset datetime takes (strictly within a day), and the ISO edges people type.
offsets = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
edge_times = st.builds(
    lambda moment, tz: moment.replace(tzinfo=tz),
    st.one_of(
        st.datetimes(max_value=datetime(1, 1, 3)),
        st.datetimes(min_value=datetime(9998, 12, 29)),
        st.datetimes(),
    ),
    offsets,
)
EDGES = [
    "9999-12-31T23:59:59-14:00",
    "9999-12-31T23:59:59+14:00",
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00-14:00",
    "9999-12-31T23:59:59.999999-23:59",
    "0001-01-01T00:00:00+23:59",
    "1969-12-31T23:59:59Z",
    "9999-01-01T00:00:00Z",
]


def in_range(moment: datetime) -> bool:
    try:
        utc = moment.astimezone(UTC)
    except OverflowError:
        return False
    return EARLIEST_INSTANT <= utc < LATEST_INSTANT


@pytest.mark.parametrize("text", EDGES)
def test_times_outside_the_range_are_refused_naming_the_field(text: str) -> None:
    with pytest.raises(ValidationError) as refused:
        utc_instant(datetime.fromisoformat(text), "until")
    assert refused.value.field == "until"


@given(moment=edge_times)
def test_any_time_with_any_offset_is_taken_or_refused_never_an_overflow(moment: datetime) -> None:
    if in_range(moment):
        assert utc_instant(moment, "since") == moment
    else:
        with pytest.raises(ValidationError):
            utc_instant(moment, "since")


def test_a_time_without_a_timezone_is_refused() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        utc_instant(datetime(2026, 1, 1), "valid_to")


@given(since=st.none() | edge_times, until=st.none() | edge_times)
def test_a_metrics_window_of_any_edges_is_a_window_or_a_422(
    since: datetime | None, until: datetime | None
) -> None:
    try:
        span = metrics.window(since, until, NOW)
    except ValidationError as refused:
        assert refused.field in ("since", "until")
    else:
        assert span.since < span.until and span.until - span.since <= metrics.MAX_WINDOW
        assert span.since >= EARLIEST_INSTANT  # a default since never reaches before 1970


def test_the_default_window_starts_no_earlier_than_1970() -> None:
    """until=1970-01-02 answered a window from 1969-12-03, outside the years the API takes."""
    until = datetime(1970, 1, 2, tzinfo=UTC)
    assert metrics.window(None, until, NOW).since == EARLIEST_INSTANT


@given(valid_to=edge_times)
def test_a_grant_ending_at_any_edge_is_taken_or_a_422_naming_valid_to(valid_to: datetime) -> None:
    request = GrantRequest("1", "u", "pro", "ops", "beta", valid_to)
    try:
        checked = validate_request(request, NOW, "grant")
    except ValidationError as refused:
        assert refused.field == "valid_to"
    else:
        assert checked.valid_to == valid_to and checked.valid_to.tzinfo is UTC
