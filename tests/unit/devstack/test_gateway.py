"""The local gateway answers as API Gateway (REST, Lambda proxy) would."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from billing_devstack.gateway import Gateway, HttpRequest, RouteTable, gateway_response
from billing_devstack.template import ApiRoute, GatewayResponse, RequestAuthorizer
from tests.unit.devstack.conftest import FakeInvoker, ok, policy, proxy, raises

AUTH = RequestAuthorizer(name="KeyAuth", function_id="Authorizer", identity_headers=("X-API-Key",))
ROUTES = (
    ApiRoute("GET", "/health", "Health", api_id="Api"),
    ApiRoute("GET", "/things/{thing_id}/parts", "Parts", AUTH, api_id="Api"),
    ApiRoute("GET", "/things/special/parts", "Special", AUTH, api_id="Api"),
    ApiRoute("POST", "/things", "Create", AUTH, api_id="Api"),
)


@pytest.fixture
def gateway(invoker: FakeInvoker) -> Gateway:
    invoker.answers["Authorizer"] = ok(policy(project_id="p1", admin=True, quota=3))
    return Gateway(ROUTES, invoker)


def get(path: str, *headers: tuple[str, str]) -> HttpRequest:
    return HttpRequest("GET", path, [("Host", "localhost:8000"), *headers], source_ip="10.0.0.9")


KEY = ("X-API-Key", "key_1")


def test_the_proxy_event_has_api_gateways_v1_shape(gateway: Gateway, invoker: FakeInvoker) -> None:
    gateway.handle(get("/things/a%20b/parts?x=1&x=2&empty=", KEY, ("Accept", "a"), ("Accept", "b")))

    (event,) = invoker.events_of("Parts")
    assert event["resource"] == "/things/{thing_id}/parts"
    assert event["path"] == "/things/a b/parts"
    assert event["httpMethod"] == "GET"
    assert event["headers"]["Accept"] == "b"
    assert event["multiValueHeaders"]["Accept"] == ["a", "b"]
    assert event["queryStringParameters"] == {"x": "2", "empty": ""}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"], "empty": [""]}
    assert event["pathParameters"] == {"thing_id": "a b"}
    assert event["stageVariables"] is None
    assert (event["body"], event["isBase64Encoded"]) == (None, False)
    context = event["requestContext"]
    assert context["resourcePath"] == "/things/{thing_id}/parts"
    assert context["httpMethod"] == "GET"
    assert context["path"] == "/v1/things/a b/parts"
    assert context["stage"] == "v1"
    assert context["requestId"]
    assert context["identity"]["sourceIp"] == "10.0.0.9"
    assert context["authorizer"]["principalId"] == "app_1"


def test_a_route_without_parameters_gets_nulls_like_api_gateway(
    gateway: Gateway, invoker: FakeInvoker
) -> None:
    gateway.handle(get("/health"))
    (event,) = invoker.events_of("Health")
    assert event["queryStringParameters"] is None
    assert event["multiValueQueryStringParameters"] is None
    assert event["pathParameters"] is None
    assert "authorizer" not in event["requestContext"]


def test_bodies_pass_as_text_or_base64_when_binary(gateway: Gateway, invoker: FakeInvoker) -> None:
    gateway.handle(HttpRequest("POST", "/things", [KEY], b'{"a":1}'))
    gateway.handle(HttpRequest("POST", "/things", [KEY], b"\xff\x00"))
    text, binary = invoker.events_of("Create")
    assert (text["body"], text["isBase64Encoded"]) == ('{"a":1}', False)
    assert (base64.b64decode(binary["body"]), binary["isBase64Encoded"]) == (b"\xff\x00", True)


def test_literal_segments_win_over_path_parameters(gateway: Gateway, invoker: FakeInvoker) -> None:
    gateway.handle(get("/things/special/parts", KEY))
    gateway.handle(get("/things/other/parts/", KEY))
    assert len(invoker.events_of("Special")) == 1
    assert invoker.events_of("Parts")[0]["pathParameters"] == {"thing_id": "other"}


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/nowhere"), ("DELETE", "/health"), ("GET", "/things")]
)
def test_unknown_routes_answer_like_api_gateway(
    gateway: Gateway, invoker: FakeInvoker, method: str, path: str
) -> None:
    response = gateway.handle(HttpRequest(method, path))
    assert response.status == 403
    assert response.body == b'{"message":"Missing Authentication Token"}'
    assert invoker.calls == []


def test_the_handlers_response_is_written_back(gateway: Gateway, invoker: FakeInvoker) -> None:
    invoker.answers["Health"] = ok(
        {
            "statusCode": 201,
            "headers": {"X-One": "1", "Set-Cookie": "ignored"},
            "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
            "body": base64.b64encode(b"\x89PNG").decode(),
            "isBase64Encoded": True,
        }
    )
    response = gateway.handle(get("/health"))
    assert response.status == 201
    assert response.body == b"\x89PNG"
    assert ("X-One", "1") in response.headers
    assert [v for k, v in response.headers if k == "Set-Cookie"] == ["a=1", "b=2"]
    assert ("Content-Type", "application/json") in response.headers


@pytest.mark.parametrize(
    "answer",
    [
        raises("boom", "KeyError"),
        ok({"body": "no status"}),
        ok("text"),
        ok({"statusCode": 200, "body": {}}),
    ],
)
def test_a_crash_or_malformed_answer_is_a_502(
    gateway: Gateway, invoker: FakeInvoker, answer: object
) -> None:
    invoker.answers["Health"] = answer  # type: ignore[assignment]
    response = gateway.handle(get("/health"))
    assert response.status == 502
    assert response.json() == {"message": "Internal server error"}


def test_route_table_matches_greedy_and_any_routes() -> None:
    table = RouteTable([ApiRoute("ANY", "/files/{path+}", "Files")])
    found = table.match("PATCH", "/files/a/b/c.txt")
    assert found is not None
    assert found[1] == {"path": "a/b/c.txt"}


def test_proxy_response_defaults(gateway: Gateway, invoker: FakeInvoker) -> None:
    invoker.answers["Health"] = proxy(200, '{"status":"ok"}')
    response = gateway.handle(get("/health"))
    assert response.json() == {"status": "ok"}
    assert any(name == "x-amzn-RequestId" for name, _ in response.headers)


def test_files_under_a_static_prefix_are_served_and_nothing_outside_it(
    invoker: FakeInvoker, tmp_path: Path
) -> None:
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "swagger-ui.css").write_text("body {}")
    (tmp_path / "secret.txt").write_text("not for you")
    gateway = Gateway(ROUTES, invoker, static_dirs={"/_local/ui/": tmp_path / "assets"})

    served = gateway.handle(get("/_local/ui/swagger-ui.css"))
    assert (served.status, served.body) == (200, b"body {}")
    assert ("Content-Type", "text/css") in served.headers
    for outside in ("/_local/ui/../secret.txt", "/_local/ui/%2e%2e/secret.txt", "/_local/ui/nope"):
        assert gateway.handle(get(outside)).status == 404, outside
    assert gateway.handle(HttpRequest("POST", "/_local/ui/swagger-ui.css")).status == 403
    assert gateway.handle(get("/health")).status == 200  # routes are untouched
    assert [call[0] for call in invoker.calls] == ["Health"]


def test_gateway_responses_default_to_api_gateways_message_body() -> None:
    route = ROUTES[1]
    response = gateway_response(route, "AUTHORIZER_CONFIGURATION_ERROR", 500, None)
    assert (response.status, response.body) == (500, b'{"message":null}')
    assert response.headers == [("Content-Type", "application/json")]


def test_a_customized_gateway_response_fills_in_the_error_variables() -> None:
    template = '{"error":$context.error.messageString,"type":"$context.error.responseType"}'
    custom = GatewayResponse("UNAUTHORIZED", 401, (("WWW-Authenticate", "ApiKey"),), template)
    route = ApiRoute("GET", "/a", "A", AUTH, gateway_responses=(custom,))
    response = gateway_response(route, "UNAUTHORIZED", 401, "Unauthorized")
    assert response.status == 401
    assert response.json() == {"error": "Unauthorized", "type": "UNAUTHORIZED"}
    assert response.headers == [
        ("Content-Type", "application/json"),
        ("WWW-Authenticate", "ApiKey"),
    ]
