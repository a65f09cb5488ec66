"""Catalog as code: the products, prices and feature codes kept in the repository, and the plan
that brings Stripe and the service's price table to follow them.

Everything here is pure: the file's schema (pydantic, every error naming its dotted path), how
catalog entries are named in Stripe, and :func:`plan_project`, which compares the catalog with
what Stripe and the price table hold and answers the ordered list of changes to make. The same
function answers ``plan``, drives ``apply`` and judges ``check``; an empty plan means in sync.

Identity in Stripe (one Stripe account serves every project):

- a product is ``cat_<project_id>_<product_key>`` (created with that id);
- a price is the one holding the lookup key ``cat_<project_id>_<price_key>``; Stripe keeps
  lookup keys unique, and an amount never changes on a price, so a new amount is a new price
  that takes the lookup key over (``transfer_lookup_key``) while the old one is archived;
- price metadata ``project_id``, ``feature_code`` (codes joined by ","), ``catalog_key`` and,
  when set, ``trial_days`` / ``access_days``; product metadata ``project_id``, ``catalog_key``.

Archived prices of a catalog key keep their service row (their subscribers keep their price and
access), and their feature codes follow the catalog, in Stripe metadata and in the table alike.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
)
from pydantic import ValidationError as SchemaError

from billing.domain.allowances import (
    MAX_LIMIT,
    METER_EVENT_NAME_PATTERN,
    FeatureLimit,
    Reset,
    validate_feature_limits,
)
from billing.domain.ids import normalize_project_id
from billing.domain.tenancy import MAX_ACCESS_DAYS, MAX_INTERVAL_COUNT, Interval, Price
from billing.domain.text import validate_text
from billing.errors import ValidationError

CATALOG_PREFIX = "cat_"
MAX_TRIAL_DAYS = 730
MAX_UNIT_AMOUNT = 99_999_999  # Stripe's limit for unit_amount (8 digits)
MAX_METADATA_VALUE = 500  # Stripe's limit for one metadata value
FEATURE_SEPARATOR = ","
# Price metadata the catalog owns; any other key a person adds is left alone.
PRICE_TERM_KEYS = ("trial_days", "access_days")
_CATALOG_PRODUCT = re.compile(r"cat_([0-9]+)_")

Key = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")]
# The feature-code rule of billing.domain.grants (and of the price table).
FeatureCode = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]


# ---------------------------------------------------------------------- the file's schema
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class CatalogFeature(_Strict):
    """A feature with a limit: ``{code: api_calls, limit: 50000, reset: billing_period}``,
    optionally ``meter`` (the Stripe meter's event_name its usage is reported to)."""

    code: FeatureCode
    limit: int = Field(ge=0, le=MAX_LIMIT)
    reset: Reset
    meter: Annotated[str, Field(pattern=f"^{METER_EVENT_NAME_PATTERN}$")] | None = None

    def as_limit(self) -> FeatureLimit:
        return FeatureLimit(self.code, self.limit, self.reset, self.meter)


def _feature_kind(value: object) -> str:
    return "limited" if isinstance(value, dict | CatalogFeature) else "code"


# A feature code, or a mapping with a limit (CatalogFeature); errors name the one given.
FeatureEntry = Annotated[
    Annotated[FeatureCode, Tag("code")] | Annotated[CatalogFeature, Tag("limited")],
    Discriminator(_feature_kind),
]


class CatalogPrice(_Strict):
    key: Key
    amount: int = Field(ge=0, le=MAX_UNIT_AMOUNT, description="in the currency's minor unit")
    currency: Annotated[str, Field(pattern=r"^[a-z]{3}$")]
    interval: Interval
    interval_count: int = Field(default=1, ge=1, le=MAX_INTERVAL_COUNT)
    trial_days: int | None = Field(default=None, ge=1, le=MAX_TRIAL_DAYS)
    access_days: int | None = Field(default=None, ge=1, le=MAX_ACCESS_DAYS)
    features: list[FeatureEntry] = Field(min_length=1)

    @property
    def feature_codes(self) -> list[str]:
        return [f if isinstance(f, str) else f.code for f in self.features]

    @property
    def limits(self) -> tuple[FeatureLimit, ...]:
        return tuple(f.as_limit() for f in self.features if isinstance(f, CatalogFeature))

    @field_validator("interval_count")
    @classmethod
    def _one_time_counts_once(cls, value: int, info: ValidationInfo) -> int:
        if info.data.get("interval") == "one_time" and value != 1:
            raise ValueError("a one_time price has no interval_count (leave it at 1)")
        return value

    @field_validator("trial_days")
    @classmethod
    def _trial_is_recurring(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None and info.data.get("interval") == "one_time":
            raise ValueError("only recurring prices have a trial")
        return value

    @field_validator("access_days")
    @classmethod
    def _access_is_one_time(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None and info.data.get("interval", "one_time") != "one_time":
            raise ValueError("only one_time prices have an access duration")
        return value

    @field_validator("features")
    @classmethod
    def _features(
        cls, value: list[str | CatalogFeature], info: ValidationInfo
    ) -> list[str | CatalogFeature]:
        codes = [f if isinstance(f, str) else f.code for f in value]
        if len(set(codes)) != len(codes):
            raise ValueError("a feature code is listed twice")
        if len(FEATURE_SEPARATOR.join(codes)) > MAX_METADATA_VALUE:
            raise ValueError(f"joined with ',' they exceed Stripe's {MAX_METADATA_VALUE} chars")
        limits = [f.as_limit() for f in value if isinstance(f, CatalogFeature)]
        recurring = info.data.get("interval", "one_time") != "one_time"
        try:
            validate_feature_limits(limits, codes, recurring=recurring)
        except ValidationError as exc:
            raise ValueError(f"{exc.field}: {exc.reason}") from None
        return value


class CatalogProduct(_Strict):
    key: Key
    name: str = Field(min_length=1, max_length=250)
    description: str | None = Field(default=None, min_length=1, max_length=MAX_METADATA_VALUE)
    prices: list[CatalogPrice] = Field(min_length=1)

    @field_validator("name", "description")
    @classmethod
    def _readable(cls, value: str | None, info: ValidationInfo) -> str | None:
        """Shown by ``catalog plan`` and in Stripe's dashboard and checkout pages."""
        if value is not None:
            try:
                validate_text(value, str(info.field_name))
            except ValidationError as exc:
                raise ValueError(exc.reason) from None
        return value


class CatalogProject(_Strict):
    project_id: str
    products: list[CatalogProduct] = Field(default_factory=list)

    @field_validator("project_id", mode="before")
    @classmethod
    def _project_id(cls, value: object) -> str:
        try:
            return normalize_project_id(value)
        except ValidationError as exc:
            raise ValueError(exc.reason) from None


class Catalog(_Strict):
    version: Literal[1]
    projects: list[CatalogProject] = Field(default_factory=list)


def _path(loc: Sequence[int | str]) -> str:
    """('projects', 0, 'products', 1, 'key') -> 'projects[0].products[1].key' (the tag of a
    feature's form left out)."""
    text = ""
    for part in loc:
        if part in ("code", "limited") and text.endswith("]"):
            continue
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "catalog"


def parse_catalog(data: object) -> Catalog:
    """The catalog from a loaded YAML/JSON document; ValidationError names the first problem
    by its dotted path (``projects[0].products[1].prices[0].amount``)."""
    try:
        catalog = Catalog.model_validate(data)
    except SchemaError as exc:
        first = exc.errors()[0]
        raise ValidationError(_path(first["loc"]), first["msg"]) from None
    _check_unique_keys(catalog)
    return catalog


def _check_unique_keys(catalog: Catalog) -> None:
    projects: set[str] = set()
    for p, project in enumerate(catalog.projects):
        if project.project_id in projects:
            raise ValidationError(f"projects[{p}].project_id", "project listed twice")
        projects.add(project.project_id)
        products: set[str] = set()
        prices: set[str] = set()
        for i, product in enumerate(project.products):
            if product.key in products:
                raise ValidationError(
                    f"projects[{p}].products[{i}].key", f"product key {product.key!r} repeats"
                )
            products.add(product.key)
            for j, price in enumerate(product.prices):
                if price.key in prices:
                    raise ValidationError(
                        f"projects[{p}].products[{i}].prices[{j}].key",
                        f"price key {price.key!r} repeats in project {project.project_id}",
                    )
                prices.add(price.key)


# ---------------------------------------------------------------------- naming in Stripe
def product_id_of(project_id: str, product_key: str) -> str:
    return f"{CATALOG_PREFIX}{project_id}_{product_key}"


def lookup_key_of(project_id: str, price_key: str) -> str:
    return f"{CATALOG_PREFIX}{project_id}_{price_key}"


def is_catalog_product(product_id: str, project_id: str) -> bool:
    """Whether the product id is in the project's catalog namespace (``cat_<project_id>_``;
    project ids are digits, so ``cat_1_`` never matches project 12's products)."""
    found = _CATALOG_PRODUCT.match(product_id)
    return found is not None and found.group(1) == project_id


def lookup_keys(project: CatalogProject) -> list[str]:
    return [spec.lookup_key for spec in price_specs(project)]


# ---------------------------------------------------------------------- what Stripe holds
@dataclass(frozen=True)
class StripeProduct:
    product_id: str
    name: str
    description: str | None
    active: bool
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StripePrice:
    price_id: str
    product_id: str
    active: bool
    lookup_key: str | None
    amount: int | None  # None for prices the catalog never makes (tiers, custom amounts)
    currency: str
    interval: Interval
    interval_count: int = 1
    metadata: Mapping[str, str] = field(default_factory=dict)

    def catalog_key(self, project_id: str) -> str | None:
        """The catalog price key this price was made for, when it says it is ours."""
        if self.metadata.get("project_id") != project_id:
            return None
        return self.metadata.get("catalog_key") or None

    @property
    def terms(self) -> str:
        return terms_text(self.amount, self.currency, self.interval, self.interval_count)


@dataclass(frozen=True)
class StripeCatalogState:
    """A project's catalog products in Stripe (by id prefix, active or not), every price of
    them (active or not), and any price holding one of the catalog's lookup keys."""

    products: tuple[StripeProduct, ...] = ()
    prices: tuple[StripePrice, ...] = ()


def terms_text(amount: int | None, currency: str, interval: str, interval_count: int) -> str:
    if interval == "one_time":
        every = " once"
    elif interval_count == 1:
        every = f"/{interval}"
    else:
        every = f" every {interval_count} {interval}s"
    return f"{amount} {currency}{every}"


# ---------------------------------------------------------------------- what it should be
@dataclass(frozen=True)
class PriceSpec:
    """A catalog price as Stripe and the price table should hold it."""

    project_id: str
    catalog_key: str
    product_id: str
    amount: int
    currency: str
    interval: Interval
    interval_count: int
    features: tuple[str, ...]
    trial_days: int | None = None
    access_days: int | None = None
    limits: tuple[FeatureLimit, ...] = ()

    @property
    def lookup_key(self) -> str:
        return lookup_key_of(self.project_id, self.catalog_key)

    @property
    def metadata(self) -> dict[str, str]:
        data = {
            "project_id": self.project_id,
            "feature_code": FEATURE_SEPARATOR.join(self.features),
            "catalog_key": self.catalog_key,
        }
        if self.trial_days is not None:
            data["trial_days"] = str(self.trial_days)
        if self.access_days is not None:
            data["access_days"] = str(self.access_days)
        return data

    @property
    def terms(self) -> str:
        return terms_text(self.amount, self.currency, self.interval, self.interval_count)

    def service_row(self, price_id: str) -> Price:
        return Price(
            stripe_price_id=price_id,
            project_id=self.project_id,
            feature_codes=self.features,
            amount=self.amount,
            currency=self.currency,
            interval=self.interval,
            interval_count=self.interval_count,
            access_days=self.access_days,
            limits=self.limits,
        )

    def same_terms(self, price: StripePrice) -> bool:
        """Whether ``price`` can stay: Stripe never changes these on an existing price."""
        return (
            price.product_id == self.product_id
            and price.amount == self.amount
            and price.currency == self.currency
            and price.interval == self.interval
            and price.interval_count == self.interval_count
        )


def price_spec(project_id: str, product: CatalogProduct, price: CatalogPrice) -> PriceSpec:
    return PriceSpec(
        project_id=project_id,
        catalog_key=price.key,
        product_id=product_id_of(project_id, product.key),
        amount=price.amount,
        currency=price.currency,
        interval=price.interval,
        interval_count=price.interval_count,
        features=tuple(price.feature_codes),
        trial_days=price.trial_days,
        access_days=price.access_days,
        limits=price.limits,
    )


def price_specs(project: CatalogProject) -> list[PriceSpec]:
    return [
        price_spec(project.project_id, product, price)
        for product in project.products
        for price in product.prices
    ]


def product_metadata(project_id: str, product_key: str) -> dict[str, str]:
    return {"project_id": project_id, "catalog_key": product_key}


# ---------------------------------------------------------------------- the changes
@dataclass(frozen=True)
class CreateProduct:
    project_id: str
    product_id: str
    name: str
    description: str | None
    metadata: Mapping[str, str]

    @property
    def idempotency_key(self) -> str:
        return _digest("product", self.product_id, self.name, self.description or "")

    def describe(self) -> str:
        return f"stripe: create product {self.product_id} ({self.name!r})"

    def as_dict(self) -> dict[str, Any]:
        return _data(self, "create_product", "stripe", product_id=self.product_id, name=self.name)


@dataclass(frozen=True)
class UpdateProduct:
    """Only the fields that differ: name, description ("" clears it), active, metadata."""

    project_id: str
    product_id: str
    fields: Mapping[str, Any]

    def describe(self) -> str:
        shown = ", ".join(f"{name} -> {value!r}" for name, value in self.fields.items())
        return f"stripe: update product {self.product_id}: {shown}"

    def as_dict(self) -> dict[str, Any]:
        return _data(
            self, "update_product", "stripe", product_id=self.product_id, fields=dict(self.fields)
        )


@dataclass(frozen=True)
class ArchiveProduct:
    project_id: str
    product_id: str

    def describe(self) -> str:
        return f"stripe: archive product {self.product_id} (its key left the catalog)"

    def as_dict(self) -> dict[str, Any]:
        return _data(self, "archive_product", "stripe", product_id=self.product_id)


@dataclass(frozen=True)
class CreatePrice:
    """A new Stripe price under the catalog's lookup key, and its row in the price table."""

    spec: PriceSpec
    idempotency_key: str

    @property
    def project_id(self) -> str:
        return self.spec.project_id

    def describe(self) -> str:
        return (
            f"stripe: create price {self.spec.lookup_key} ({self.spec.terms} on "
            f"{self.spec.product_id}, features {','.join(self.spec.features)}) + service row"
        )

    def as_dict(self) -> dict[str, Any]:
        return _data(self, "create_price", "stripe+service", **_spec_data(self.spec))


@dataclass(frozen=True)
class ReplacePrice:
    """Stripe never changes a price's amount, currency or interval: a new price takes the
    lookup key over, then the old one is archived (its subscribers keep it)."""

    spec: PriceSpec
    old: StripePrice
    old_metadata: Mapping[str, str]  # what the old price's metadata must follow (may be empty)
    idempotency_key: str

    @property
    def project_id(self) -> str:
        return self.spec.project_id

    def describe(self) -> str:
        return (
            f"stripe: replace price {self.spec.lookup_key}: {self.old.price_id} "
            f"({self.old.terms}) -> a new price ({self.spec.terms}) + service row; "
            f"{self.old.price_id} archived, its subscribers keep it"
        )

    def as_dict(self) -> dict[str, Any]:
        return _data(
            self,
            "replace_price",
            "stripe+service",
            **_spec_data(self.spec),
            old_price_id=self.old.price_id,
            old_terms=self.old.terms,
        )


@dataclass(frozen=True)
class UpdatePrice:
    """Metadata (set; "" deletes a key) and/or reactivation of an existing price."""

    project_id: str
    price_id: str
    catalog_key: str | None
    metadata: Mapping[str, str]
    active: bool | None = None

    def describe(self) -> str:
        parts = [f"metadata {k}={v!r}" for k, v in self.metadata.items()]
        if self.active is not None:
            parts.append(f"active -> {self.active}")
        key = f" ({self.catalog_key})" if self.catalog_key else ""
        return f"stripe: update price {self.price_id}{key}: {', '.join(parts)}"

    def as_dict(self) -> dict[str, Any]:
        return _data(
            self,
            "update_price",
            "stripe",
            price_id=self.price_id,
            catalog_key=self.catalog_key,
            metadata=dict(self.metadata),
            active=self.active,
        )


@dataclass(frozen=True)
class ArchivePrice:
    project_id: str
    price_id: str
    catalog_key: str | None
    metadata: Mapping[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        key = f" ({self.catalog_key})" if self.catalog_key else ""
        return f"stripe: archive price {self.price_id}{key}: not the catalog's price"

    def as_dict(self) -> dict[str, Any]:
        return _data(
            self,
            "archive_price",
            "stripe",
            price_id=self.price_id,
            catalog_key=self.catalog_key,
            metadata=dict(self.metadata),
        )


@dataclass(frozen=True)
class PutServicePrice:
    """A row of the service's price table, missing or different from what it should be."""

    price: Price
    before: Price | None

    @property
    def project_id(self) -> str:
        return self.price.project_id

    def describe(self) -> str:
        row = self.price
        terms = terms_text(row.amount, row.currency, row.interval, row.interval_count)
        what = "add" if self.before is None else "update"
        access = f", access {row.access_days} days" if row.access_days else ""
        limits = "".join(
            f", {limit.feature_code} limit {limit.limit} per {limit.reset}"
            + (f" meter {limit.meter}" if limit.meter else "")
            for limit in row.limits
        )
        return (
            f"service: {what} price {row.stripe_price_id} "
            f"({terms}, features {','.join(row.feature_codes)}{access}{limits})"
        )

    def as_dict(self) -> dict[str, Any]:
        return _data(
            self,
            "put_service_price",
            "service",
            price_id=self.price.stripe_price_id,
            after=_row_data(self.price),
            before=_row_data(self.before) if self.before else None,
        )


Change = (
    CreateProduct
    | UpdateProduct
    | ArchiveProduct
    | CreatePrice
    | ReplacePrice
    | UpdatePrice
    | ArchivePrice
    | PutServicePrice
)


def _data(change: Change, action: str, target: str, **details: Any) -> dict[str, Any]:
    return {
        "action": action,
        "target": target,
        "project_id": change.project_id,
        **details,
        "description": change.describe(),
    }


def _spec_data(spec: PriceSpec) -> dict[str, Any]:
    return {
        "lookup_key": spec.lookup_key,
        "product_id": spec.product_id,
        "amount": spec.amount,
        "currency": spec.currency,
        "interval": spec.interval,
        "interval_count": spec.interval_count,
        "metadata": spec.metadata,
    }


def _row_data(row: Price) -> dict[str, Any]:
    return {
        "feature_codes": list(row.feature_codes),
        "amount": row.amount,
        "currency": row.currency,
        "interval": row.interval,
        "interval_count": row.interval_count,
        "access_days": row.access_days,
    }


def _digest(*parts: str) -> str:
    """An idempotency key derived from the change: a retried apply never creates twice."""
    return "catalog-" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:48]


# ---------------------------------------------------------------------- the plan
def plan_project(
    project: CatalogProject, stripe: StripeCatalogState, rows: Iterable[Price]
) -> list[Change]:
    """The changes that make Stripe and the price table follow the catalog of one project, in
    the order to make them: products, prices, archives, then the price table. Empty when in
    sync. Prices neither named by the catalog nor on one of its products are never touched."""
    return _Planner(project, stripe, rows).plan()


class _Planner:
    """One project's plan; the collections below are filled in order by ``plan``."""

    def __init__(
        self, project: CatalogProject, stripe: StripeCatalogState, rows: Iterable[Price]
    ) -> None:
        self.project = project
        self.pid = project.project_id
        self.stripe = stripe
        self.specs = {spec.catalog_key: spec for spec in price_specs(project)}
        self.table = {row.stripe_price_id: row for row in rows}
        self.changes: list[Change] = []
        self.handled: set[str] = set()  # prices holding a catalog lookup key
        self.kept: list[tuple[PriceSpec, StripePrice]] = []  # ... and staying
        self.followers: list[StripePrice] = []  # older prices whose rows follow their key

    def plan(self) -> list[Change]:
        self.changes.extend(_product_changes(self.project, self.stripe.products))
        holders = {p.lookup_key: p for p in self.stripe.prices if p.lookup_key}
        for spec in self.specs.values():
            self._catalog_price(spec, holders.get(spec.lookup_key))
        for price in self.stripe.prices:
            self._other_price(price)
        wanted = {product_id_of(self.pid, product.key) for product in self.project.products}
        self.changes.extend(
            ArchiveProduct(self.pid, product.product_id)
            for product in self.stripe.products
            if product.product_id not in wanted and product.active
        )
        for spec, holder in self.kept:
            self._row(spec.service_row(holder.price_id))
        for price in self.followers:
            row = _followed_row(price, self.specs[str(price.catalog_key(self.pid))], self.table)
            if row is not None:
                self._row(row)
        return self.changes

    def _catalog_price(self, spec: PriceSpec, holder: StripePrice | None) -> None:
        """Create, replace or update the price holding the catalog's lookup key."""
        known = sorted(
            p.price_id for p in self.stripe.prices if p.catalog_key(self.pid) == spec.catalog_key
        )
        if holder is None:
            self.changes.append(CreatePrice(spec, _price_key(spec, None, known)))
            return
        self.handled.add(holder.price_id)
        if not spec.same_terms(holder):
            follow = _follow(holder, self.specs, self.pid)
            self.changes.append(ReplacePrice(spec, holder, follow, _price_key(spec, holder, known)))
            if holder.catalog_key(self.pid) in self.specs:
                self.followers.append(holder)
            return
        self.kept.append((spec, holder))
        update = _metadata_update(holder.metadata, spec.metadata, PRICE_TERM_KEYS)
        if update or not holder.active:
            active = True if not holder.active else None
            self.changes.append(
                UpdatePrice(self.pid, holder.price_id, spec.catalog_key, update, active)
            )

    def _other_price(self, price: StripePrice) -> None:
        """A price of a catalog product that holds no catalog lookup key: archived, and when
        its key is still in the catalog, granting what the catalog says."""
        managed = any(p.product_id == price.product_id for p in self.stripe.products)
        if price.price_id in self.handled or not managed:
            return
        follow = _follow(price, self.specs, self.pid)
        key = price.catalog_key(self.pid)
        if price.active:
            self.changes.append(ArchivePrice(self.pid, price.price_id, key, follow))
        elif follow:
            self.changes.append(UpdatePrice(self.pid, price.price_id, key, follow))
        if key in self.specs:
            self.followers.append(price)

    def _row(self, row: Price) -> None:
        before = self.table.get(row.stripe_price_id)
        if before != row:
            self.changes.append(PutServicePrice(row, before))


def _product_changes(
    project: CatalogProject, existing: Iterable[StripeProduct]
) -> Iterable[CreateProduct | UpdateProduct]:
    found = {product.product_id: product for product in existing}
    for product in project.products:
        product_id = product_id_of(project.project_id, product.key)
        metadata = product_metadata(project.project_id, product.key)
        current = found.get(product_id)
        if current is None:
            yield CreateProduct(
                project.project_id, product_id, product.name, product.description, metadata
            )
            continue
        fields: dict[str, Any] = {}
        if current.name != product.name:
            fields["name"] = product.name
        if (current.description or None) != product.description:
            fields["description"] = product.description or ""
        if not current.active:
            fields["active"] = True
        update = _metadata_update(current.metadata, metadata)
        if update:
            fields["metadata"] = update
        if fields:
            yield UpdateProduct(project.project_id, product_id, fields)


def _metadata_update(
    current: Mapping[str, str], wanted: Mapping[str, str], optional: Sequence[str] = ()
) -> dict[str, str]:
    """The keys to set so that ``current`` says what ``wanted`` says; ``optional`` keys that
    ``wanted`` lacks are deleted (Stripe deletes a key set to ""). Other keys stay."""
    update = {key: value for key, value in wanted.items() if current.get(key) != value}
    update.update({key: "" for key in optional if key in current and key not in wanted})
    return update


def _follow(price: StripePrice, specs: Mapping[str, PriceSpec], project_id: str) -> dict[str, str]:
    """What an archived (or soon archived) price's metadata must change to keep granting what
    the catalog says its key grants: only ``feature_code``."""
    spec = specs.get(price.catalog_key(project_id) or "")
    if spec is None:
        return {}
    return _metadata_update(price.metadata, {"feature_code": spec.metadata["feature_code"]})


def _followed_row(price: StripePrice, spec: PriceSpec, table: Mapping[str, Price]) -> Price | None:
    """An older price's row: its own terms, the catalog's feature codes and limits."""
    before = table.get(price.price_id)
    if before is not None:
        return replace(before, feature_codes=spec.features, limits=spec.limits)
    if price.amount is None:
        return None
    access = price.metadata.get("access_days", "")
    return Price(
        stripe_price_id=price.price_id,
        project_id=spec.project_id,
        feature_codes=spec.features,
        amount=price.amount,
        currency=price.currency,
        interval=price.interval,
        interval_count=price.interval_count,
        access_days=int(access) if price.interval == "one_time" and access.isdigit() else None,
        limits=spec.limits,
    )


def _price_key(spec: PriceSpec, holder: StripePrice | None, known: Sequence[str]) -> str:
    """Derived from the change and from the prices the key had before it: reverting an
    amount later gets a fresh key (Stripe would otherwise replay the first creation)."""
    return _digest(
        spec.lookup_key,
        spec.product_id,
        str(spec.amount),
        spec.currency,
        spec.interval,
        str(spec.interval_count),
        holder.price_id if holder else "",
        ",".join(known),
    )
