"""UTC time helpers: the API speaks ISO 8601 in UTC, Stripe speaks epoch seconds."""

from __future__ import annotations

from datetime import UTC, datetime

from billing.errors import ValidationError

# The instants the API takes (valid_to, since, until): far enough from datetime's own ends
# (years 1 and 9999) that a time with any UTC offset, and a window or grace period around it,
# is still a datetime.
EARLIEST_INSTANT = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_INSTANT = datetime(9999, 1, 1, tzinfo=UTC)
INSTANT_RULE = "must be between 1970-01-01T00:00:00Z and 9999-01-01T00:00:00Z"


def utc_now() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def to_iso(moment: datetime) -> str:
    """ISO 8601 in UTC with a ``Z`` suffix and whole seconds, as the API returns times."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def from_epoch(seconds: int) -> datetime:
    """A Stripe timestamp (epoch seconds) as an aware UTC datetime."""
    return datetime.fromtimestamp(seconds, UTC)


def parse_iso(text: str) -> datetime:
    """An ISO 8601 time written by :func:`to_iso` back as an aware UTC datetime."""
    return datetime.fromisoformat(text).astimezone(UTC)


def utc_instant(value: datetime, field: str) -> datetime:
    """A time the API received, in UTC; ValidationError naming ``field`` when it has no
    timezone or lies outside [EARLIEST_INSTANT, LATEST_INSTANT) (``9999-12-31T23:59:59-14:00``
    is not a datetime in UTC at all)."""
    if value.utcoffset() is None:
        raise ValidationError(field, "must carry a timezone (ISO 8601, e.g. ...Z)")
    try:
        moment = value.astimezone(UTC)
    except OverflowError:
        raise ValidationError(field, INSTANT_RULE) from None
    if not EARLIEST_INSTANT <= moment < LATEST_INSTANT:
        raise ValidationError(field, INSTANT_RULE)
    return moment
