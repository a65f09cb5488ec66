"""The HTTP side of the gateway, driven over a Unix socket pair (no TCP in unit tests)."""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass

import pytest

from billing_devstack.gateway import MAX_BODY_BYTES, Gateway, GatewayRequestHandler
from billing_devstack.template import ApiRoute
from tests.unit.devstack.conftest import FakeInvoker, ok


@dataclass
class _Server:
    gateway: Gateway


def exchange(gateway: Gateway, raw: bytes) -> bytes:
    """Send one raw HTTP request to a GatewayRequestHandler and return the raw answer."""
    client, server_side = socket.socketpair()
    handler = threading.Thread(
        target=GatewayRequestHandler,
        args=(server_side, ("127.0.0.1", 50000), _Server(gateway)),
        daemon=True,
    )
    handler.start()
    client.sendall(raw)
    client.shutdown(socket.SHUT_WR)
    handler.join(10)
    assert not handler.is_alive()
    server_side.close()  # what the HTTP server does once the handler returns
    answer = b""
    while chunk := client.recv(65536):
        answer += chunk
    client.close()
    return answer


def status_and_body(answer: bytes) -> tuple[int, bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


def test_a_request_goes_through_and_the_answer_comes_back(invoker: FakeInvoker) -> None:
    invoker.answers["Echo"] = lambda event: ok(
        {
            "statusCode": 200,
            "body": json.dumps(
                {"got": event["body"], "ip": event["requestContext"]["identity"]["sourceIp"]}
            ),
        }
    )(event)
    gateway = Gateway([ApiRoute("POST", "/echo", "Echo")], invoker)
    answer = exchange(
        gateway,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    )
    status, body = status_and_body(answer)
    assert status == 200
    assert json.loads(body) == {"got": "hello", "ip": "127.0.0.1"}
    assert b"Content-Length: " in answer


def test_a_chunked_body_is_read(invoker: FakeInvoker) -> None:
    gateway = Gateway([ApiRoute("POST", "/echo", "Echo")], invoker)
    raw = (
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    )
    status, _ = status_and_body(exchange(gateway, raw))
    assert status == 200
    assert invoker.events_of("Echo")[0]["body"] == "abcde"


def test_a_body_over_10_mib_is_refused_with_413_without_invoking(invoker: FakeInvoker) -> None:
    gateway = Gateway([ApiRoute("POST", "/echo", "Echo")], invoker)
    raw = f"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {MAX_BODY_BYTES + 1}\r\n\r\n".encode()
    status, body = status_and_body(exchange(gateway, raw + b"x" * 1024))
    assert status == 413
    assert json.loads(body) == {"message": "Request Too Long"}
    assert invoker.calls == []


def test_a_body_of_exactly_10_mib_is_accepted(invoker: FakeInvoker) -> None:
    gateway = Gateway([ApiRoute("POST", "/echo", "Echo")], invoker)
    head = f"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {MAX_BODY_BYTES}\r\n\r\n".encode()
    status, _ = status_and_body(exchange(gateway, head + b"a" * MAX_BODY_BYTES))
    assert status == 200


@pytest.mark.parametrize("method", ["TRACE", "QUERY", "PROPFIND"])
def test_any_method_no_route_serves_gets_api_gateways_403_not_a_501(
    invoker: FakeInvoker, method: str
) -> None:
    gateway = Gateway([ApiRoute("GET", "/health", "Health")], invoker)
    answer = exchange(gateway, f"{method} /health HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert status_and_body(answer) == (403, b'{"message":"Missing Authentication Token"}')
    assert invoker.calls == []


@pytest.mark.parametrize(
    "raw",
    [
        b"GET /echo?" + b"x" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",  # http.server: 414
        b"GET /echo HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(120)) + b"\r\n",
        b"GET /echo HTTP/1.1\r\nX-Long: " + b"v" * 70_000 + b"\r\n\r\n",  # 431
        b"GET /echo HTTP/2.0\r\nHost: x\r\n\r\n",  # 505
        b"GET /echo HTTP/1.1 extra\r\nHost: x\r\n\r\n",  # 400
        b"GET /echo HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    ],
    ids=["uri-too-long", "too-many-headers", "header-too-long", "http-2", "bad-line", "bad-length"],
)
def test_what_http_server_cannot_take_is_a_json_400_before_any_route(
    invoker: FakeInvoker, raw: bytes
) -> None:
    """The API documents 400 on every route for requests API Gateway cannot parse; the local
    gateway answers http.server's own refusals the same way (not 414/431/505 in HTML)."""
    gateway = Gateway([ApiRoute("GET", "/echo", "Echo")], invoker)
    answer = exchange(gateway, raw)
    status, body = status_and_body(answer)
    assert (status, json.loads(body)) == (400, {"message": "Bad Request"})
    assert b"Content-Type: application/json" in answer
    assert invoker.events_of("Echo") == []
