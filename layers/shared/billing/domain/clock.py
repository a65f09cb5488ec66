"""UTC time helpers: the API speaks ISO 8601 in UTC, Stripe speaks epoch seconds."""

from __future__ import annotations

from datetime import UTC, datetime


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
