import base64
import json
from typing import Any

import pytest

from billing import wiring
from billing.domain.clock import utc_now
from billing.services.tenancy import create_project
from tests.support.lambda_runtime import invoke, json_body, load_event

# Every route taking a body or path project_id (entitlements has its own tests).
TENANT_ROUTES = [
    "checkout_session",
    "portal_session",
    "admin_grant",
    "admin_revoke",
    "subscription_metrics",
    "revenue_metrics",
]


def with_project(event: dict[str, Any], project_id: object) -> dict[str, Any]:
    """The same request, naming another project where the route takes it."""
    if event.get("pathParameters"):
        event["pathParameters"]["project_id"] = str(project_id)
    else:
        event["body"] = json.dumps({**json.loads(event["body"]), "project_id": project_id})
    return event


@pytest.mark.parametrize("function", TENANT_ROUTES)
@pytest.mark.parametrize("other_project", [2, "2", "02"])
def test_a_key_of_another_project_gets_403_before_anything_else(
    function: str, other_project: object
) -> None:
    event = with_project(load_event(f"{function}.json"), other_project)
    response = invoke(function, event)
    assert (response["statusCode"], json_body(response)) == (
        403,
        {"message": "Project ID does not match"},
    )


@pytest.mark.parametrize(
    ("function", "scope"),
    [
        ("checkout_session", "checkout"),
        ("admin_grant", "admin"),
        ("admin_revoke", "admin"),
        ("admin_audit", "admin"),
        ("revenue_metrics", "metrics"),
    ],
)
def test_a_key_without_the_routes_scope_gets_403(function: str, scope: str) -> None:
    event = load_event(f"{function}.json")
    event["requestContext"]["authorizer"]["scopes"] = "entitlements"
    response = invoke(function, event)
    assert response["statusCode"] == 403
    assert scope in json_body(response)["message"]


def test_a_body_that_is_not_utf8_is_a_422_naming_the_body(aws: dict[str, str]) -> None:
    event = load_event("admin_grant.json")
    event["body"] = base64.b64encode(b"\xcf=s\x10\x0b$\xff").decode()
    event["isBase64Encoded"] = True
    response = invoke("admin_grant", event)
    assert response["statusCode"] == 422
    assert json_body(response)["errors"] == [
        {"field": "body", "reason": "must be UTF-8 encoded JSON"}
    ]


# ------------------------------------------------------------------ every place, one rule
ALL_CHECKED = [*TENANT_ROUTES, "entitlements", "entitlement_check", "portal_eligibility"]
ALL_CHECKED += ["admin_audit"]


def with_query(event: dict[str, Any], name: str, *values: str) -> dict[str, Any]:
    """``event`` with the query parameter ``name`` sent once per value (as API Gateway passes
    a repeated parameter: every value in the multi-value map, the last in the single one)."""
    single = dict(event.get("queryStringParameters") or {})
    multi = dict(event.get("multiValueQueryStringParameters") or {})
    single[name], multi[name] = values[-1], list(values)
    return {**event, "queryStringParameters": single, "multiValueQueryStringParameters": multi}


def with_body(event: dict[str, Any], body: str, content_type: str | None) -> dict[str, Any]:
    headers = {k: v for k, v in event["headers"].items() if k.lower() != "content-type"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    multi = {name: [value] for name, value in headers.items()}
    return {**event, "headers": headers, "multiValueHeaders": multi, "body": body}


FORBIDDEN = (403, {"message": "Project ID does not match"})


@pytest.mark.parametrize("function", ALL_CHECKED)
@pytest.mark.parametrize(
    "values", [("1", "2"), ("2", "1"), ("1", "1", " 02 ")], ids=["own-first", "own-last", "third"]
)
def test_every_value_of_a_repeated_project_id_query_is_checked(
    function: str, values: tuple[str, ...]
) -> None:
    response = invoke(function, with_query(load_event(f"{function}.json"), "project_id", *values))
    assert (response["statusCode"], json_body(response)) == FORBIDDEN


@pytest.mark.parametrize("function", ALL_CHECKED)
@pytest.mark.parametrize("name", ["Project_ID", "projectId", "project-id", "PROJECTID"])
def test_project_id_in_any_spelling_in_the_query_is_checked(function: str, name: str) -> None:
    response = invoke(function, with_query(load_event(f"{function}.json"), name, "2"))
    assert (response["statusCode"], json_body(response)) == FORBIDDEN


BODY_ROUTES = ["checkout_session", "portal_session", "admin_grant", "admin_revoke"]


@pytest.mark.parametrize("function", BODY_ROUTES)
@pytest.mark.parametrize("name", ["project_id", "projectId", "Project_Id", "project-id"])
def test_a_body_naming_another_project_in_any_spelling_is_403_whatever_the_query_says(
    function: str, name: str
) -> None:
    event = load_event(f"{function}.json")
    body = {**json.loads(event["body"]), name: 2}
    if name != "project_id":
        body["project_id"] = 1
    event = with_query(with_body(event, json.dumps(body), "application/json"), "project_id", "1")
    response = invoke(function, event)
    assert (response["statusCode"], json_body(response)) == FORBIDDEN


@pytest.mark.parametrize("function", ["entitlements", "subscription_metrics", "admin_audit"])
def test_a_get_with_a_json_body_naming_another_project_is_403(function: str) -> None:
    event = with_body(load_event(f"{function}.json"), '{"project_id": 2}', "application/json")
    response = invoke(function, event)
    assert (response["statusCode"], json_body(response)) == FORBIDDEN


@pytest.mark.parametrize("function", BODY_ROUTES)
def test_project_id_given_twice_in_a_body_is_422_naming_it(function: str) -> None:
    event = load_event(f"{function}.json")
    text = event["body"][:-1] + ', "project_id": 2}'
    response = invoke(function, with_body(event, text, "application/json"))
    assert response["statusCode"] == 422
    assert json_body(response)["errors"] == [
        {"field": "project_id", "reason": "given more than once"}
    ]


OTHER_BODIES = {
    "multipart": (
        "multipart/form-data; boundary=b",
        '--b\r\nContent-Disposition: form-data; name="project_id"\r\n\r\n2\r\n--b--\r\n',
    ),
    "form": ("application/x-www-form-urlencoded", "project_id=2&user_id=u"),
    "text": ("text/plain", '{"project_id": 2}'),
    "xml": ("application/xml", "<project_id>2</project_id>"),
    "png": ("image/png", "\x89PNG"),
    "anything": ("*/*", '{"project_id": 1}'),
    "no content type": (None, '{"project_id": 1}'),
    "latin-1": ("application/json; charset=latin-1", '{"project_id": 1}'),
}


@pytest.mark.parametrize("function", ALL_CHECKED)
@pytest.mark.parametrize(("content_type", "body"), OTHER_BODIES.values(), ids=OTHER_BODIES.keys())
def test_a_body_that_is_not_json_is_415_on_every_route(
    function: str, content_type: str | None, body: str
) -> None:
    response = invoke(function, with_body(load_event(f"{function}.json"), body, content_type))
    assert response["statusCode"] == 415
    assert json_body(response)["errors"][0]["field"] == "Content-Type"


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=UTF-8", "Application/JSON", "application/json"]
)
def test_json_in_any_spelling_of_its_content_type_is_taken(
    aws: dict[str, str], content_type: str
) -> None:
    event = load_event("admin_grant.json")
    body = {**json.loads(event["body"]), "valid_to": None}
    event = with_body(event, json.dumps(body), content_type)
    create_project(wiring.project_store(), name="p", project_id="1", now=utc_now())
    assert invoke("admin_grant", event)["statusCode"] in (200, 201)


HOSTILE_BODIES = {
    "deep list": ("[" * 100_000, "body"),
    "deep object": ('{"a":' * 50_000 + "1" + "}" * 50_000, "body"),
    "deep under a key": ('{"project_id": 1, "x": ' + "[" * 40 + "]" * 40 + "}", "x" + ".0" * 31),
    "long integer": ('{"project_id": ' + "1" * 5000 + "}", "project_id"),
    "huge float": ('{"project_id": 1, "quantity": 1e400}', "quantity"),
    "nan": ('{"project_id": 1, "quantity": NaN}', "quantity"),
}


@pytest.mark.parametrize("function", BODY_ROUTES)
@pytest.mark.parametrize(("body", "field"), HOSTILE_BODIES.values(), ids=HOSTILE_BODIES.keys())
def test_hostile_json_is_422_naming_the_field_before_anything_else(
    function: str, body: str, field: str
) -> None:
    response = invoke(function, with_body(load_event(f"{function}.json"), body, "application/json"))
    assert response["statusCode"] == 422
    assert json_body(response)["errors"][0]["field"] == field


@pytest.mark.parametrize("function", ["subscription_metrics", "revenue_metrics"])
@pytest.mark.parametrize("value", ["\t1", "1\t", "\u00a01", " 1", "1 ", "\u0661", "01x"])
def test_a_path_project_id_other_than_digits_is_422_naming_it(function: str, value: str) -> None:
    """Padding a query or body value may carry has no place in a path: the resolver's own
    route would not even match a tab or a no-break space (that was a 500)."""
    event = load_event(f"{function}.json")
    event["pathParameters"]["project_id"] = value
    event["path"] = event["path"].replace("/project/1/", f"/project/{value}/")
    response = invoke(function, event)
    assert response["statusCode"] == 422, response["body"]
    assert json_body(response)["errors"][0]["field"] == "project_id"


def test_a_path_no_route_of_the_function_takes_is_a_400_not_a_500() -> None:
    event = load_event("health.json")
    event["path"] = "/health/\u00a0x"
    response = invoke("health", event)
    assert response["statusCode"] == 400
    assert json_body(response)["errors"] == [
        {"field": "path", "reason": "holds characters no route takes"}
    ]
