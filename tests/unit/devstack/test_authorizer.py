"""The REQUEST authorizer as API Gateway runs it: 401, 403, caching, context."""

from __future__ import annotations

import dataclasses

import pytest

from billing_devstack.authorizer import EXPLICIT_DENY, IMPLICIT_DENY, evaluate_policy
from billing_devstack.gateway import Gateway, HttpRequest
from billing_devstack.template import ApiRoute, GatewayResponse, RequestAuthorizer
from tests.unit.devstack.conftest import FakeInvoker, ok, policy, raises

AUTH = RequestAuthorizer(
    name="KeyAuth", function_id="Authorizer", identity_headers=("X-API-Key",), reauthorize_every=300
)
ROUTES = (
    ApiRoute("GET", "/a", "A", AUTH, api_id="Api"),
    ApiRoute("POST", "/b/{id}", "B", AUTH, api_id="Api"),
)
ARN_A = "arn:aws:execute-api:us-east-1:123456789012:Api/v1/GET/a"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def gateway(invoker: FakeInvoker, clock: Clock) -> Gateway:
    invoker.answers["Authorizer"] = ok(policy(project_id="p1", admin=True, quota=3))
    gateway = Gateway(ROUTES, invoker)
    gateway.gate.clock = clock
    return gateway


def call(gateway: Gateway, key: str | None = "key_1", path: str = "/a") -> tuple[int, object]:
    headers = [] if key is None else [("x-api-key", key)]  # header names are case-insensitive
    method = "GET" if path == "/a" else "POST"
    response = gateway.handle(HttpRequest(method, path, headers))
    return response.status, response.json()


def test_a_missing_identity_header_is_401_without_invoking_the_authorizer(
    gateway: Gateway, invoker: FakeInvoker
) -> None:
    assert call(gateway, key=None) == (401, {"message": "Unauthorized"})
    assert call(gateway, key="") == (401, {"message": "Unauthorized"})
    assert invoker.calls == []


def test_unauthorized_from_the_authorizer_is_401(gateway: Gateway, invoker: FakeInvoker) -> None:
    invoker.answers["Authorizer"] = raises("Unauthorized")
    assert call(gateway) == (401, {"message": "Unauthorized"})
    assert invoker.events_of("A") == []


def test_another_authorizer_error_is_a_500_like_api_gateway(
    gateway: Gateway, invoker: FakeInvoker
) -> None:
    invoker.answers["Authorizer"] = raises("KeyError: 'x'")
    assert call(gateway) == (500, {"message": None})
    invoker.answers["Authorizer"] = ok({"principalId": "x"})  # no policy
    assert call(gateway, key="other") == (500, {"message": None})


UNAVAILABLE = '{"message":"service temporarily unavailable, retry later"}'
RETRY_LATER = GatewayResponse(
    "AUTHORIZER_CONFIGURATION_ERROR", 503, (("Retry-After", "1"),), UNAVAILABLE
)


def with_responses(*responses: GatewayResponse) -> tuple[ApiRoute, ...]:
    """ROUTES, their API customizing these gateway responses (template.yaml's GatewayResponses)."""
    return tuple(dataclasses.replace(route, gateway_responses=responses) for route in ROUTES)


def test_an_authorizer_failure_is_answered_as_the_api_customizes_it(
    invoker: FakeInvoker,
) -> None:
    """template.yaml's AUTHORIZER_CONFIGURATION_ERROR: 503 with Retry-After, not a 500."""
    gateway = Gateway(with_responses(RETRY_LATER), invoker)
    invoker.answers["Authorizer"] = raises("DependencyUnavailableError: DynamoDB GetItem failed")
    response = gateway.handle(HttpRequest("GET", "/a", [("X-API-Key", "key_1")]))
    assert response.status == 503
    assert response.json() == {"message": "service temporarily unavailable, retry later"}
    assert ("Retry-After", "1") in response.headers
    assert ("Content-Type", "application/json") in response.headers
    invoker.answers["Authorizer"] = ok({"principalId": "x"})  # no policy: the same type
    assert call(gateway, key="other")[0] == 503
    assert invoker.events_of("A") == []
    # Nothing was cached: once the authorizer answers, the same key goes through.
    invoker.answers["Authorizer"] = ok(policy())
    assert call(gateway)[0] == 200


def test_customizing_the_authorizer_failure_leaves_401_and_403_as_they_are(
    invoker: FakeInvoker,
) -> None:
    gateway = Gateway(with_responses(RETRY_LATER), invoker)
    assert call(gateway, key=None) == (401, {"message": "Unauthorized"})
    invoker.answers["Authorizer"] = raises("Unauthorized")
    assert call(gateway) == (401, {"message": "Unauthorized"})
    invoker.answers["Authorizer"] = ok(policy("Deny"))
    assert call(gateway, key="key_2") == (403, {"message": EXPLICIT_DENY})


def test_default_5xx_answers_an_authorizer_failure_not_customized_itself(
    invoker: FakeInvoker,
) -> None:
    """API Gateway's fallback; a response without StatusCode or template keeps the 500 and
    ``{"message": null}``, with the headers it adds."""
    gateway = Gateway(
        with_responses(GatewayResponse("DEFAULT_5XX", headers=(("X-A", "b"),))), invoker
    )
    invoker.answers["Authorizer"] = raises("boom")
    response = gateway.handle(HttpRequest("GET", "/a", [("X-API-Key", "key_1")]))
    assert (response.status, response.json()) == (500, {"message": None})
    assert ("X-A", "b") in response.headers


def test_an_explicit_deny_is_403(gateway: Gateway, invoker: FakeInvoker) -> None:
    invoker.answers["Authorizer"] = ok(policy("Deny"))
    assert call(gateway) == (403, {"message": EXPLICIT_DENY})
    assert invoker.events_of("A") == []


def test_a_policy_not_covering_the_method_is_403(gateway: Gateway, invoker: FakeInvoker) -> None:
    invoker.answers["Authorizer"] = ok(policy("Allow", ARN_A))
    assert call(gateway, path="/a")[0] == 200
    # API Gateway applies the cached policy to every route: /b is not in it.
    assert call(gateway, path="/b/1") == (403, {"message": IMPLICIT_DENY})


def test_the_policy_is_cached_per_identity_for_reauthorize_every(
    gateway: Gateway, invoker: FakeInvoker, clock: Clock
) -> None:
    call(gateway)
    call(gateway, path="/b/1")
    assert len(invoker.events_of("Authorizer")) == 1
    call(gateway, key="key_2")
    assert len(invoker.events_of("Authorizer")) == 2
    clock.now += 301
    call(gateway)
    assert len(invoker.events_of("Authorizer")) == 3


def test_the_cache_ttl_can_be_overridden(invoker: FakeInvoker) -> None:
    invoker.answers["Authorizer"] = ok(policy())
    gateway = Gateway(ROUTES, invoker, authorizer_cache_ttl=0)
    call(gateway)
    call(gateway)
    assert len(invoker.events_of("Authorizer")) == 2


def test_the_policy_context_reaches_the_handler_stringified(
    gateway: Gateway, invoker: FakeInvoker
) -> None:
    call(gateway)
    (event,) = invoker.events_of("A")
    authorizer = event["requestContext"]["authorizer"]
    assert authorizer["principalId"] == "app_1"
    assert (authorizer["project_id"], authorizer["admin"], authorizer["quota"]) == (
        "p1",
        "true",
        "3",
    )


def test_the_authorizer_gets_a_request_event_with_the_method_arn(
    gateway: Gateway, invoker: FakeInvoker
) -> None:
    call(gateway, path="/b/42")
    (event,) = invoker.events_of("Authorizer")
    assert event["type"] == "REQUEST"
    assert event["methodArn"] == "arn:aws:execute-api:us-east-1:123456789012:Api/v1/POST/b/42"
    assert event["headers"]["x-api-key"] == "key_1"
    assert event["pathParameters"] == {"id": "42"}
    assert "body" not in event


@pytest.mark.parametrize(
    ("resource", "allowed"),
    [
        ("*", True),
        ("arn:aws:execute-api:us-east-1:123456789012:Api/*", True),
        ("arn:aws:execute-api:us-east-1:123456789012:Api/v1/GET/*", True),
        ("arn:aws:execute-api:us-east-1:123456789012:Api/v1/POST/*", False),
        (["arn:aws:execute-api:us-east-1:123456789012:Api/v1/*/?"], True),
    ],
)
def test_policy_resources_use_iam_wildcards(resource: object, allowed: bool) -> None:
    document = policy("Allow", resource)["policyDocument"]
    assert evaluate_policy(document, ARN_A).allowed is allowed


def test_deny_wins_over_allow() -> None:
    document = {
        "Statement": [
            {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "*"},
            {"Action": "execute-api:*", "Effect": "Deny", "Resource": ARN_A},
        ]
    }
    assert evaluate_policy(document, ARN_A).message == EXPLICIT_DENY
