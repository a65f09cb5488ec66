"""The one type of every time the API takes (``valid_to``, ``at``, ``since``, ``until``).

pydantic's own ``datetime`` is lax: it takes epoch seconds (``1900000000``, as a number or a
string), floats and dates without a time. The API takes ISO 8601 only, as docs/api.md says:
a date, a time and an explicit UTC offset or ``Z``. A string of that form is then parsed by
pydantic as before (so the OpenAPI document still says ``date-time``); anything else is a 422
naming the field. Whether the time lies in the years the API takes is
:func:`billing.domain.clock.utc_instant`'s to say.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

TIME_RULE = (
    "must be an ISO 8601 time with a date, a time and a UTC offset or Z, "
    "e.g. 2026-01-31T12:00:00Z or 2026-01-31T13:00:00+01:00"
)
# YYYY-MM-DDTHH:MM[:SS[.fraction]] then Z or +-HH:MM; RFC 3339 also allows a lower-case t and z.
_ISO_8601_WITH_OFFSET = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,9})?)?"
    r"(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def _iso_8601_with_offset(value: object) -> object:
    """``value`` unchanged when it is such a string; a custom error (no "Value error, "
    prefix in the 422's reason) otherwise."""
    if isinstance(value, str) and _ISO_8601_WITH_OFFSET.fullmatch(value):
        return value
    raise PydanticCustomError("iso_8601_time", TIME_RULE)


IsoTime = Annotated[datetime, BeforeValidator(_iso_8601_with_offset)]
