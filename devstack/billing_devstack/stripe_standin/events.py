"""Every event the stand-in emits: kept for the Events API, and handed to the webhook sender.

An event is stored like any other object (``GET /v1/events/{id}``, ``GET /v1/events``), with a
deep copy of its object as it was at that moment. Its payload goes to the sender exactly as
Stripe would send it (pretty-printed JSON), so the signature covers the bytes the receiver gets.
While webhooks are paused (a misconfigured endpoint), events are still recorded but their
deliveries are ``dropped``: never attempted, and not sent later either. While they are held (a
test choosing the order), deliveries wait, ``held``, until a test sends chosen ones
(:meth:`EventLog.take_for_delivery`) or lets them all go in emission order.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from typing import Any

from billing_devstack.stripe_standin import objects
from billing_devstack.stripe_standin.store import Obj, Store
from billing_devstack.stripe_standin.webhooks import WebhookSender

NO_REQUEST: Mapping[str, str | None] = {"id": None, "idempotency_key": None}


def changed(before: Obj, after: Obj) -> dict[str, Any]:
    """``previous_attributes``: the old value of each top-level field that changed (null for
    a field the object did not have, as Stripe shows a refund's new ``failure_reason``)."""
    previous = {
        key: copy.deepcopy(value) for key, value in before.items() if after.get(key) != value
    }
    previous.update((key, None) for key in after.keys() - before.keys())
    return previous


class EventLog:
    """Emits events in order; ``request`` names the API request that caused them, if any;
    ``paused`` drops deliveries instead of sending them; ``held`` keeps them back."""

    def __init__(
        self, store: Store, clock: Callable[[], int], sender: WebhookSender | None = None
    ) -> None:
        self._store = store
        self._clock = clock
        self.sender = sender
        self.request: Mapping[str, str | None] = NO_REQUEST
        self.paused = False
        self.held = False
        self._uncommitted: list[tuple[str, bytes]] | None = None
        self._waiting: dict[str, bytes] = {}  # held deliveries, in emission order

    def begin(self) -> None:
        """Keep deliveries back until :meth:`finish` (the request may still fail)."""
        self._uncommitted = []

    def finish(self, *, send: bool) -> None:
        """Hand the request's deliveries over (it succeeded), or forget them (it failed)."""
        uncommitted, self._uncommitted = self._uncommitted or [], None
        if send:
            for event_id, payload in uncommitted:
                self._hand_over(event_id, payload)

    def hold(self, held: bool) -> None:
        """Hold deliveries from now on, or stop holding and hand over the ones waiting, in
        emission order."""
        self.held = held
        if not held:
            waiting, self._waiting = self._waiting, {}
            for event_id, payload in waiting.items():
                self._hand_over(event_id, payload)

    def take_for_delivery(self, event_ids: list[str]) -> list[tuple[Obj, bytes]]:
        """Each event and its payload (as emitted), for sending now; a held one stops waiting.
        Every id must name an event (``ids``: resource_missing), else nothing is taken."""
        events = [self._store.get("event", event_id, param="ids") for event_id in event_ids]
        for event_id in event_ids:
            self._waiting.pop(event_id, None)
        return [(copy.deepcopy(event), _payload(event)) for event in events]

    def emit(self, event_type: str, obj: Obj, previous: Mapping[str, Any] | None = None) -> Obj:
        """Record the event and queue its delivery; returns the stored event."""
        event = objects.event(
            self._clock(),
            event_type,
            data_object=obj,
            previous=previous,
            request=self.request,
            pending_webhooks=1 if self.sender is not None else 0,
        )
        self._store.put(event)
        if self.sender is not None:
            if self._uncommitted is not None:
                self._uncommitted.append((event["id"], _payload(event)))
            else:
                self._hand_over(event["id"], _payload(event))
        return event

    def _hand_over(self, event_id: str, payload: bytes) -> None:
        """Queue the delivery, record it as dropped while webhooks are paused, or keep it
        waiting while they are held."""
        if self.sender is None:
            return
        if self.paused:
            self.sender.drop(event_id)
        elif self.held:
            self._waiting[event_id] = payload
            self.sender.hold(event_id)
        else:
            self.sender.submit(event_id, payload)

    def current(self, event: Obj) -> Obj:
        """An event as the API shows it now: ``pending_webhooks`` drops once delivered (or
        dropped: nothing will try again)."""
        shown = copy.deepcopy(event)
        delivery = self.sender.delivery(event["id"]) if self.sender is not None else None
        settled = delivery is None or delivery.status in ("delivered", "dropped")
        shown["pending_webhooks"] = 0 if settled else 1
        return shown

    def delivery_report(self, event: Obj) -> dict[str, Any]:
        """One line of ``GET /_standin/events``: the event's id, type and delivery."""
        delivery = self.sender.delivery(event["id"]) if self.sender is not None else None
        return {
            "id": event["id"],
            "type": event["type"],
            "created": event["created"],
            "object_id": event["data"]["object"].get("id"),
            "delivery": delivery.as_json() if delivery is not None else {"status": "not_sent"},
        }


def _payload(event: Obj) -> bytes:
    """The bytes Stripe POSTs: the event, pretty-printed."""
    return json.dumps(event, indent=2).encode("utf-8")
