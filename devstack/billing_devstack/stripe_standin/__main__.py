"""``python -m billing_devstack.stripe_standin``: the Stripe stand-in alone, in the foreground.

The webhook URL comes from ``--webhook-url`` or ``STANDIN_WEBHOOK_URL`` (none: events are only
recorded, see ``GET /_standin/events``); the signing secret from ``--webhook-secret`` or
``STRIPE_WEBHOOK_SECRET`` (default ``whsec_local_standin``; comma-separated: one ``v1`` each).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from types import FrameType

from billing_devstack.config import DEFAULT_STRIPE_PORT, STANDIN_WEBHOOK_SECRET
from billing_devstack.stripe_standin.server import StandInService


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m billing_devstack.stripe_standin", description=__doc__
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_STRIPE_PORT, help="0: any free port")
    parser.add_argument(
        "--webhook-url",
        default=os.environ.get("STANDIN_WEBHOOK_URL"),
        help="where to POST signed events (default: $STANDIN_WEBHOOK_URL; none: not sent)",
    )
    parser.add_argument(
        "--webhook-secret",
        default=os.environ.get("STRIPE_WEBHOOK_SECRET") or STANDIN_WEBHOOK_SECRET,
        help="signing secret(s), comma-separated (default: $STRIPE_WEBHOOK_SECRET or local)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Serve until Ctrl-C or SIGTERM."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    secrets = [part.strip() for part in args.webhook_secret.split(",") if part.strip()]
    try:
        service = StandInService(args.host, args.port, args.webhook_url, secrets)
    except OSError as exc:
        print(f"stripe stand-in: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def handler(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    service.start()
    print(f"Stripe stand-in ready on {service.url} (Ctrl-C stops)", flush=True)
    while not stop.wait(1.0):
        pass
    service.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
