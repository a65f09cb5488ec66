"""Fakes for the client's wire and time: a scripted transport, a clock and a sleep log."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from billing_client import BillingClient, HttpRequest, HttpResponse

BASE_URL = "https://billing.test/v1"
API_KEY = "bk_secret_never_shown_0123456789"


def answer(status: int = 200, body: Any = None, **headers: str) -> HttpResponse:
    """A JSON answer (``body`` bytes are sent as they are); header names as keyword args,
    ``_`` for ``-`` (``retry_after`` -> ``retry-after``)."""
    raw = body if isinstance(body, bytes) else b"" if body is None else json.dumps(body).encode()
    return HttpResponse(status, {k.replace("_", "-").lower(): v for k, v in headers.items()}, raw)


class FakeTransport:
    """Answers with the scripted responses in order (an exception in the script is raised);
    records every request it was sent."""

    def __init__(self, script: Iterable[HttpResponse | Exception] = ()) -> None:
        self.script: deque[HttpResponse | Exception] = deque(script)
        self.requests: list[HttpRequest] = []

    def then(self, *steps: HttpResponse | Exception) -> FakeTransport:
        self.script.extend(steps)
        return self

    def send(self, request: HttpRequest) -> HttpResponse:
        self.requests.append(request)
        assert self.script, f"unexpected request: {request.method} {request.url}"
        step = self.script.popleft()
        if isinstance(step, Exception):
            raise step
        return step

    @property
    def last(self) -> HttpRequest:
        return self.requests[-1]


@dataclass
class FakeClock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class SleepLog:
    waits: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@dataclass
class Harness:
    """A client wired to fakes, and the fakes to drive and inspect it."""

    client: BillingClient
    transport: FakeTransport
    clock: FakeClock
    sleep: SleepLog


def harness(*script: HttpResponse | Exception, **options: Any) -> Harness:
    """A client on fakes; jitter 0 (the shortest backoff) unless ``jitter=`` is given."""
    transport, clock, sleep = FakeTransport(script), FakeClock(), SleepLog()
    options.setdefault("jitter", lambda: 0.0)
    client = BillingClient(
        BASE_URL, API_KEY, transport=transport, sleep=sleep, clock=clock, **options
    )
    return Harness(client, transport, clock, sleep)


def path_of(request: HttpRequest) -> str:
    return urlsplit(request.url).path


def query_of(request: HttpRequest) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(request.url).query))


def json_of(request: HttpRequest) -> Any:
    assert request.body is not None
    return json.loads(request.body)
