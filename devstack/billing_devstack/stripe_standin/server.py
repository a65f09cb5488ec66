"""The stand-in over HTTP (stdlib ``ThreadingHTTPServer``), and its webhook sender with it.

:class:`StandInService` is what the local stack and ``python -m billing_devstack.stripe_standin``
run: bind the port, serve in a daemon thread, deliver webhooks in another; ``stop()`` ends both.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from billing_devstack.stripe_standin.core import StripeStandIn
from billing_devstack.stripe_standin.webhooks import WebhookSender

logger = logging.getLogger("billing_devstack.stripe_standin")

MAX_BODY_BYTES = 1024 * 1024


class StandInServer(ThreadingHTTPServer):
    """An HTTP server whose every request goes to one :class:`StripeStandIn`."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], standin: StripeStandIn) -> None:
        super().__init__(address, StandInRequestHandler)
        self.standin = standin


class StandInRequestHandler(BaseHTTPRequestHandler):
    """Reads the request, asks the stand-in, writes its answer; nothing else."""

    protocol_version = "HTTP/1.1"
    server: StandInServer

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 <= length <= MAX_BODY_BYTES:
            self.send_error(413)
            return
        body = self.rfile.read(length)
        status, headers, answer = self.server.standin.handle(
            self.command, self.path, dict(self.headers.items()), body
        )
        try:
            # Not send_response(): it adds a Date of its own; the stand-in's (its clock) is in
            # ``headers``.
            self.log_request(status)
            self.send_response_only(status)
            self.send_header("Server", self.version_string())
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
        except (BrokenPipeError, ConnectionResetError):
            # The caller gave up (a delay fault outlived its read timeout): nobody to answer.
            self.close_connection = True
            logger.info("%s %s -> %d, but the caller had gone", self.command, self.path, status)
            return
        logger.info("%s %s -> %d", self.command, self.path, status)

    def log_message(self, format: str, *args: Any) -> None:
        """Access lines go to logging at debug level instead of stderr."""
        logger.debug(format, *args)

    do_GET = do_POST = do_DELETE = _serve  # noqa: N815 - http.server's dispatch names


class StandInService:
    """A stand-in served on ``host:port`` (0: any free port), sending webhooks to
    ``webhook_url`` signed with ``webhook_secrets`` (none: events are only recorded)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8102,
        webhook_url: str | None = None,
        webhook_secrets: Sequence[str] = ("whsec_local_standin",),
    ) -> None:
        self.sender = WebhookSender(webhook_url, webhook_secrets) if webhook_url else None
        self.standin = StripeStandIn(webhooks=self.sender)
        self.server = StandInServer((host, port), self.standin)
        bound_host, bound_port = self.server.server_address[:2]
        shown = "127.0.0.1" if bound_host in ("0.0.0.0", "") else str(bound_host)
        self.url = f"http://{shown}:{bound_port}"
        self.standin.base_url = self.url
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Serve and deliver in daemon threads; returns at once."""
        if self.sender is not None:
            self.sender.start()
        self._thread = threading.Thread(
            target=self.server.serve_forever, name="stripe-standin", daemon=True
        )
        self._thread.start()
        logger.info("Stripe stand-in on %s (webhooks to %s)", self.url, self.webhook_url)

    @property
    def webhook_url(self) -> str | None:
        """Where events go, or None when they are only recorded."""
        return self.sender.url if self.sender is not None else None

    def stop(self) -> None:
        """Stop serving, then stop delivering (undelivered events are dropped)."""
        if self._thread is not None and self._thread.is_alive():
            self.server.shutdown()
        self.server.server_close()
        if self.sender is not None:
            self.sender.stop()
