"""The DynamoDB fault proxy of the resilience tests (tests/support/dynamo_faults.py), in front
of a tiny fake DynamoDB, all on unix sockets (unit tests may not open TCP sockets)."""

from __future__ import annotations

import http.client
import json
import socket
import socketserver
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from botocore.parsers import JSONParser
from botocore.retries.standard import RetryContext, StandardRetryConditions

from tests.support.dynamo_faults import DynamoFaultProxy, Fault, error_body

TARGET_PREFIX = "DynamoDB_20120810."
UPSTREAM_ANSWER = b'{"Item":{"id":{"S":"1"}}}'


class UnixConnection(http.client.HTTPConnection):
    """HTTP over a unix socket."""

    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=10)
        self.unix_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(self.unix_path)


@dataclass
class FakeDynamo:
    """Answers every request 200 with UPSTREAM_ANSWER and remembers (operation, Host, body)."""

    path: str
    received: list[tuple[str, str, bytes]] = field(default_factory=list)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                target = self.headers.get("X-Amz-Target", "")
                received.append((target, self.headers.get("Host", ""), body))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-amz-json-1.0")
                self.send_header("x-amz-crc32", "1234")
                self.send_header("Content-Length", str(len(UPSTREAM_ANSWER)))
                self.end_headers()
                self.wfile.write(UPSTREAM_ANSWER)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


@pytest.fixture
def socket_dir() -> Iterator[Path]:
    """Short paths: a unix socket's path is limited to ~100 bytes."""
    with tempfile.TemporaryDirectory(prefix="dfp") as directory:
        yield Path(directory)


@pytest.fixture
def upstream(socket_dir: Path) -> Iterator[FakeDynamo]:
    fake = FakeDynamo(str(socket_dir / "dynamo.sock"))

    class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
        daemon_threads = True

    server = Server(fake.path, fake.handler())
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def proxy(socket_dir: Path, upstream: FakeDynamo) -> Iterator[DynamoFaultProxy]:
    listen = str(socket_dir / "proxy.sock")
    with DynamoFaultProxy(lambda: UnixConnection(upstream.path), listen_path=listen) as running:
        yield running


def call(
    proxy: DynamoFaultProxy, operation: str, body: str = "{}"
) -> tuple[int, bytes, dict[str, str]]:
    """One DynamoDB-style request through the proxy: (status, body, headers)."""
    assert proxy.listen_path is not None
    connection = UnixConnection(proxy.listen_path)
    try:
        connection.request(
            "POST",
            "/",
            body=body.encode(),
            headers={
                "Host": "127.0.0.1:8100",
                "X-Amz-Target": TARGET_PREFIX + operation,
                "Content-Type": "application/x-amz-json-1.0",
            },
        )
        response = connection.getresponse()
        return response.status, response.read(), dict(response.getheaders())
    finally:
        connection.close()


def test_requests_pass_through_unchanged_and_are_counted(
    proxy: DynamoFaultProxy, upstream: FakeDynamo
) -> None:
    status, body, headers = call(proxy, "GetItem", '{"TableName":"T"}')
    assert (status, body, headers["x-amz-crc32"]) == (200, UPSTREAM_ANSWER, "1234")
    assert upstream.received == [
        (TARGET_PREFIX + "GetItem", "127.0.0.1:8100", b'{"TableName":"T"}')
    ]  # the Host header SigV4 signed is kept
    assert proxy.plan.seen() == {"GetItem": 1}
    assert proxy.plan.faulted() == {}


def test_throttling_the_next_requests_of_one_operation(
    proxy: DynamoFaultProxy, upstream: FakeDynamo
) -> None:
    proxy.plan.fail(Fault.THROTTLING, times=2, operations=["TransactWriteItems"])
    assert call(proxy, "GetItem")[0] == 200  # another operation: untouched
    first, second = call(proxy, "TransactWriteItems"), call(proxy, "TransactWriteItems")
    for status, body, _ in (first, second):
        assert status == 400
        assert json.loads(body)["__type"].endswith("#ThrottlingException")
    assert not proxy.plan.active
    assert call(proxy, "TransactWriteItems")[0] == 200  # the plan is used up
    assert [target for target, _, _ in upstream.received] == [
        TARGET_PREFIX + "GetItem",
        TARGET_PREFIX + "TransactWriteItems",
    ]
    assert proxy.plan.faulted() == {"TransactWriteItems": 2}
    assert proxy.plan.seen() == {"GetItem": 1, "TransactWriteItems": 3}


def test_a_fault_without_a_count_lasts_until_cleared(
    proxy: DynamoFaultProxy, upstream: FakeDynamo
) -> None:
    proxy.plan.fail(Fault.SERVER_ERROR)
    statuses = [call(proxy, operation)[0] for operation in ("GetItem", "Query", "PutItem")]
    assert statuses == [500, 500, 500]
    assert upstream.received == []
    proxy.plan.clear()
    assert call(proxy, "GetItem")[0] == 200


def test_a_dropped_connection_gets_no_answer(proxy: DynamoFaultProxy, upstream: FakeDynamo) -> None:
    proxy.plan.fail(Fault.DROP, times=1)
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        call(proxy, "GetItem")
    assert upstream.received == []
    assert proxy.plan.faulted() == {"GetItem": 1}


@pytest.mark.parametrize("fault", [Fault.LOST_ANSWER_ERROR, Fault.LOST_ANSWER_DROP])
def test_a_lost_answer_reaches_dynamodb_but_not_the_caller(
    proxy: DynamoFaultProxy, upstream: FakeDynamo, fault: Fault
) -> None:
    proxy.plan.fail(fault, times=1, operations=["TransactWriteItems"])
    if fault is Fault.LOST_ANSWER_DROP:
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
            call(proxy, "TransactWriteItems", '{"token":"t1"}')
    else:
        status, body, _ = call(proxy, "TransactWriteItems", '{"token":"t1"}')
        assert status == 500
        assert json.loads(body)["__type"].endswith("#InternalServerError")
    assert upstream.received == [
        (TARGET_PREFIX + "TransactWriteItems", "127.0.0.1:8100", b'{"token":"t1"}')
    ]
    (seen,) = proxy.plan.mentioning("t1")
    assert (seen.fault, seen.upstream_status) == (fault, 200)


def test_only_the_requests_about_one_item_can_be_faulted_and_found(
    proxy: DynamoFaultProxy,
) -> None:
    proxy.plan.fail(Fault.SERVER_ERROR, times=1, about="evt_b")
    about_a, about_b = '{"Key":{"event_id":{"S":"evt_a"}}}', '{"Key":{"event_id":{"S":"evt_b"}}}'
    assert [call(proxy, "GetItem", body)[0] for body in (about_a, about_b, about_b)] == [
        200,
        500,
        200,
    ]
    assert [r.fault for r in proxy.plan.mentioning("evt_b")] == [Fault.SERVER_ERROR, None]
    assert [r.fault for r in proxy.plan.mentioning("evt_a")] == [None]


def test_an_unreachable_dynamodb_is_an_unreachable_proxy(
    socket_dir: Path, upstream: FakeDynamo
) -> None:
    listen = str(socket_dir / "lonely.sock")
    with DynamoFaultProxy(listen_path=listen) as lonely:  # no upstream yet
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
            call(lonely, "GetItem")
        (seen,) = lonely.plan.requests()
        assert (seen.fault, seen.upstream_status) == (None, None)
        lonely.forward_to(lambda: UnixConnection(upstream.path))
        assert call(lonely, "GetItem")[0] == 200


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        (Fault.THROTTLING, "ThrottlingException"),
        (Fault.THROUGHPUT_EXCEEDED, "ProvisionedThroughputExceededException"),
        (Fault.SERVER_ERROR, "InternalServerError"),
        (Fault.LOST_ANSWER_ERROR, "InternalServerError"),
    ],
)
def test_botocore_reads_each_error_as_its_code_and_retries_it(fault: Fault, code: str) -> None:
    """What makes the faults meaningful: botocore's standard retry mode (which PynamoDB uses)
    parses the answer to DynamoDB's error code and counts it retryable."""
    assert fault.error is not None
    status, answered_code = fault.error
    assert answered_code == code
    operation = (
        botocore.session.get_session().get_service_model("dynamodb").operation_model("GetItem")
    )
    assert operation.output_shape is not None
    body = error_body(code)
    parsed = JSONParser().parse(
        {"status_code": status, "headers": {}, "body": body}, operation.output_shape
    )
    assert parsed["Error"]["Code"] == code
    context = RetryContext(
        attempt_number=1,
        operation_model=operation,
        parsed_response=parsed,
        http_response=AWSResponse("http://x", status, HTTPHeaders(), None),
    )
    assert StandardRetryConditions().is_retryable(context)
