"""Settings, parsed once from the environment.

Nothing else in the service reads ``os.environ``: handlers and adapters ask :func:`get_settings`.
A bad value stops start-up with a message naming the variable, instead of failing later on a
request.

The settings are a frozen dataclass read by the few lines below, not a pydantic model: every
variable is one flat string, and importing pydantic to read them cost the API key authorizer,
which runs before every request and validates nothing else, about a quarter of its cold import
(bench/coldstart.py). The fields keep pydantic's spelling (``Field(default=...,
validation_alias=..., ge=...)``, ``Settings.model_fields``), so they read as before.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from functools import lru_cache
from types import MappingProxyType, NoneType, UnionType
from typing import Any, ClassVar, get_args, get_type_hints

from billing.errors import ConfigurationError


class SecretStr:
    """A secret: ``**********`` wherever it is shown; :meth:`get_secret_value` gives it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "SecretStr('**********')"

    def __str__(self) -> str:
        return "**********"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretStr) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def _environment() -> dict[str, str]:
    """The environment by upper-case name: names match whatever their case (``aws_region``
    sets AWS_REGION), and an exact upper-case name wins over another spelling of it."""
    spellings = sorted(os.environ.items(), key=lambda item: item[0].isupper())
    return {name.upper(): value for name, value in spellings}


@dataclasses.dataclass(frozen=True)
class Setting:
    """How one field is read: its environment variable, its default and its bounds."""

    name: str
    validation_alias: str
    default: Any
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    min_length: int | None = None


def Field[T](  # noqa: N802 - pydantic's spelling: the settings read as they did with it
    *,
    default: T,
    validation_alias: str,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    min_length: int | None = None,
) -> T:
    """A setting read from the environment variable ``validation_alias``."""
    bounds = {"ge": ge, "gt": gt, "le": le, "min_length": min_length}
    field: T = dataclasses.field(
        default=default, metadata={"variable": validation_alias, "bounds": bounds}
    )
    return field


@dataclasses.dataclass(frozen=True)
class Settings:
    """Every setting of the service; names keep the seed's environment variables."""

    # Each field, as pydantic's model_fields named them (tests and billing-admin read them).
    model_fields: ClassVar[Mapping[str, Setting]]

    environment: str = Field(default="local", validation_alias="ENVIRONMENT", min_length=1)
    aws_region: str = Field(default="us-east-1", validation_alias="AWS_REGION")
    dynamodb_endpoint_url: str | None = Field(
        default=None, validation_alias="AWS_ENDPOINT_URL_DYNAMODB"
    )

    # Stripe. Locally the plain values are set; in AWS the SSM parameter names are, and the
    # values are fetched (and cached) by billing.secrets.
    stripe_api_base: str = Field(
        default="https://api.stripe.com", validation_alias="STRIPE_API_BASE"
    )
    stripe_secret_key: SecretStr | None = Field(default=None, validation_alias="STRIPE_SECRET_KEY")
    stripe_secret_key_parameter: str | None = Field(
        default=None, validation_alias="STRIPE_SECRET_KEY_PARAMETER"
    )
    stripe_webhook_secret: SecretStr | None = Field(
        default=None, validation_alias="STRIPE_WEBHOOK_SECRET"
    )
    stripe_webhook_secret_parameter: str | None = Field(
        default=None, validation_alias="STRIPE_WEBHOOK_SECRET_PARAMETER"
    )

    # The key that seals the audit list's paging cursors (billing.domain.cursors), like the
    # Stripe secrets: a plain value locally (the local stack generates one), an SSM parameter
    # name in AWS. Comma-separated during a rotation: the first seals, any opens.
    audit_cursor_key: SecretStr | None = Field(default=None, validation_alias="AUDIT_CURSOR_KEY")
    audit_cursor_key_parameter: str | None = Field(
        default=None, validation_alias="AUDIT_CURSOR_KEY_PARAMETER"
    )

    reconciliation_enabled: bool = Field(default=True, validation_alias="RECONCILIATION_ENABLED")
    reconciliation_schedule_hour: int = Field(
        default=3, ge=0, le=23, validation_alias="RECONCILIATION_SCHEDULE_HOUR"
    )
    reconciliation_days_back: int = Field(
        default=3, ge=1, le=30, validation_alias="RECONCILIATION_DAYS_BACK"
    )
    # Objects per Stripe list page (Stripe's maximum is 100), pages per invocation before the
    # run continues in a fresh one through its queue, and the pace of Stripe calls (test mode
    # allows 25 requests/s, live 100).
    reconciliation_page_size: int = Field(
        default=100, ge=1, le=100, validation_alias="RECONCILIATION_PAGE_SIZE"
    )
    reconciliation_pages_per_invocation: int = Field(
        default=200, ge=1, validation_alias="RECONCILIATION_PAGES_PER_INVOCATION"
    )
    reconciliation_requests_per_second: float = Field(
        default=20.0, gt=0, le=100, validation_alias="RECONCILIATION_REQUESTS_PER_SECOND"
    )

    # Resource names: template.yaml sets them in AWS; the defaults are the local stack's names
    # (each resource's logical id).
    projects_table_name: str = Field(
        default="ProjectsTable", validation_alias="PROJECTS_TABLE_NAME"
    )
    api_keys_table_name: str = Field(default="ApiKeysTable", validation_alias="API_KEYS_TABLE_NAME")
    prices_table_name: str = Field(default="PricesTable", validation_alias="PRICES_TABLE_NAME")
    entitlements_table_name: str = Field(
        default="EntitlementsTable", validation_alias="ENTITLEMENTS_TABLE_NAME"
    )
    customers_table_name: str = Field(
        default="CustomersTable", validation_alias="CUSTOMERS_TABLE_NAME"
    )
    stripe_objects_table_name: str = Field(
        default="StripeObjectsTable", validation_alias="STRIPE_OBJECTS_TABLE_NAME"
    )
    subscription_history_table_name: str = Field(
        default="SubscriptionHistoryTable", validation_alias="SUBSCRIPTION_HISTORY_TABLE_NAME"
    )
    webhook_events_table_name: str = Field(
        default="WebhookEventsTable", validation_alias="WEBHOOK_EVENTS_TABLE_NAME"
    )
    audit_table_name: str = Field(default="AuditTable", validation_alias="AUDIT_TABLE_NAME")
    reconciliation_runs_table_name: str = Field(
        default="ReconciliationRunsTable", validation_alias="RECONCILIATION_RUNS_TABLE_NAME"
    )
    usage_counters_table_name: str = Field(
        default="UsageCountersTable", validation_alias="USAGE_COUNTERS_TABLE_NAME"
    )
    usage_records_table_name: str = Field(
        default="UsageRecordsTable", validation_alias="USAGE_RECORDS_TABLE_NAME"
    )
    # Metered usage Stripe refused, or did not take after every retry (billing.services.metering).
    meter_report_dlq_url: str | None = Field(default=None, validation_alias="METER_REPORT_DLQ_URL")
    reconciliation_queue_url: str | None = Field(
        default=None, validation_alias="RECONCILIATION_QUEUE_URL"
    )
    webhook_queue_url: str | None = Field(default=None, validation_alias="WEBHOOK_QUEUE_URL")
    webhook_dlq_url: str | None = Field(default=None, validation_alias="WEBHOOK_DLQ_URL")

    # ---- pushed to project backends (issue #22): the change log, outbound webhooks, tokens
    entitlement_changes_table_name: str = Field(
        default="EntitlementChangesTable", validation_alias="ENTITLEMENT_CHANGES_TABLE_NAME"
    )
    webhook_endpoints_table_name: str = Field(
        default="WebhookEndpointsTable", validation_alias="WEBHOOK_ENDPOINTS_TABLE_NAME"
    )
    webhook_delivery_queue_url: str | None = Field(
        default=None, validation_alias="WEBHOOK_DELIVERY_QUEUE_URL"
    )
    webhook_delivery_dlq_url: str | None = Field(
        default=None, validation_alias="WEBHOOK_DELIVERY_DLQ_URL"
    )
    # Endpoints on loopback (http://localhost, 127.0.0.1, [::1]) are refused, except on the
    # local stack, which sets this for its functions and billing-admin's local target.
    webhook_endpoints_allow_loopback: bool = Field(
        default=False, validation_alias="WEBHOOK_ENDPOINTS_ALLOW_LOOPBACK"
    )
    # The first retry of a failed delivery waits this long, each next one twice as long (up
    # to SQS's 12 hours); the local stack shortens it.
    webhook_delivery_retry_base_seconds: int = Field(
        default=30, ge=1, le=3600, validation_alias="WEBHOOK_DELIVERY_RETRY_BASE_SECONDS"
    )
    # The KMS keys of entitlement tokens, comma-separated key ids or ARNs: the first signs,
    # every one is published in the JWKS (two during a rotation).
    token_signing_keys: str | None = Field(default=None, validation_alias="TOKEN_SIGNING_KEYS")
    token_issuer: str = Field(default="billing", min_length=1, validation_alias="TOKEN_ISSUER")
    # ---- end of issue #22's settings

    # Webhook bodies larger than this are refused with 413 (Stripe events are a few KiB;
    # SQS takes at most 256 KiB).
    webhook_max_body_bytes: int = Field(
        default=131_072, gt=0, le=262_144, validation_alias="WEBHOOK_MAX_BODY_BYTES"
    )
    # Stripe's default tolerance for the signature timestamp.
    webhook_tolerance_seconds: int = Field(
        default=300, gt=0, validation_alias="WEBHOOK_TOLERANCE_SECONDS"
    )

    # The fields the environment set (the others kept their defaults).
    set_by_environment: frozenset[str] = dataclasses.field(
        default=frozenset(), repr=False, compare=False
    )


Settings.model_fields = MappingProxyType(
    {
        field.name: Setting(
            name=field.name,
            validation_alias=field.metadata["variable"],
            default=field.default,
            **field.metadata["bounds"],
        )
        for field in dataclasses.fields(Settings)
        if "variable" in field.metadata
    }
)


class SettingError(ValueError):
    """A variable whose value is no valid setting."""

    def __init__(self, variable: str, reason: str) -> None:
        super().__init__(f"{variable}: {reason}")


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError("must be an http(s) URL")
    return value.rstrip("/")


# Checks beyond a field's type and bounds, and the value they keep.
_CHECKS = {"stripe_api_base": _http_url}

# pydantic's words for a boolean, which the deployed stacks and the local stack already use.
_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})


def _parse(raw: str, kind: Any, setting: Setting) -> object:
    """The value of ``raw`` as ``kind`` (str, bool, int, float or SecretStr, or one of them
    or None), within the setting's bounds."""
    if isinstance(kind, UnionType):
        (kind,) = (arg for arg in get_args(kind) if arg is not NoneType)
    value: Any
    if setting.name in _CHECKS:
        try:
            return _CHECKS[setting.name](raw)
        except ValueError as exc:
            raise SettingError(setting.validation_alias, str(exc)) from None
    if kind is bool:
        word = raw.strip().lower()
        if word not in _TRUE | _FALSE:
            raise SettingError(setting.validation_alias, "must be a boolean (true or false)")
        return word in _TRUE
    if kind in (int, float):
        try:
            value = kind(raw.strip())
        except ValueError:
            reason = f"must be a number ({kind.__name__})"
            raise SettingError(setting.validation_alias, reason) from None
    elif kind in (str, SecretStr):
        value = raw
    else:
        raise TypeError(f"{setting.name}: settings are str, bool, int, float or SecretStr")
    _check_bounds(value, setting)
    return SecretStr(value) if kind is SecretStr else value


def _check_bounds(value: Any, setting: Setting) -> None:
    variable = setting.validation_alias
    if setting.min_length is not None and len(value) < setting.min_length:
        raise SettingError(variable, f"must have at least {setting.min_length} character(s)")
    if setting.ge is not None and not value >= setting.ge:
        raise SettingError(variable, f"must be at least {setting.ge}")
    if setting.gt is not None and not value > setting.gt:
        raise SettingError(variable, f"must be greater than {setting.gt}")
    if setting.le is not None and not value <= setting.le:
        raise SettingError(variable, f"must be at most {setting.le}")


def load_settings() -> Settings:
    """Parse the environment; raise ConfigurationError naming every bad variable.

    Variables not set keep their defaults.
    """
    environ = _environment()
    kinds = get_type_hints(Settings)
    values: dict[str, object] = {}
    problems: list[str] = []
    for name, setting in Settings.model_fields.items():
        if setting.validation_alias in environ:
            try:
                values[name] = _parse(environ[setting.validation_alias], kinds[name], setting)
            except SettingError as exc:
                problems.append(str(exc))
    if problems:
        raise ConfigurationError(f"invalid settings: {'; '.join(problems)}")
    return Settings(**values, set_by_environment=frozenset(values))  # type: ignore[arg-type]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, parsed on first use."""
    return load_settings()
