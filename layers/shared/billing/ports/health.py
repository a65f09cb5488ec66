"""The readiness probe's port."""

from __future__ import annotations

from typing import Protocol


class HealthProbe(Protocol):
    def check(self) -> None:
        """Return when the dependency answers; raise DependencyUnavailableError otherwise."""
