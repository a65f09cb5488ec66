"""Billing meters (``/v1/billing/meters``), their events and their event summaries.

A meter aggregates the events named by its ``event_name``, per customer (the payload key of
``customer_mapping``, default ``stripe_customer_id``) and by the ``value`` key of
``value_settings`` (default ``value``): ``sum``, ``count`` or ``last``. An event's
``identifier`` makes it count once: the same identifier again within 24 hours counts nothing
and answers the first event (Stripe enforces uniqueness for at least 24 hours). Summaries
aggregate [start_time, end_time) (both on a minute, as Stripe requires), as one summary or
one per ``value_grouping_window`` (``hour``, ``day``: aligned to it), newest first.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from billing_devstack.stripe_standin import objects
from billing_devstack.stripe_standin.errors import invalid, missing
from billing_devstack.stripe_standin.schema import (
    EXPAND,
    INTEGER,
    LIST_PAGING,
    METADATA,
    STRING,
    Spec,
    check,
    choice,
)
from billing_devstack.stripe_standin.store import Obj, Store, new_id

MAX_EVENT_NAME = 100
MAX_IDENTIFIER = 100
IDENTIFIER_WINDOW = 86_400  # an identifier counts once within this many seconds
PAST_WINDOW = 35 * 86_400  # an event's timestamp: at most 35 days back...
FUTURE_WINDOW = 300  # ... and 5 minutes ahead
_WINDOWS = {"hour": 3600, "day": 86_400}

_METER: Mapping[str, Spec] = {
    **EXPAND,
    "display_name": STRING,
    "event_name": STRING,
    "default_aggregation": {"formula": choice("count", "last", "sum")},
    "customer_mapping": {"event_payload_key": STRING, "type": choice("by_id")},
    "value_settings": {"event_payload_key": STRING},
    "event_time_window": choice("day", "hour"),
}
_EVENT: Mapping[str, Spec] = {
    **EXPAND,
    "event_name": STRING,
    "identifier": STRING,
    "payload": METADATA,  # string keys and values: checked below against the meter's keys
    "timestamp": INTEGER,
}
_SUMMARIES: Mapping[str, Spec] = {
    **LIST_PAGING,
    "customer": STRING,
    "start_time": INTEGER,
    "end_time": INTEGER,
    "value_grouping_window": choice("day", "hour"),
}


@dataclass(frozen=True)
class _Event:
    meter_id: str
    customer: str
    value: Decimal
    timestamp: int
    shown: Obj  # the billing.meter_event answered


class Meters:
    """Creates meters, takes their events and sums them up."""

    def __init__(self, store: Store, clock: Callable[[], int]) -> None:
        self._store = store
        self._clock = clock
        self._events: list[_Event] = []
        self._by_identifier: dict[str, tuple[int, Obj]] = {}

    # ------------------------------------------------------------------ /v1/billing/meters
    def create(self, raw: Mapping[str, Any]) -> Obj:
        """``POST /v1/billing/meters``: ``display_name``, ``event_name`` and
        ``default_aggregation[formula]`` required; one active meter per event name."""
        params = check(raw, _METER)
        for required in ("display_name", "event_name"):
            if not params.get(required):
                raise missing(required)
        if "formula" not in params.get("default_aggregation", {}):
            raise missing("default_aggregation[formula]")
        name = params["event_name"]
        if len(name) > MAX_EVENT_NAME:
            raise invalid(f"event_name must be at most {MAX_EVENT_NAME} characters.", "event_name")
        if self._active(name) is not None:
            raise invalid(f"An active meter with event_name `{name}` already exists.", "event_name")
        meter = objects.template("billing.meter")
        now = self._clock()
        meter.update(
            id=new_id("mtr_test"),
            created=now,
            updated=now,
            display_name=params["display_name"],
            event_name=name,
            default_aggregation={"formula": params["default_aggregation"]["formula"]},
            event_time_window=params.get("event_time_window"),
        )
        mapping = params.get("customer_mapping", {})
        meter["customer_mapping"] = {
            "event_payload_key": mapping.get("event_payload_key", "stripe_customer_id"),
            "type": "by_id",
        }
        meter["value_settings"] = {
            "event_payload_key": params.get("value_settings", {}).get("event_payload_key", "value")
        }
        return self._store.put(meter)

    def _active(self, event_name: str) -> Obj | None:
        return next(
            (
                meter
                for meter in self._store.of_kind("billing.meter")
                if meter["event_name"] == event_name and meter["status"] == "active"
            ),
            None,
        )

    # ------------------------------------------------------------------ /v1/billing/meter_events
    def create_event(self, raw: Mapping[str, Any]) -> Obj:
        """``POST /v1/billing/meter_events``; the same ``identifier`` again answers the first
        event and counts nothing."""
        params = check(raw, _EVENT)
        name = params.get("event_name")
        if not name:
            raise missing("event_name")
        now = self._clock()
        identifier = params.get("identifier") or new_id("mev")
        if len(identifier) > MAX_IDENTIFIER:
            raise invalid(f"identifier must be at most {MAX_IDENTIFIER} characters.", "identifier")
        seen = self._by_identifier.get(identifier)
        if seen is not None and now - seen[0] < IDENTIFIER_WINDOW:
            return copy.deepcopy(seen[1])
        meter = self._active(name)
        if meter is None:
            raise invalid(f"No active meter was found for event_name `{name}`.", "event_name")
        payload = params.get("payload") or {}
        customer = self._customer(meter, payload)
        value = self._value(meter, payload)
        timestamp = params.get("timestamp", now)
        if not now - PAST_WINDOW <= timestamp <= now + FUTURE_WINDOW:
            raise invalid(
                "timestamp must be within the past 35 calendar days and at most 5 minutes in "
                "the future.",
                "timestamp",
            )
        shown = objects.template("billing.meter_event")
        shown.update(
            created=now,
            event_name=name,
            identifier=identifier,
            payload={key: str(item) for key, item in payload.items()},
            timestamp=timestamp,
        )
        self._events.append(_Event(meter["id"], customer, value, timestamp, shown))
        self._by_identifier[identifier] = (now, shown)
        return copy.deepcopy(shown)

    def _customer(self, meter: Obj, payload: Mapping[str, Any]) -> str:
        key = meter["customer_mapping"]["event_payload_key"]
        customer = payload.get(key)
        if not customer:
            raise missing(f"payload[{key}]")
        self._store.get("customer", str(customer), param=f"payload[{key}]")
        return str(customer)

    @staticmethod
    def _value(meter: Obj, payload: Mapping[str, Any]) -> Decimal:
        key = meter["value_settings"]["event_payload_key"]
        formula = meter["default_aggregation"]["formula"]
        if key not in payload:
            if formula == "count":
                return Decimal(1)
            raise missing(f"payload[{key}]")
        try:
            value = Decimal(str(payload[key]))
        except InvalidOperation:
            raise invalid(f"payload[{key}] must be a number.", f"payload[{key}]") from None
        if not value.is_finite():
            raise invalid(f"payload[{key}] must be a number.", f"payload[{key}]")
        return value

    # ------------------------------------------------------------------ event summaries
    def summaries(self, meter_id: str, raw: Mapping[str, Any]) -> Obj:
        """``GET /v1/billing/meters/<id>/event_summaries``."""
        params = check(raw, _SUMMARIES)
        meter = self._store.get("billing.meter", meter_id)
        for required in ("customer", "start_time", "end_time"):
            if required not in params:
                raise missing(required)
        start, end = params["start_time"], params["end_time"]
        window = _WINDOWS.get(params.get("value_grouping_window", ""), 60)
        for name, moment in (("start_time", start), ("end_time", end)):
            if moment % window:
                unit = params.get("value_grouping_window", "minute")
                raise invalid(f"{name} must be aligned with {unit} boundaries.", name)
        if end <= start:
            raise invalid("end_time must be after start_time.", "end_time")
        step = end - start if "value_grouping_window" not in params else window
        data = [
            self._summary(meter, params["customer"], low, min(low + step, end))
            for low in range(start, end, step)
        ]
        return {
            "object": "list",
            "data": data[::-1],
            "has_more": False,
            "url": f"/v1/billing/meters/{meter_id}/event_summaries",
        }

    def _summary(self, meter: Obj, customer: str, start: int, end: int) -> Obj:
        events = [
            event
            for event in self._events
            if event.meter_id == meter["id"]
            and event.customer == customer
            and start <= event.timestamp < end
        ]
        formula = meter["default_aggregation"]["formula"]
        if formula == "count":
            total = Decimal(len(events))
        elif formula == "last":
            total = max(events, key=lambda e: e.timestamp).value if events else Decimal(0)
        else:
            total = sum((event.value for event in events), Decimal(0))
        summary = objects.template("billing.meter_event_summary")
        summary.update(
            id=new_id("mtrusg_test"),
            aggregated_value=int(total) if total == total.to_integral_value() else float(total),
            start_time=start,
            end_time=end,
            meter=meter["id"],
        )
        return summary
