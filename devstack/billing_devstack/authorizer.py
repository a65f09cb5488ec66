"""API Gateway's Lambda-authorizer behaviour, copied for the local gateway.

What matters to the service and is copied here: a missing identity source is refused with 401
without invoking the authorizer; ``Exception("Unauthorized")`` means 401; a returned policy is
cached per identity value for ReauthorizeEvery seconds and that cached policy is then applied to
*every* route (so a policy naming only the first route denies the others); the policy's
``context`` reaches the handler stringified, beside ``principalId``.

Each refusal names its gateway response type, so the gateway can answer it as the API's
``GatewayResponses`` say: 401 ``UNAUTHORIZED``, 403 ``ACCESS_DENIED``, and 500
``AUTHORIZER_CONFIGURATION_ERROR`` when the authorizer raised anything but "Unauthorized" or
answered no valid policy (API Gateway's ``x-amzn-ErrorType: AuthorizerConfigurationException``).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from billing_devstack.lambda_runtime import Invoker
from billing_devstack.template import RequestAuthorizer

UNAUTHORIZED = "Unauthorized"
# Gateway response types (API Gateway's names) of the authorizer's refusals.
UNAUTHORIZED_RESPONSE = "UNAUTHORIZED"
ACCESS_DENIED_RESPONSE = "ACCESS_DENIED"
AUTHORIZER_ERROR_RESPONSE = "AUTHORIZER_CONFIGURATION_ERROR"
EXPLICIT_DENY = "User is not authorized to access this resource with an explicit deny"
IMPLICIT_DENY = "User is not authorized to access this resource"


@dataclass(frozen=True)
class AuthDecision:
    """Let the request through (with ``context`` for requestContext.authorizer) or answer it
    (``response_type``: the gateway response type of the answer)."""

    status: int
    message: str | None = None
    context: Mapping[str, Any] = field(default_factory=dict)
    response_type: str | None = None

    @property
    def allowed(self) -> bool:
        """True when the handler may be invoked."""
        return self.status == 200  # noqa: PLR2004 - HTTP OK


class AuthorizerConfigError(Exception):
    """The authorizer answered something API Gateway rejects (500, ``{"message": null}``)."""


def identity_values(
    authorizer: RequestAuthorizer,
    headers: Mapping[str, str],
    query: Mapping[str, str] | None,
) -> tuple[str, ...] | None:
    """The identity sources' values, or None when one is missing or empty (-> 401)."""
    lowered = {name.lower(): value for name, value in headers.items()}
    values = [lowered.get(name.lower(), "") for name in authorizer.identity_headers]
    values += [(query or {}).get(name, "") for name in authorizer.identity_query_strings]
    return None if any(value == "" for value in values) else tuple(values)


def _arn_pattern(pattern: str) -> re.Pattern[str]:
    """IAM wildcards: ``*`` is any run of characters (slashes included), ``?`` one character."""
    return re.compile(re.escape(pattern).replace(r"\*", ".*").replace(r"\?", "."))


def _as_list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else [str(item) for item in value or []]


def evaluate_policy(policy: Mapping[str, Any], method_arn: str) -> AuthDecision:
    """IAM evaluation of an authorizer's policy for one method ARN: deny wins, then allow."""
    allowed = False
    for statement in policy.get("Statement") or []:
        actions = _as_list(statement.get("Action"))
        if not any(_arn_pattern(action).fullmatch("execute-api:Invoke") for action in actions):
            continue
        if not any(
            _arn_pattern(res).fullmatch(method_arn) for res in _as_list(statement.get("Resource"))
        ):
            continue
        effect = str(statement.get("Effect", "")).lower()
        if effect == "deny":
            return AuthDecision(403, EXPLICIT_DENY, response_type=ACCESS_DENIED_RESPONSE)
        allowed = allowed or effect == "allow"
    if allowed:
        return AuthDecision(200)
    return AuthDecision(403, IMPLICIT_DENY, response_type=ACCESS_DENIED_RESPONSE)


def _stringify(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise AuthorizerConfigError(f"context values must be string, number or boolean: {value!r}")


def validate_output(output: Any) -> Mapping[str, Any]:
    """The authorizer's answer must hold principalId and a policyDocument with statements."""
    if not isinstance(output, Mapping) or "principalId" not in output:
        raise AuthorizerConfigError("the authorizer returned no principalId")
    policy = output.get("policyDocument")
    if not isinstance(policy, Mapping) or not isinstance(policy.get("Statement"), list):
        raise AuthorizerConfigError("the authorizer returned no policyDocument.Statement")
    for value in (output.get("context") or {}).values():
        _stringify(value)
    return output


@dataclass
class AuthorizerGate:
    """Runs authorizers through the Invoker and caches their policies like API Gateway."""

    invoker: Invoker
    ttl_override: int | None = None
    clock: Callable[[], float] = time.monotonic
    _cache: dict[tuple[str, tuple[str, ...]], tuple[float, Mapping[str, Any]]] = field(
        default_factory=dict
    )
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check(
        self, authorizer: RequestAuthorizer, event: Mapping[str, Any], method_arn: str
    ) -> AuthDecision:
        """Decide for one request; ``event`` is the proxy event the handler would get."""
        identity = identity_values(
            authorizer, event["headers"] or {}, event["queryStringParameters"]
        )
        if identity is None:
            return AuthDecision(401, UNAUTHORIZED, response_type=UNAUTHORIZED_RESPONSE)
        started = self.clock()
        try:
            output = self._output(authorizer, identity, event, method_arn)
        except AuthorizerConfigError:
            return AuthDecision(500, None, response_type=AUTHORIZER_ERROR_RESPONSE)
        if output is None:
            return AuthDecision(401, UNAUTHORIZED, response_type=UNAUTHORIZED_RESPONSE)
        decision = evaluate_policy(output["policyDocument"], method_arn)
        if not decision.allowed:
            return decision
        context: dict[str, Any] = {
            key: _stringify(value) for key, value in (output.get("context") or {}).items()
        }
        context["principalId"] = str(output["principalId"])
        context["integrationLatency"] = int((self.clock() - started) * 1000)
        return AuthDecision(200, context=context)

    def _output(
        self,
        authorizer: RequestAuthorizer,
        identity: tuple[str, ...],
        event: Mapping[str, Any],
        method_arn: str,
    ) -> Mapping[str, Any] | None:
        """The cached or fresh policy output; None means "Unauthorized" (never cached)."""
        key = (authorizer.name, identity)
        now = self.clock()
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        result = self.invoker.invoke(
            authorizer.function_id, _authorizer_event(authorizer, identity, event, method_arn)
        )
        if not result.ok:
            if result.error_message == UNAUTHORIZED:
                return None
            raise AuthorizerConfigError(result.error_message)
        output = validate_output(result.payload)
        ttl = authorizer.reauthorize_every if self.ttl_override is None else self.ttl_override
        if ttl > 0:
            with self._lock:
                self._cache[key] = (now + ttl, output)
        return output


def _authorizer_event(
    authorizer: RequestAuthorizer,
    identity: tuple[str, ...],
    event: Mapping[str, Any],
    method_arn: str,
) -> dict[str, Any]:
    """REQUEST: the proxy event without its body; TOKEN: just the token and the method ARN."""
    if authorizer.payload_type == "TOKEN":
        return {"type": "TOKEN", "authorizationToken": identity[0], "methodArn": method_arn}
    request = {key: value for key, value in event.items() if key not in ("body", "isBase64Encoded")}
    return {"type": "REQUEST", "methodArn": method_arn, **request}
