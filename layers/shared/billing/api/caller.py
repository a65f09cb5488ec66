"""Who is calling: the authorizer's context, and the checks every handler makes with it.

API Gateway caches one authorizer answer for every route, so the authorizer allows the whole
API and each handler checks project and scope here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.data_classes.common import BaseProxyEvent

from billing.domain.ids import normalize_project_id
from billing.errors import ForbiddenError, UnauthorizedError

PROJECT_MISMATCH = "Project ID does not match"


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


def requested_project_id(event: BaseProxyEvent) -> object | None:
    """The ``project_id`` a request names in its path, query or JSON body, if any."""
    for params in (event.raw_event.get("pathParameters"), event.query_string_parameters):
        if params and "project_id" in params:
            return params["project_id"]
    try:
        body = json.loads(event.decoded_body or "null")
    except ValueError:
        return None
    return body.get("project_id") if isinstance(body, dict) else None


def authorize_request(event: BaseProxyEvent, scope: str) -> Caller:
    """The caller, checked for ``scope`` and for the project the request names (403 else)."""
    caller = caller_of(event)
    caller.require_scope(scope)
    requested = requested_project_id(event)
    if requested is not None:
        caller.require_project(requested)
    return caller
