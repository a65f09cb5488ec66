"""``python -m billing_devstack run|up|down|status|invoke FN EVENT|webhook EVENT``
(docs/local-stack.md, Makefile)."""

from __future__ import annotations

import argparse
import sys

from billing_devstack.config import ConfigError, LocalConfig


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m billing_devstack", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="run the stack in the foreground (Ctrl-C stops it)")
    commands.add_parser("up", help="start the stack in the background and wait until it serves")
    commands.add_parser("down", help="stop the stack started by `up`")
    commands.add_parser("status", help="print whether the stack is up")
    invoke = commands.add_parser(
        "invoke",
        help="run one function on an event file, starting (then stopping) what it needs; "
        "no running stack needed",
    )
    invoke.add_argument("function", help="logical id in template.yaml, e.g. HealthFunction")
    invoke.add_argument("event_file", help="JSON event (events/*.json), or - for stdin")
    webhook = commands.add_parser(
        "webhook", help="sign a Stripe event like Stripe does and POST it to the running stack"
    )
    webhook.add_argument("event_file", help="a Stripe event (events/stripe/*.json)")
    webhook.add_argument(
        "--new-id", action="store_true", help="give it a fresh event id (else a replay)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Dispatch a command; configuration errors exit 2 with the variable named."""
    args = _parser().parse_args(argv)
    try:
        config = LocalConfig.from_env()
    except ConfigError as exc:
        print(f"local stack: {exc}", file=sys.stderr)
        return 2
    from billing_devstack import control, stack  # after parsing: `--help` stays instant

    if args.command == "run":
        return stack.run(config)
    if args.command == "invoke":
        from billing_devstack.invoke import invoke

        return invoke(config, args.function, args.event_file)
    if args.command == "webhook":
        return control.send_webhook(config, args.event_file, new_id=args.new_id)
    command = {"up": control.up, "down": control.down, "status": control.status}[args.command]
    return command(config)


if __name__ == "__main__":
    sys.exit(main())
