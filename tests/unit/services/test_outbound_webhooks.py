"""Outbound webhooks (issue #22): endpoints refused unless public, one delivery per change and
endpoint, each signed per Standard Webhooks (checked with the reference library), failures
raised for the sender to retry."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from billing import wiring
from billing.domain.change_log import ChangeCause, ChangeEntry
from billing.domain.deliveries import Delivery, DeliveryFailedError, retry_delay
from billing.domain.entitlements import EntitlementSource
from billing.domain.standard_webhooks import delivery_id
from billing.domain.webhook_endpoints import EndpointUrl, WebhookEndpoint
from billing.errors import ConflictError, NotFoundError, ValidationError
from billing.services import outbound_webhooks as outbound
from billing.services import tenancy

NOW = datetime.now(UTC).replace(microsecond=0)  # the reference library checks the clock
PUBLIC = {"hooks.example.com": ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"]}


@dataclass
class FakeResolver:
    answers: dict[str, list[str]] = field(default_factory=lambda: dict(PUBLIC))
    asked: list[str] = field(default_factory=list)

    def addresses(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        return list(self.answers.get(host, []))


@dataclass
class Post:
    url: EndpointUrl
    address: str
    body: bytes
    headers: dict[str, str]


@dataclass
class FakePoster:
    status: int = 204
    down: bool = False
    posts: list[Post] = field(default_factory=list)

    def post(
        self, url: EndpointUrl, address: str, body: bytes, headers: dict[str, str], timeout: float
    ) -> int:
        if self.down:
            raise OSError("connection refused")
        self.posts.append(Post(url, address, body, headers))
        return self.status


@dataclass
class FakeQueue:
    queued: list[Delivery] = field(default_factory=list)

    def enqueue(self, deliveries: list[Delivery]) -> None:
        self.queued.extend(deliveries)

    def retry_after(self, receipt_handle: str, seconds: int) -> None:
        raise AssertionError("the services never wait; the sender does")


def secret_bytes(size: int) -> bytes:
    return bytes(range(size))


@pytest.fixture
def project(aws: dict[str, str]) -> None:
    tenancy.create_project(wiring.project_store(), name="space_journal", project_id=1, now=NOW)


def add(url: str, resolver: FakeResolver | None = None, *, local: bool = False) -> WebhookEndpoint:
    return outbound.add_endpoint(
        wiring.project_store(),
        wiring.webhook_endpoints(),
        resolver or FakeResolver(),
        project_id="1",
        url=url,
        allow_loopback=local,
        now=NOW,
        random_bytes=secret_bytes,
    )


# ---------------------------------------------------------------------- endpoints
def test_an_https_endpoint_gets_its_own_standard_webhooks_secret(project: None) -> None:
    endpoint = add("https://hooks.example.com/billing?x=1")
    (secret,) = endpoint.signing_secrets(NOW)
    assert secret.startswith("whsec_")
    assert base64.b64decode(secret.removeprefix("whsec_")) == bytes(range(32))
    assert wiring.webhook_endpoints().list("1") == [endpoint]
    assert add("https://hooks.example.com/other").endpoint_id != endpoint.endpoint_id


REFUSED = [
    ("http://hooks.example.com/", "must be an https:// URL"),
    ("ftp://hooks.example.com/", "must be an https:// URL"),
    ("https://user:pw@hooks.example.com/", "must not carry a user name or password"),
    ("https://10.0.0.7/hook", "10.0.0.7 is a private address"),
    ("https://192.168.1.1/", "is a private address"),
    ("https://172.16.0.1/", "is a private address"),
    ("https://127.0.0.1:8443/", "127.0.0.1 is a loopback address"),
    ("https://localhost/", "localhost is a loopback address"),
    ("https://169.254.169.254/latest/meta-data/", "is a link-local address"),
    ("https://[fd00:ec2::254]/", "is a private address"),
    ("https://[fe80::1]/", "is a link-local address"),
    ("https://100.64.0.1/", "is not a public address"),  # CGNAT
    ("https://100.100.100.200/", "is not a public address"),  # a cloud's metadata, in CGNAT
    ("https://224.0.0.1/", "is a multicast address"),
    ("https://0.0.0.0/", "is an unspecified address"),
    ("https://240.0.0.1/", "is a reserved address"),
    ("https://[::ffff:10.0.0.1]/", "is an IPv6 address embedding 10.0.0.1"),
    ("https://[64:ff9b::a9fe:a9fe]/", "is an IPv6 address embedding 169.254.169.254"),
    ("https://[2002:a00:1::]/", "is an IPv6 address embedding 10.0.0.1"),
    ("https://hooks.example.com:0/", "invalid port"),
    ("https://hooks.example.com:99999/", "invalid port"),
    ("https://hooks.example.com/#frag", "must not have a #fragment"),
    ("https://hooks.example.com/a b", "must not contain spaces"),
    ("https://nowhere.example/", "nowhere.example does not resolve to any address"),
    ("https://internal.example.com/", "internal.example.com resolves to 10.1.2.3, a private"),
    ("https://metadata.example.com/", "resolves to 169.254.169.254, a link-local address"),
    ("https://mixed.example.com/", "resolves to 192.168.0.9, a private address"),
]


@pytest.mark.parametrize(("url", "says"), REFUSED)
def test_an_endpoint_that_is_not_https_to_a_public_address_is_refused_and_not_stored(
    project: None, url: str, says: str
) -> None:
    resolver = FakeResolver(
        {
            **PUBLIC,
            "internal.example.com": ["10.1.2.3"],
            "metadata.example.com": ["169.254.169.254"],
            "mixed.example.com": ["93.184.216.34", "192.168.0.9"],
        }
    )
    with pytest.raises(ValidationError) as refused:
        add(url, resolver)
    assert refused.value.field == "url"
    assert says in refused.value.reason
    assert wiring.webhook_endpoints().list("1") == []


def test_only_the_local_stack_takes_http_to_localhost_and_nothing_else_private(
    project: None,
) -> None:
    loopback = FakeResolver({"localhost": ["127.0.0.1", "::1"]})
    with pytest.raises(ValidationError):
        add("http://localhost:9000/hook", loopback)
    assert add("http://localhost:9000/hook", loopback, local=True).url.startswith("http://")
    assert add("http://127.0.0.1:9000/hook", loopback, local=True)
    with pytest.raises(ValidationError, match="private"):
        add("https://10.0.0.7/", local=True)
    with pytest.raises(ValidationError, match="https"):
        add("http://hooks.example.com/", local=True)


def test_a_project_has_at_most_ten_endpoints(project: None) -> None:
    for number in range(10):
        add(f"https://hooks.example.com/{number}")
    with pytest.raises(ConflictError):
        add("https://hooks.example.com/eleventh")


def test_an_endpoint_of_a_project_that_does_not_exist_is_refused(aws: dict[str, str]) -> None:
    with pytest.raises(NotFoundError):
        add("https://hooks.example.com/")


def test_a_rotation_signs_with_both_secrets_until_the_old_one_expires(project: None) -> None:
    endpoint = add("https://hooks.example.com/")
    (old,) = endpoint.signing_secrets(NOW)
    rotated = outbound.rotate_secret(
        wiring.webhook_endpoints(),
        project_id="1",
        endpoint_id=endpoint.endpoint_id,
        overlap=timedelta(hours=24),
        now=NOW,
        random_bytes=lambda size: bytes(reversed(range(size))),
    )
    new, still_old = rotated.signing_secrets(NOW)
    assert (still_old, new != old) == (old, True)
    assert rotated.signing_secrets(NOW + timedelta(hours=24)) == [new]
    assert wiring.webhook_endpoints().get("1", endpoint.endpoint_id) == rotated


# ---------------------------------------------------------------------- fan-out and delivery
def _log_change(version: int = 1) -> ChangeEntry:
    grant = EntitlementSource("pro", "manual", "grant_1", NOW, None)
    entry = ChangeEntry(
        "1", "user_42", version, NOW, (grant,), ChangeCause("grant", grant_id="grant_1", actor="a")
    )
    from billing.adapters.dynamo.change_log import change_log_item

    item, _ = change_log_item(entry)
    item.save()
    return entry


def test_each_change_is_queued_once_per_endpoint_of_its_project(project: None) -> None:
    first, second = add("https://hooks.example.com/a"), add("https://hooks.example.com/b")
    queue = FakeQueue()
    changes = [outbound.LoggedChange("1", "user_42", 1), outbound.LoggedChange("1", "u2", 4)]
    changes.append(outbound.LoggedChange("2", "user_9", 1))  # a project without endpoints
    assert outbound.dispatch(changes, wiring.webhook_endpoints(), queue) == 4
    assert sorted((d.user_id, d.version, d.endpoint_id) for d in queue.queued) == sorted(
        (user, version, endpoint.endpoint_id)
        for user, version in (("user_42", 1), ("u2", 4))
        for endpoint in (first, second)
    )


def _deliver(
    delivery: Delivery, poster: FakePoster, resolver: FakeResolver | None = None
) -> outbound.Sent:
    return outbound.deliver(
        delivery,
        log=wiring.change_log(),
        store=wiring.webhook_endpoints(),
        resolver=resolver or FakeResolver(),
        poster=poster,
        allow_loopback=False,
        now=datetime.now(UTC),  # the reference library checks webhook-timestamp against it
    )


def test_a_delivery_posts_the_full_state_signed_per_standard_webhooks(project: None) -> None:
    endpoint = add("https://hooks.example.com/billing")
    _log_change(version=3)
    poster = FakePoster()
    delivery = Delivery("1", "user_42", 3, endpoint.endpoint_id)
    sent = _deliver(delivery, poster)
    (post,) = poster.posts
    assert (
        sent.message_id
        == post.headers["webhook-id"]
        == delivery_id("1", "user_42", 3, endpoint.endpoint_id)
    )
    assert post.address == "93.184.216.34"  # pinned to the checked address
    payload = Webhook(endpoint.signing_secrets(NOW)[0]).verify(post.body, post.headers)
    assert payload["type"] == "entitlements.updated"
    assert payload["data"]["version"] == 3
    assert payload["data"]["cause"] == {"kind": "grant", "grant_id": "grant_1", "actor": "a"}
    assert [e["feature_code"] for e in payload["data"]["entitlements"]] == ["pro"]
    assert payload == json.loads(post.body)


def test_a_forged_or_replayed_delivery_fails_the_reference_library(project: None) -> None:
    endpoint = add("https://hooks.example.com/billing")
    _log_change()
    poster = FakePoster()
    _deliver(Delivery("1", "user_42", 1, endpoint.endpoint_id), poster)
    (post,) = poster.posts
    verifier = Webhook(endpoint.signing_secrets(NOW)[0])
    with pytest.raises(WebhookVerificationError):
        verifier.verify(post.body.replace(b'"pro"', b'"max"'), post.headers)
    old = {**post.headers, "webhook-timestamp": str(int(post.headers["webhook-timestamp"]) - 600)}
    with pytest.raises(WebhookVerificationError):
        verifier.verify(post.body, old)
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + base64.b64encode(b"k" * 32).decode()).verify(post.body, post.headers)


def test_during_a_rotation_a_delivery_verifies_with_either_secret(project: None) -> None:
    endpoint = add("https://hooks.example.com/billing")
    rotated = outbound.rotate_secret(
        wiring.webhook_endpoints(),
        project_id="1",
        endpoint_id=endpoint.endpoint_id,
        overlap=timedelta(hours=1),
        now=datetime.now(UTC),
    )
    _log_change()
    poster = FakePoster()
    _deliver(Delivery("1", "user_42", 1, endpoint.endpoint_id), poster)
    (post,) = poster.posts
    assert post.headers["webhook-signature"].count("v1,") == 2
    for secret in rotated.signing_secrets(NOW):
        Webhook(secret).verify(post.body, post.headers)


@pytest.mark.parametrize(
    ("poster", "answers", "reason"),
    [
        (FakePoster(status=500), PUBLIC, "answered 500"),
        (FakePoster(status=301), PUBLIC, "answered 301"),  # redirects are not followed
        (FakePoster(down=True), PUBLIC, "no answer"),
        (FakePoster(), {"hooks.example.com": ["10.9.9.9"]}, "address refused"),  # DNS changed
        (FakePoster(), {}, "address refused"),
    ],
)
def test_a_delivery_not_taken_fails_for_the_sender_to_retry(
    project: None, poster: FakePoster, answers: dict[str, list[str]], reason: str
) -> None:
    endpoint = add("https://hooks.example.com/billing")
    _log_change()
    with pytest.raises(DeliveryFailedError) as failed:
        _deliver(Delivery("1", "user_42", 1, endpoint.endpoint_id), poster, FakeResolver(answers))
    assert failed.value.reason.startswith(reason)
    if reason == "address refused":
        assert poster.posts == []  # nothing was sent to the private address


def test_a_removed_endpoint_gets_nothing_more(project: None) -> None:
    endpoint = add("https://hooks.example.com/billing")
    _log_change()
    wiring.webhook_endpoints().remove("1", endpoint.endpoint_id)
    poster = FakePoster()
    sent = _deliver(Delivery("1", "user_42", 1, endpoint.endpoint_id), poster)
    assert (sent.gone, poster.posts) == (True, [])


def test_retries_wait_twice_as_long_each_time_up_to_twelve_hours() -> None:
    assert [retry_delay(n, 30) for n in (1, 2, 3, 11, 12, 30)] == [
        30, 60, 120, 30_720, 43_200, 43_200,
    ]  # fmt: skip
