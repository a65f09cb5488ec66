"""Projects, their apps and keys, and their prices (the admin API and the catalog)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from billing.domain.tenancy import ApiKeyInfo, App, Price, Project


class ProjectStore(Protocol):
    def allocate_id(self) -> str:
        """A project id never handed out before."""

    def create(self, project: Project) -> None:
        """Store a new project; ConflictError when its id is taken."""

    def get(self, project_id: str) -> Project | None: ...

    def list(self) -> list[Project]: ...

    def replace(self, project: Project, now: datetime) -> None:
        """Overwrite an existing project; NotFoundError when it does not exist."""


class AppStore(Protocol):
    def create(self, app: App, key_hash: str, key_prefix: str) -> None:
        """Store the app and its first key together; ConflictError if the key is registered."""

    def get(self, app_id: str) -> App | None: ...

    def list(self, project_id: str) -> list[tuple[App, list[ApiKeyInfo]]]: ...

    def rotate(
        self, app: App, new_key_hash: str, new_key_prefix: str, old_keys_expire_at: datetime
    ) -> int:
        """Add a key; make the app's other keys expire at the given time. Returns how many."""

    def deactivate(self, app: App) -> None:
        """Turn the app and every key of it off, together."""


class PriceStore(Protocol):
    def put(self, price: Price) -> None:
        """Register or update a price; ConflictError when another project owns the id."""

    def get(self, stripe_price_id: str) -> Price | None: ...

    def list(self, project_id: str) -> list[Price]: ...

    def remove(self, stripe_price_id: str, project_id: str) -> None:
        """NotFoundError when that project has no such price."""
