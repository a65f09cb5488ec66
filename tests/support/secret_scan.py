"""``python -m tests.support.secret_scan [FILE...]``: no secret in the repository's files.

Scans the named files, or every file a clone has (tracked, or new and not ignored), for the
secrets this service handles: Stripe secret and restricted keys (``sk_live_``, ``sk_test_``,
``rk_live_``, ``rk_test_``), webhook signing secrets (``whsec_``), AWS access key ids and
secret access keys, and private key blocks. Prints ``file:line: kind`` for each (never the
value) and exits 1. ``tests/unit/test_secret_scan.py`` runs it over the repository in
``make test``; the pre-commit hook runs it over the staged files (docs/testing.md).

A real key's body is random letters and digits, so the fakes the tests and docs need are
written as words (``sk_test_local_standin``, ``whsec_unit_test``): an underscore ends the body,
and a body shorter than :data:`MIN_BODY` is no key. A fake that has to look real (a vendor's
documented example) is listed, with its reason, in :data:`DOCUMENTED_FAKES`.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.markdown_links import REPO_ROOT, clone_files

# Stripe's keys carry 24 to 99+ random characters after the prefix; webhook secrets 32.
MIN_BODY = 16

PATTERNS: dict[str, re.Pattern[str]] = {
    "Stripe secret key": re.compile(
        rf"(?<![A-Za-z0-9_])[sr]k_(?:live|test)_[A-Za-z0-9]{{{MIN_BODY},}}"
    ),
    "Stripe webhook signing secret": re.compile(
        rf"(?<![A-Za-z0-9_])whsec_[A-Za-z0-9+/=]{{{MIN_BODY},}}"
    ),
    "AWS access key id": re.compile(
        r"(?<![A-Z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Z0-9])"
    ),
    "AWS secret access key": re.compile(
        r"(?i)aws_?secret_?access_?key[\"']?\s*[:=]\s*[\"']?"
        r"(?P<value>[A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])"
    ),
    "private key": re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"),
}

# Values that look real but are published as examples: never a secret. Add one only with its
# source, in review.
DOCUMENTED_FAKES: dict[str, str] = {
    "AKIAIOSFODNN7EXAMPLE": "AWS's documented example access key id",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY": "AWS's documented example secret access key",
}


@dataclass(frozen=True, order=True)
class Finding:
    """A possible secret: where and what kind; the value itself is never kept or printed."""

    path: str
    line: int
    kind: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.kind}"


def findings_in(text: str, path: str) -> Iterator[Finding]:
    """Every possible secret in ``text`` (the contents of ``path``), documented fakes aside."""
    for kind, pattern in PATTERNS.items():
        for match in pattern.finditer(text):
            value = match.groupdict().get("value") or match.group(0)
            if value not in DOCUMENTED_FAKES:
                yield Finding(path, text.count("\n", 0, match.start()) + 1, kind)


def scan(paths: Iterable[str], root: Path = REPO_ROOT) -> list[Finding]:
    """The findings of the given files (relative to ``root``), sorted; binary files, which
    hold no text key, are passed over."""
    found: list[Finding] = []
    for path in paths:
        data = (root / path).read_bytes()
        if b"\0" in data:
            continue
        found.extend(findings_in(data.decode("utf-8", errors="replace"), path))
    return sorted(found)


def main(argv: list[str]) -> int:
    findings = scan(argv or clone_files())
    for finding in findings:
        print(finding)
    if findings:
        print(
            f"{len(findings)} possible secret(s): remove them (and rotate any real one); a fake "
            "is written as words (sk_test_local_standin), or, if it must look real, listed in "
            "DOCUMENTED_FAKES of tests/support/secret_scan.py with its source"
        )
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
