"""The identity every window's MRR must keep, per currency: what it started at, plus and
minus each movement, is what it ended at (docs/metrics.md, "Movements")."""

from __future__ import annotations

from typing import Any


def bridged_mrr_end(figures: dict[str, Any]) -> int:
    """``mrr_start`` carried through the window's movements (one currency's revenue figures)."""
    moved = figures["movements"]
    return int(
        figures["mrr_start"]
        + moved["new"]
        + moved["reactivation"]
        + moved["expansion"]
        - moved["contraction"]
        - moved["churned"]
    )
