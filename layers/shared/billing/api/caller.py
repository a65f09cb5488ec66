"""Who is calling: the authorizer's context, and the checks every handler makes with it.

API Gateway caches one authorizer answer for every route, so the authorizer allows the whole
API and each handler checks project and scope here. The project check is one rule: every
``project_id`` a request names, wherever and however often, must be the key's project.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.data_classes.common import BaseProxyEvent

from billing.api.body import request_body
from billing.domain.ids import PROJECT_ID_PATTERN, normalize_project_id
from billing.errors import ForbiddenError, UnauthorizedError, ValidationError

PROJECT_MISMATCH = "Project ID does not match"
_PATH_PROJECT_ID = re.compile(PROJECT_ID_PATTERN, re.ASCII)


@dataclass(frozen=True)
class Caller:
    project_id: str
    app_id: str
    scopes: frozenset[str]

    def require_project(self, requested: object, field: str = "project_id") -> str:
        """The canonical requested project id; ForbiddenError when it is not the caller's."""
        project_id = normalize_project_id(requested, field)
        if project_id != self.project_id:
            raise ForbiddenError(PROJECT_MISMATCH)
        return project_id

    def require_scope(self, scope: str) -> None:
        if scope not in self.scopes:
            raise ForbiddenError(f"this API key lacks the '{scope}' scope")


def caller_from_authorizer(context: dict[str, Any] | None) -> Caller:
    """Build the caller from ``requestContext.authorizer``; UnauthorizedError when absent."""
    if not context or not context.get("project_id") or not context.get("app_id"):
        raise UnauthorizedError("no authorizer context")
    scopes = str(context.get("scopes", ""))
    return Caller(
        project_id=str(context["project_id"]),
        app_id=str(context["app_id"]),
        scopes=frozenset(s for s in scopes.split(",") if s),
    )


def caller_of(event: BaseProxyEvent) -> Caller:
    """The caller of a REST proxy event."""
    request_context = event.raw_event.get("requestContext") or {}
    return caller_from_authorizer(request_context.get("authorizer"))


def names_project(name: str) -> bool:
    """Whether a parameter or key ``name`` is ``project_id`` in some spelling: any letter
    case, with or without ``_``, ``-`` or spaces (``projectId``, ``Project-ID``...). Checking
    every spelling costs nothing, and a handler that one day reads another is still covered."""
    return name.replace("_", "").replace("-", "").replace(" ", "").casefold() == "projectid"


def requested_project_ids(event: BaseProxyEvent, body: object) -> Iterator[tuple[str, object]]:
    """(where, value) of every ``project_id`` the request names: in its path, every value of
    every query parameter spelled so (repeated ones included), and every top-level key spelled
    so of its JSON ``body`` (the parsed body: :func:`billing.api.body.request_body`)."""
    raw = event.raw_event
    sources: list[Mapping[str, object]] = [
        raw.get("pathParameters") or {},
        raw.get("queryStringParameters") or {},
        raw.get("multiValueQueryStringParameters") or {},
    ]
    if isinstance(body, dict):
        sources.append(body)
    for source in sources:
        for name, value in source.items():
            if names_project(name):
                values = value if isinstance(value, list) and source is not body else [value]
                for one in values:
                    yield name, one


def authorize_request(event: BaseProxyEvent, scope: str) -> Caller:
    """The caller, checked for ``scope``, for its body (JSON only: 415/422) and for every
    project the request names (403 when one is not the caller's; 422 when one is no id)."""
    caller = caller_of(event)
    caller.require_scope(scope)
    body = request_body(event.raw_event)
    for name, value in (event.raw_event.get("pathParameters") or {}).items():
        # A path segment is no place for the padding a query or body value may carry (" 1 "):
        # the resolver's route would not even match a tab or a no-break space.
        if names_project(name) and not _PATH_PROJECT_ID.fullmatch(str(value)):
            raise ValidationError(name, "must be a positive integer (digits only in a path)")
    for name, requested in requested_project_ids(event, body):
        caller.require_project(requested, name)
    return caller
