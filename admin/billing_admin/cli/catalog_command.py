"""``billing-admin catalog plan|apply|check FILE``: catalog as code (see
billing_admin.domain.catalog).

``plan`` prints what Stripe and the price table need to follow the file; ``apply`` makes it
so, one progress line per change on stderr, and a second apply changes nothing; ``check``
exits 1 listing the drift, 0 when in sync (for CI). A file that does not validate exits 2
naming the path of the problem, before anything is read or changed. Kept apart from main.py,
which registers it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from billing import wiring
from billing.errors import ValidationError
from billing_admin import wiring as admin_wiring
from billing_admin.domain.catalog import Catalog, Change, parse_catalog
from billing_admin.services import catalog as catalog_service

EXIT_DRIFT = 1


class CatalogOutcome(NamedTuple):
    data: Any
    text: str
    code: int = 0


def load_catalog(path: str) -> Catalog:
    """The validated catalog in ``path`` (YAML); ValidationError on anything wrong with it."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ValidationError("file", f"cannot read {path}: {exc.strerror}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}" if where is not None else ""
        raise ValidationError("file", f"{path} is not valid YAML{at}") from None
    return parse_catalog(document)


def _stores() -> dict[str, Any]:
    return {
        "projects": wiring.project_store(),
        "prices": wiring.price_store(),
        "stripe": admin_wiring.stripe_catalog(),
    }


def _listing(changes: list[Change]) -> list[str]:
    return [f"  {change.describe()}" for change in changes]


def _data(path: str, changes: list[Change], **more: Any) -> dict[str, Any]:
    return {
        "file": path,
        "in_sync": not changes,
        "changes": [change.as_dict() for change in changes],
        **more,
    }


def plan_command(args: argparse.Namespace) -> CatalogOutcome:
    changes = catalog_service.plan(load_catalog(args.file), **_stores())
    if not changes:
        return CatalogOutcome(_data(args.file, changes), f"in sync with {args.file}: no changes")
    lines = [f"{len(changes)} change(s) to follow {args.file}:", *_listing(changes)]
    return CatalogOutcome(_data(args.file, changes), "\n".join(lines))


def apply_command(args: argparse.Namespace) -> CatalogOutcome:
    catalog = load_catalog(args.file)
    quiet = getattr(args, "json", False)
    done = 0

    def progress(change: Change) -> None:
        nonlocal done
        done += 1
        if not quiet:
            print(f"[{done}] {change.describe()}", file=sys.stderr, flush=True)

    changes = catalog_service.apply(catalog, progress=progress, **_stores())
    data = _data(args.file, changes, applied=len(changes))
    data["in_sync"] = True
    if not changes:
        return CatalogOutcome(data, f"in sync with {args.file}: nothing to apply")
    return CatalogOutcome(
        data, f"applied {len(changes)} change(s); Stripe and the price table follow {args.file}"
    )


def check_command(args: argparse.Namespace) -> CatalogOutcome:
    changes = catalog_service.plan(load_catalog(args.file), **_stores())
    if not changes:
        return CatalogOutcome(_data(args.file, changes), f"in sync with {args.file}")
    lines = [
        f"drift: {len(changes)} change(s) needed to follow {args.file}:",
        *_listing(changes),
        f"run `billing-admin catalog apply {args.file}` to make them",
    ]
    return CatalogOutcome(_data(args.file, changes), "\n".join(lines), EXIT_DRIFT)


def add_catalog_commands(groups: Any, common: argparse.ArgumentParser) -> Any:
    """``catalog plan|apply|check FILE``; returns the three parsers' group."""
    catalog = groups.add_parser(
        "catalog", help="catalog as code: products, prices and feature codes from a file"
    )
    actions = catalog.add_subparsers(required=True)
    for name, command, helptext in (
        ("plan", plan_command, "print the changes Stripe and the price table need"),
        ("apply", apply_command, "make those changes (idempotent)"),
        ("check", check_command, "exit 1 when Stripe or the price table drifted (for CI)"),
    ):
        parser = actions.add_parser(name, parents=[common], help=helptext)
        parser.add_argument("file", help="the catalog, YAML (see catalog/demo.yaml)")
        parser.set_defaults(command=command)
    return actions
