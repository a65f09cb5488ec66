"""A local API Gateway (REST API, Lambda proxy integration) routed from template.yaml.

Requests become payload-v1 proxy events, routes behind an authorizer go through
:class:`~billing_devstack.authorizer.AuthorizerGate`, and the handler's answer is written back
as API Gateway would, including its fixed error bodies (so clients see the same answers locally as
in AWS): unknown route -> 403 "Missing Authentication Token", handler crash -> 502, body over
10 MiB -> 413, a request the HTTP server cannot parse (or whose line or headers are too long)
-> 400. The authorizer's refusals (401, 403, and 500 when it failed) are answered as the
API's ``GatewayResponses`` in the template customize them, else with API Gateway's defaults.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import mimetypes
import re
import socket
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from billing_devstack.authorizer import AuthorizerGate
from billing_devstack.config import ACCOUNT_ID, REGION
from billing_devstack.lambda_runtime import Invoker
from billing_devstack.template import ApiRoute, GatewayResponse

logger = logging.getLogger("billing_devstack.gateway")

MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
DRAIN_LIMIT_BYTES = 64 * 1024 * 1024  # beyond that, a refused body is cut off, not read
MISSING_TOKEN = "Missing Authentication Token"  # noqa: S105 - API Gateway's message


@dataclass(frozen=True)
class HttpRequest:
    """What the HTTP server read: method, raw target (path + query), headers in order, body."""

    method: str
    target: str
    headers: Sequence[tuple[str, str]] = ()
    body: bytes = b""
    source_ip: str = "127.0.0.1"


@dataclass(frozen=True)
class HttpResponse:
    """What the HTTP server writes back."""

    status: int
    headers: Sequence[tuple[str, str]] = ()
    body: bytes = b""

    def json(self) -> Any:
        """The body parsed as JSON (tests and tools)."""
        return json.loads(self.body)


def message_response(status: int, message: str | None) -> HttpResponse:
    """API Gateway's own answers: ``{"message": ...}`` as JSON."""
    body = json.dumps({"message": message}, separators=(",", ":")).encode()
    return HttpResponse(status, [("Content-Type", "application/json")], body)


def gateway_response(
    route: ApiRoute, response_type: str | None, status: int, message: str | None
) -> HttpResponse:
    """API Gateway's own answer of a gateway response type: as the route's API customizes it
    (status, static headers, ``application/json`` template), else ``{"message": ...}``."""
    custom = None if response_type is None else route.gateway_response(response_type, status)
    if custom is None:
        return message_response(status, message)
    return _customized(custom, response_type or "", status, message)


def _customized(
    custom: GatewayResponse, response_type: str, status: int, message: str | None
) -> HttpResponse:
    if custom.body is None:
        body = message_response(status, message).body
    else:
        # Not VTL: API Gateway only fills in variables; here, those an error body uses.
        body = (
            custom.body.replace("$context.error.messageString", json.dumps(message))
            .replace("$context.error.message", message or "")
            .replace("$context.error.responseType", response_type)
            .encode()
        )
    headers = list(custom.headers)
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.insert(0, ("Content-Type", "application/json"))
    return HttpResponse(custom.status or status, headers, body)


# ---------------------------------------------------------------------- routing
@dataclass(frozen=True)
class _CompiledRoute:
    route: ApiRoute
    pattern: re.Pattern[str]
    specificity: tuple[int, int]


def _compile(route: ApiRoute) -> _CompiledRoute:
    """``/a/{id}`` -> regex; ``{proxy+}`` is greedy. Literal segments outrank parameters."""
    parts, params, greedy = [], 0, 0
    for segment in route.path.strip("/").split("/"):
        match = re.fullmatch(r"\{([A-Za-z0-9_.-]+)(\+?)\}", segment)
        if match is None:
            parts.append(re.escape(segment))
        elif match.group(2):
            parts.append(f"(?P<{_group(match.group(1))}>.+)")
            greedy += 1
        else:
            parts.append(f"(?P<{_group(match.group(1))}>[^/]+)")
            params += 1
    pattern = re.compile("/" + "/".join(parts) if parts != [""] else "/")
    return _CompiledRoute(route, pattern, (greedy, params))


def _group(name: str) -> str:
    """Regex group names cannot hold ``-`` or ``.``; the original name is restored on match."""
    return "p_" + name.encode().hex()


class RouteTable:
    """The template's Api events, matched like API Gateway (literal segments first)."""

    def __init__(self, routes: Sequence[ApiRoute]) -> None:
        compiled = [_compile(route) for route in routes]
        self._routes = sorted(compiled, key=lambda item: item.specificity)

    @property
    def routes(self) -> tuple[ApiRoute, ...]:
        """Every route served, for tests comparing with template.yaml."""
        return tuple(item.route for item in self._routes)

    def pairs(self) -> set[tuple[str, str]]:
        """(METHOD, path) of every route."""
        return {(route.method, route.path) for route in self.routes}

    def match(self, method: str, path: str) -> tuple[ApiRoute, dict[str, str]] | None:
        """The route serving ``method path`` and its decoded path parameters, or None."""
        normalized = "/" + path.strip("/")
        for item in self._routes:
            if item.route.method not in (method, "ANY"):
                continue
            found = item.pattern.fullmatch(normalized)
            if found is not None:
                params = {
                    bytes.fromhex(key[2:]).decode(): unquote(value)
                    for key, value in found.groupdict().items()
                }
                return item.route, params
        return None


# ---------------------------------------------------------------------- events
def _query(query: str) -> tuple[dict[str, str] | None, dict[str, list[str]] | None]:
    pairs = parse_qsl(query, keep_blank_values=True)
    if not pairs:
        return None, None
    multi: dict[str, list[str]] = {}
    for key, value in pairs:
        multi.setdefault(key, []).append(value)
    return {key: values[-1] for key, values in multi.items()}, multi


def _headers(request: HttpRequest) -> tuple[dict[str, str], dict[str, list[str]]]:
    multi: dict[str, list[str]] = {}
    for name, value in request.headers:
        multi.setdefault(name, []).append(value)
    lowered = {name.lower() for name in multi}
    forwarded = {
        "X-Forwarded-For": request.source_ip,
        "X-Forwarded-Proto": "http",
    }
    for name, value in forwarded.items():
        if name.lower() not in lowered:
            multi[name] = [value]
    return {name: values[-1] for name, values in multi.items()}, multi


def _body(raw: bytes) -> tuple[str | None, bool]:
    """Text bodies pass as text; anything that is not UTF-8 is base64, flagged."""
    if not raw:
        return None, False
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode(), True


def build_event(
    route: ApiRoute, request: HttpRequest, path_params: Mapping[str, str], request_id: str
) -> dict[str, Any]:
    """The REST API proxy event (payload v1) API Gateway would send for this request."""
    split = urlsplit(request.target)
    path = unquote(split.path) or "/"
    query, multi_query = _query(split.query)
    headers, multi_headers = _headers(request)
    body, is_base64 = _body(request.body)
    now = datetime.now(UTC)
    return {
        "resource": route.path,
        "path": path,
        "httpMethod": request.method,
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": query,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": dict(path_params) or None,
        "stageVariables": None,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": route.api_id,
            "domainName": headers.get("Host") or headers.get("host") or "localhost",
            "extendedRequestId": request_id,
            "httpMethod": request.method,
            "identity": {
                "sourceIp": request.source_ip,
                "userAgent": next(
                    (v for k, v in headers.items() if k.lower() == "user-agent"), None
                ),
                "accessKey": None,
                "accountId": None,
                "caller": None,
                "user": None,
                "userArn": None,
            },
            "path": f"/{route.stage}{path}",
            "protocol": "HTTP/1.1",
            "requestId": request_id,
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "resourceId": route.function_id,
            "resourcePath": route.path,
            "stage": route.stage,
        },
        "body": body,
        "isBase64Encoded": is_base64,
    }


def method_arn(route: ApiRoute, method: str, path: str) -> str:
    """The ARN an authorizer's policy is evaluated against (the actual path, not the template's)."""
    return f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:{route.api_id}/{route.stage}/{method}{path}"


# ---------------------------------------------------------------------- responses
class MalformedResponseError(Exception):
    """The handler's answer is not a proxy response; API Gateway answers 502."""


def proxy_response(payload: Any, request_id: str) -> HttpResponse:
    """Turn a Lambda proxy response into HTTP (headers + multiValueHeaders, base64 aware)."""
    if not isinstance(payload, Mapping) or "statusCode" not in payload:
        raise MalformedResponseError("no statusCode")
    try:
        status = int(payload["statusCode"])
    except (TypeError, ValueError):
        raise MalformedResponseError("statusCode is not a number") from None
    raw = payload.get("body")
    if raw is not None and not isinstance(raw, str):
        raise MalformedResponseError("body is not a string")
    try:
        body = (
            base64.b64decode(raw or "") if payload.get("isBase64Encoded") else (raw or "").encode()
        )
    except binascii.Error:
        raise MalformedResponseError("body is not base64") from None
    headers = _response_headers(payload)
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", "application/json"))
    headers.append(("x-amzn-RequestId", request_id))
    return HttpResponse(status, headers, body)


def _response_headers(payload: Mapping[str, Any]) -> list[tuple[str, str]]:
    """multiValueHeaders win over headers for the same name, as in API Gateway."""
    merged: list[tuple[str, str]] = []
    for name, values in (payload.get("multiValueHeaders") or {}).items():
        merged += [(name, str(value)) for value in values or []]
    taken = {name.lower() for name, _ in merged}
    for name, value in (payload.get("headers") or {}).items():
        if name.lower() not in taken:
            merged.append((name, str(value)))
    skipped = ("content-length", "connection", "transfer-encoding")
    return [(name, value) for name, value in merged if name.lower() not in skipped]


def static_file(directory: Path, name: str) -> HttpResponse:
    """A file under ``directory`` (local-only assets such as Swagger UI), never outside it."""
    root = directory.resolve()
    target = (root / name.lstrip("/")).resolve()
    if not target.is_relative_to(root) or not target.is_file():
        return message_response(404, "Not Found")
    kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    return HttpResponse(200, [("Content-Type", kind)], target.read_bytes())


# ---------------------------------------------------------------------- the gateway
@dataclass
class Gateway:
    """Routes, authorizes and invokes; independent of the HTTP server (unit-testable)."""

    routes: Sequence[ApiRoute]
    invoker: Invoker
    authorizer_cache_ttl: int | None = None
    static_dirs: Mapping[str, Path] = field(default_factory=dict)
    table: RouteTable = field(init=False)
    gate: AuthorizerGate = field(init=False)

    def __post_init__(self) -> None:
        self.table = RouteTable(self.routes)
        self.gate = AuthorizerGate(self.invoker, self.authorizer_cache_ttl)

    def handle(self, request: HttpRequest) -> HttpResponse:
        """Answer one request as API Gateway + Lambda would."""
        path = unquote(urlsplit(request.target).path) or "/"
        for prefix, directory in self.static_dirs.items():
            if path.startswith(prefix) and request.method in ("GET", "HEAD"):
                return static_file(directory, path.removeprefix(prefix))
        found = self.table.match(request.method, path)
        if found is None:
            return message_response(403, MISSING_TOKEN)
        route, params = found
        request_id = str(uuid.uuid4())
        event = build_event(route, request, params, request_id)
        if route.authorizer is not None:
            decision = self.gate.check(
                route.authorizer, event, method_arn(route, request.method, path)
            )
            if not decision.allowed:
                return gateway_response(
                    route, decision.response_type, decision.status, decision.message
                )
            event["requestContext"]["authorizer"] = dict(decision.context)
        return self._invoke(route, event, request_id)

    def _invoke(self, route: ApiRoute, event: dict[str, Any], request_id: str) -> HttpResponse:
        result = self.invoker.invoke(route.function_id, event)
        if not result.ok:
            logger.error("%s failed: %s", route.function_id, result.error_message)
            return message_response(502, "Internal server error")
        try:
            return proxy_response(result.payload, request_id)
        except MalformedResponseError as exc:
            logger.error("%s returned a malformed proxy response: %s", route.function_id, exc)  # noqa: TRY400 - no traceback to show
            return message_response(502, "Internal server error")


# ---------------------------------------------------------------------- the HTTP server
class _RequestTooLargeError(Exception):
    pass


class GatewayServer(ThreadingHTTPServer):
    """ThreadingHTTPServer carrying the Gateway its handlers call."""

    daemon_threads = True
    # http.server's default backlog of 5 overflows when many clients connect at once; each
    # overflow costs the client a 1 s SYN retry.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], gateway: Gateway) -> None:
        self.gateway = gateway
        super().__init__(address, GatewayRequestHandler)


class GatewayRequestHandler(BaseHTTPRequestHandler):
    """Reads the request (capped at 10 MiB), hands it to the Gateway, writes the answer."""

    protocol_version = "HTTP/1.1"
    server_version = "billing-local-gateway"
    sys_version = ""
    timeout = 60
    server: GatewayServer

    def setup(self) -> None:
        super().setup()
        if self.connection.family in (socket.AF_INET, socket.AF_INET6):
            # Headers and body go out as separate writes: with Nagle's algorithm on, a
            # keep-alive client's delayed ACK held every body back ~40 ms. (Not for the Unix
            # sockets of the unit tests, which have no such option.)
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _serve(self) -> None:
        started = time.monotonic()
        try:
            body = self._read_body()
        except _RequestTooLargeError:
            self.close_connection = True
            self._write(message_response(413, "Request Too Long"), started)
            self._discard_body()
            return
        except ValueError:
            self.close_connection = True
            self._write(message_response(400, "Bad Request"), started)
            return
        request = HttpRequest(
            method=self.command,
            target=self.path,
            headers=list(self.headers.items()),
            body=body,
            source_ip=self.client_address[0],
        )
        self._write(self.server.gateway.handle(request), started)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0:
            raise ValueError("negative Content-Length")
        if length > MAX_BODY_BYTES:
            raise _RequestTooLargeError
        return self.rfile.read(length)

    def _discard_body(self) -> None:
        """Read what the client still sends, so it sees the 413 instead of a reset connection."""
        remaining = min(int(self.headers.get("Content-Length") or 0), DRAIN_LIMIT_BYTES)
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 65536))
            if not chunk:
                return
            remaining -= len(chunk)

    def _read_chunked(self) -> bytes:
        body = b""
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline().strip():  # trailers
                    pass
                return body
            if len(body) + size > MAX_BODY_BYTES:
                raise _RequestTooLargeError
            body += self.rfile.read(size)
            self.rfile.readline()

    def _write(self, response: HttpResponse, started: float) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)
        elapsed = (time.monotonic() - started) * 1000
        logger.info("%s %s -> %d (%.0f ms)", self.command, self.path, response.status, elapsed)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals of a request it cannot take (a malformed request line
        or header, a URI over 64 KiB: 414, too many or too long headers: 431, another HTTP
        version: 505) come here, before any route. Each is answered as API Gateway answers a
        request it cannot parse: 400 with a JSON message (every route documents 400), not
        http.server's HTML page under a status the API never lists."""
        logger.warning("refused before routing: %d %s", code, message or "")
        self.close_connection = True
        self.request_version = self.protocol_version  # unparsed: http.server would send no head
        body = message_response(HTTPStatus.BAD_REQUEST, "Bad Request").body
        self.send_response(HTTPStatus.BAD_REQUEST)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Access lines go through logging (see _write); http.server's stderr lines are dropped."""

    def log_error(self, format: str, *args: Any) -> None:
        """Protocol errors (bad request line, timeouts) go to the stack's log."""
        logger.warning(format, *args)

    def __getattr__(self, name: str) -> Any:
        """http.server dispatches on ``do_<METHOD>``: every method (TRACE, QUERY...) reaches the
        route table, which answers one no route serves as API Gateway does (403), never with
        http.server's 501."""
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)


def serve(gateway: Gateway, host: str, port: int) -> GatewayServer:
    """Bind the gateway (call ``serve_forever`` on the result, ``shutdown`` to stop)."""
    return GatewayServer((host, port), gateway)
