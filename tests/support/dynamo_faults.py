"""A fault-injecting HTTP proxy between the service and DynamoDB Local, for resilience tests.

The local stack's workers reach DynamoDB through it (``LOCAL_DYNAMODB_ENDPOINT``). It forwards
DynamoDB's JSON requests unchanged until the test tells it to fail some: answer a throttling
error or a 500, drop the connection, or let the request reach DynamoDB and lose the answer
(the write is applied, the caller cannot know). A fault lasts for the next N matching requests
or until cleared, optionally only for some operations (the ``X-Amz-Target`` header). Every
request is remembered with its operation, its body and the fault it got, so a test can count
retries or find the requests about one item.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import socketserver
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

ERROR_PREFIX = "com.amazonaws.dynamodb.v20120810#"
JSON_CONTENT_TYPE = "application/x-amz-json-1.0"
UPSTREAM_TIMEOUT = 30.0
# Never forwarded either way: they describe one connection, not the request.
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding"}
)


class Fault(StrEnum):
    """What a faulted request gets. Only the LOST_ANSWER ones reach DynamoDB."""

    THROTTLING = "throttling"  # 400 ThrottlingException
    THROUGHPUT_EXCEEDED = "throughput_exceeded"  # 400 ProvisionedThroughputExceededException
    SERVER_ERROR = "server_error"  # 500 InternalServerError
    DROP = "drop"  # the connection closed without an answer
    LOST_ANSWER_ERROR = "lost_answer_error"  # forwarded (and applied), then answered 500
    LOST_ANSWER_DROP = "lost_answer_drop"  # forwarded (and applied), then no answer

    @property
    def forwards(self) -> bool:
        """DynamoDB sees (and applies) the request; only its answer is lost."""
        return self in (Fault.LOST_ANSWER_ERROR, Fault.LOST_ANSWER_DROP)

    @property
    def error(self) -> tuple[int, str] | None:
        """The HTTP status and DynamoDB error code answered; None: the connection is dropped.
        botocore's standard retry mode retries all of them (throttling codes, 5xx, and
        connection errors)."""
        return _ERRORS.get(self)


_ERRORS = {
    Fault.THROTTLING: (400, "ThrottlingException"),
    Fault.THROUGHPUT_EXCEEDED: (400, "ProvisionedThroughputExceededException"),
    Fault.SERVER_ERROR: (500, "InternalServerError"),
    Fault.LOST_ANSWER_ERROR: (500, "InternalServerError"),
}


@dataclass(frozen=True)
class SeenRequest:
    """One request the proxy received, and what became of it."""

    operation: str  # "GetItem", "TransactWriteItems"... ("" without X-Amz-Target)
    body: str
    fault: Fault | None
    upstream_status: int | None  # DynamoDB's answer when forwarded (None: not forwarded)


@dataclass
class _Rule:
    fault: Fault
    remaining: int | None  # None: until cleared
    operations: frozenset[str]  # empty: every operation
    about: str | None  # only requests whose body contains it

    def matches(self, operation: str, body: str) -> bool:
        wanted = not self.operations or operation in self.operations
        return wanted and (self.about is None or self.about in body)


def operation_of(target: str | None) -> str:
    """``DynamoDB_20120810.GetItem`` -> ``GetItem``."""
    return (target or "").rpartition(".")[2]


class FaultPlan:
    """Which requests fail and how, and what was seen; shared by the handler threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rule: _Rule | None = None
        self._seen: list[SeenRequest] = []

    def fail(
        self,
        fault: Fault,
        times: int | None = None,
        operations: Iterable[str] = (),
        about: str | None = None,
    ) -> None:
        """Fault the next ``times`` requests (None: until :meth:`clear`) of ``operations``
        (short names like ``TransactWriteItems``; none given: all), and only those whose body
        contains ``about`` (an event id, a user id) if given. Replaces any earlier plan."""
        if times is not None and times < 1:
            raise ValueError("times must be >= 1 (or None: until cleared)")
        operations = frozenset(operation_of(o) for o in operations)
        with self._lock:
            self._rule = _Rule(fault, times, operations, about)

    def clear(self) -> None:
        """Forward everything again."""
        with self._lock:
            self._rule = None

    def take(self, operation: str, body: str) -> Fault | None:
        """The fault for this request now, counting it against the plan."""
        with self._lock:
            rule = self._rule
            if rule is None or not rule.matches(operation, body):
                return None
            if rule.remaining is not None:
                rule.remaining -= 1
                if rule.remaining == 0:
                    self._rule = None
            return rule.fault

    @property
    def active(self) -> bool:
        """Some requests are still to be faulted."""
        with self._lock:
            return self._rule is not None

    def record(self, request: SeenRequest) -> None:
        with self._lock:
            self._seen.append(request)

    def requests(self) -> list[SeenRequest]:
        """Every request so far, oldest first."""
        with self._lock:
            return list(self._seen)

    def seen(self) -> Counter[str]:
        """Requests received, per operation."""
        return Counter(r.operation for r in self.requests())

    def faulted(self) -> Counter[str]:
        """Requests that got a fault, per operation."""
        return Counter(r.operation for r in self.requests() if r.fault is not None)

    def mentioning(self, text: str) -> list[SeenRequest]:
        """The requests whose body contains ``text`` (an event id, a user id...)."""
        return [r for r in self.requests() if text in r.body]

    def forget(self) -> None:
        """Drop the history (the plan stays)."""
        with self._lock:
            self._seen.clear()


def error_body(code: str) -> bytes:
    """A DynamoDB JSON error, as botocore parses it (``__type`` -> the error code)."""
    message = f"injected by the fault proxy: {code}"
    return json.dumps({"__type": ERROR_PREFIX + code, "message": message}).encode()


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as botocore's connection pool expects
    timeout = UPSTREAM_TIMEOUT  # an idle client connection ends its thread eventually
    server: _Serving

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        text = body.decode(errors="replace")
        operation = operation_of(self.headers.get("X-Amz-Target"))
        plan = self.server.plan
        fault = plan.take(operation, text)
        upstream_status = None
        answer: tuple[int, list[tuple[str, str]], bytes] | None = None
        if fault is None or fault.forwards:
            answer = self._forward(body)
            upstream_status = answer[0] if answer else None
        plan.record(SeenRequest(operation, text, fault, upstream_status))
        error = fault.error if fault is not None else None
        if fault is None and answer is not None:
            self._answer(*answer)
        elif error is None:  # a dropped connection (or DynamoDB unreachable: so is the proxy)
            self._drop()
        else:
            status, code = error
            self._answer(status, [("Content-Type", JSON_CONTENT_TYPE)], error_body(code))

    do_GET = do_POST  # noqa: N815 - http.server's naming

    def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes] | None:
        """DynamoDB's answer (status, headers, body); None when it could not be reached."""
        upstream: http.client.HTTPConnection | None = None
        try:
            upstream = self.server.connect()
            # The client's Host header goes along unchanged: it is part of what SigV4 signed.
            upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for name, value in self.headers.items():
                if name.lower() not in _HOP_BY_HOP:
                    upstream.putheader(name, value)
            upstream.endheaders(body)
            response = upstream.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException):
            return None
        finally:
            if upstream is not None:
                upstream.close()
        headers = [
            (name, value)
            for name, value in response.getheaders()
            if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length"
        ]
        return response.status, headers, payload

    def _answer(self, status: int, headers: list[tuple[str, str]], payload: bytes) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _drop(self) -> None:
        """Close the connection without a byte of answer, as a dying endpoint does."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests read the plan's history instead."""


class _Serving(socketserver.BaseServer):
    """What the handler needs of its server (both server classes below provide it)."""

    plan: FaultPlan
    connect: Callable[[], http.client.HTTPConnection]


class _TcpServer(ThreadingHTTPServer, _Serving):
    daemon_threads = True


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer, _Serving):
    daemon_threads = True


Upstream = str | Callable[[], http.client.HTTPConnection]


class DynamoFaultProxy:
    """The proxy on a free loopback port (or, for unit tests, a unix socket ``listen_path``),
    forwarding to ``upstream``: DynamoDB Local's URL, or a function opening a connection.
    Without one yet (see :meth:`forward_to`), every request is dropped.

    Use it as a context manager; ``url`` is what LOCAL_DYNAMODB_ENDPOINT should say.
    """

    def __init__(self, upstream: Upstream | None = None, *, listen_path: str | None = None) -> None:
        self.plan = FaultPlan()
        self.listen_path = listen_path
        server: _TcpServer | _UnixServer
        if listen_path is None:
            server = _TcpServer(("127.0.0.1", 0), _ProxyHandler)
        else:
            server = _UnixServer(listen_path, _ProxyHandler)
        server.plan = self.plan
        self._server = server
        self.forward_to(upstream)
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), name="dynamo-fault-proxy", daemon=True
        )

    def forward_to(self, upstream: Upstream | None) -> None:
        """Where requests go from now on (the stack picks DynamoDB Local's port, so a test
        learns it only after starting the stack that points at this proxy)."""
        self._server.connect = _connector(upstream)

    @property
    def url(self) -> str:
        """The proxy's http://127.0.0.1:<port> (TCP only)."""
        address = self._server.server_address
        if not isinstance(address, tuple):
            raise TypeError("a proxy on a unix socket has no URL")
        return f"http://127.0.0.1:{address[1]}"

    def start(self) -> DynamoFaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(5)
        self._server.server_close()

    def __enter__(self) -> DynamoFaultProxy:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()


def _connector(upstream: Upstream | None) -> Callable[[], http.client.HTTPConnection]:
    if upstream is None:

        def nowhere() -> http.client.HTTPConnection:
            raise ConnectionRefusedError("the proxy has no upstream yet")

        return nowhere
    if callable(upstream):
        return upstream
    parts = urlsplit(upstream)
    if parts.scheme != "http" or not parts.hostname or parts.port is None:
        raise ValueError(f"upstream {upstream!r} is not an http://host:port URL")
    host, port = parts.hostname, parts.port
    return lambda: http.client.HTTPConnection(host, port, timeout=UPSTREAM_TIMEOUT)
