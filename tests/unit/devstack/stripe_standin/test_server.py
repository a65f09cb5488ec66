"""The HTTP wrapper, driven over a Unix socket pair (no TCP in unit tests)."""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass

from billing_devstack.stripe_standin import StripeStandIn
from billing_devstack.stripe_standin.server import StandInRequestHandler


@dataclass
class _Server:
    standin: StripeStandIn


def exchange(standin: StripeStandIn, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send one raw HTTP request to a StandInRequestHandler; parse the raw answer."""
    client, server_side = socket.socketpair()
    handler = threading.Thread(
        target=StandInRequestHandler,
        args=(server_side, ("127.0.0.1", 50000), _Server(standin)),
        daemon=True,
    )
    handler.start()
    client.sendall(raw)
    client.shutdown(socket.SHUT_WR)
    handler.join(10)
    assert not handler.is_alive()
    server_side.close()
    answer = b""
    while chunk := client.recv(65536):
        answer += chunk
    client.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    assert len(headers) == len(lines) - 1, f"a header sent twice: {lines}"
    return int(lines[0].split(" ")[1]), headers, body


def test_a_post_reaches_the_core_with_its_headers_and_body() -> None:
    standin = StripeStandIn()
    form = b"email=a%40x.io&metadata[project_id]=1"
    raw = (
        b"POST /v1/customers HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk_test_x\r\n"
        b"Idempotency-Key: k\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Connection: close\r\nContent-Length: " + str(len(form)).encode() + b"\r\n\r\n" + form
    )
    status, headers, body = exchange(standin, raw)
    customer = json.loads(body)
    assert status == 200
    assert (customer["email"], customer["metadata"]) == ("a@x.io", {"project_id": "1"})
    assert headers["Request-Id"].startswith("req_")
    assert headers["Idempotency-Key"] == "k"
    assert headers["Content-Length"] == str(len(body))


def test_a_page_and_its_redirect_come_back_as_http() -> None:
    standin = StripeStandIn()
    status, headers, body = exchange(
        standin, b"GET /checkout/cs_test_x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert status == 404
    assert headers["Content-Type"].startswith("text/html")
    assert b"No such checkout.session" in body


def test_the_date_header_is_the_stand_ins_own_clock_once() -> None:
    standin = StripeStandIn(clock=lambda: 1_767_225_600.0)  # 2026-01-01T00:00:00Z
    standin.clock.advance(86_400)
    _, headers, _ = exchange(
        standin, b"GET /_standin/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert headers["Date"] == "Fri, 02 Jan 2026 00:00:00 GMT"
