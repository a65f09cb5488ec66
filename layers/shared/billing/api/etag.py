"""Conditional GETs: an ETag on read answers, 304 when the client already has that answer."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.utilities.data_classes.common import BaseProxyEvent


def with_etag(event: BaseProxyEvent, body: dict[str, Any]) -> Response[str]:
    """200 with an ETag of the body, or 304 with no body when If-None-Match has it."""
    text = json.dumps(body, separators=(",", ":"), sort_keys=True)
    etag = '"' + hashlib.sha256(text.encode()).hexdigest()[:32] + '"'
    asked = event.headers.get("If-None-Match") or ""
    if etag in (tag.strip() for tag in asked.split(",")):
        return Response(status_code=304, headers={"ETag": etag}, body="")
    return Response(
        status_code=200,
        content_type=content_types.APPLICATION_JSON,
        body=text,
        headers={"ETag": etag, "Cache-Control": "private, no-cache"},
    )
