import json

import pytest

from billing.domain.stripe_events import parse_event
from billing.errors import ValidationError

EVENT = {
    "id": "evt_1",
    "object": "event",
    "type": "customer.subscription.updated",
    "created": 1795625660,
    "livemode": False,
    "data": {"object": {"id": "sub_1", "object": "subscription"}},
}


def test_a_stripe_event_is_parsed() -> None:
    event = parse_event(json.dumps(EVENT))
    assert (event.event_id, event.event_type, event.created) == (
        "evt_1",
        "customer.subscription.updated",
        1795625660,
    )
    assert event.data_object["id"] == "sub_1"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"id": "sub_1"}, "id"),
        ({"id": None}, "id"),
        ({"type": ""}, "type"),
        ({"created": "yesterday"}, "created"),
        ({"created": True}, "created"),
        ({"data": {"object": []}}, "data.object"),
        ({"object": "subscription"}, "body"),
    ],
)
def test_anything_else_is_refused_naming_the_field(change: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as error:
        parse_event(json.dumps({**EVENT, **change}))
    assert error.value.field == field


@pytest.mark.parametrize("raw", ["not json", "[]", "null", b"\xff\xfe"])
def test_bodies_that_are_not_objects_are_refused(raw: str | bytes) -> None:
    with pytest.raises(ValidationError):
        parse_event(raw)
