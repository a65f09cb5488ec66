"""Conditional GETs: an ETag on read answers, 304 when the client already has that answer.

If-None-Match is compared as RFC 9110 §13.1.2 says: weakly (``W/"x"`` matches ``"x"``: a
client or a proxy may have weakened the tag), and ``*`` matches any current representation,
which a read answer always has. A header that is not a list of entity tags matches nothing:
the client gets the full answer, never an error.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.utilities.data_classes.common import BaseProxyEvent

from billing.api.body import all_headers, header_values

CACHE_CONTROL = "private, no-cache"


def if_none_match_matches(values: list[str], etag: str) -> bool:
    """Whether any If-None-Match field value in ``values`` names ``etag`` (a strong tag,
    quoted) by the weak comparison, or is ``*``."""
    for value in values:
        for tag in (part.strip() for part in value.split(",")):
            if tag == "*" or tag.removeprefix("W/") == etag:
                return True
    return False


def with_etag(event: BaseProxyEvent, body: dict[str, Any]) -> Response[str]:
    """200 with an ETag of the body, or 304 with no body when If-None-Match matches it."""
    text = json.dumps(body, separators=(",", ":"), sort_keys=True)
    etag = '"' + hashlib.sha256(text.encode()).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    if if_none_match_matches(header_values(all_headers(event.raw_event), "If-None-Match"), etag):
        return Response(status_code=304, headers=headers, body="")
    return Response(
        status_code=200,
        content_type=content_types.APPLICATION_JSON,
        body=text,
        headers=headers,
    )
