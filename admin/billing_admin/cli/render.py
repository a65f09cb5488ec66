"""How the CLI shows things: dicts for --json, lines for people. Never a key's hash.

Stored text (names, who and why, Stripe's ids and bodies) goes through :func:`shown`: the
service refuses control characters, but older records, or Stripe, may still carry them, and
printed raw they would drive the terminal (billing-admin's own output is escaped once more as
a whole, see ``cli.main``).
"""

from __future__ import annotations

from typing import Any

from billing.domain.allowances import FeatureLimit
from billing.domain.clock import to_iso
from billing.domain.dead_letters import DeadLetter
from billing.domain.entitlements import EntitlementSource
from billing.domain.tenancy import ApiKeyInfo, App, Price, Project
from billing.domain.text import visible
from billing.services.tenancy import IssuedKey, Rotation


def shown(text: object) -> str:
    """A stored value as one line for people: every control character, line break and bidi
    override written as its escape."""
    return visible(str(text))


def project(item: Project) -> dict[str, Any]:
    return {
        "project_id": item.project_id,
        "name": item.name,
        "allowed_origins": list(item.allowed_origins),
        "grace_period_days": item.grace_period_days,
        "created_at": to_iso(item.created_at) if item.created_at else None,
    }


def project_line(item: Project) -> str:
    return f"project {item.project_id} {shown(item.name)}"


def project_details(item: Project) -> str:
    origins = ", ".join(shown(origin) for origin in item.allowed_origins) or "(any)"
    return (
        f"{project_line(item)}\n"
        f"  allowed origins: {origins}\n"
        f"  grace period:    {item.grace_period_days} days"
    )


def key_info(key: ApiKeyInfo) -> dict[str, Any]:
    return {
        "key_prefix": key.key_prefix,
        "active": key.active,
        "expires_at": to_iso(key.expires_at) if key.expires_at else None,
    }


def app(item: App, keys: list[ApiKeyInfo]) -> dict[str, Any]:
    return {
        "app_id": item.app_id,
        "project_id": item.project_id,
        "name": item.name,
        "active": item.active,
        "scopes": sorted(item.scopes),
        "keys": [key_info(k) for k in keys],
    }


def app_lines(item: App, keys: list[ApiKeyInfo]) -> str:
    state = "active" if item.active else "deactivated"
    scopes = ",".join(sorted(item.scopes))
    lines = [f"{item.app_id} {shown(item.name)} ({state}; scopes {shown(scopes)})"]
    for key in keys:
        until = f" until {to_iso(key.expires_at)}" if key.expires_at else ""
        lines.append(f"  key {key.key_prefix}...{until}")
    return "\n".join(lines)


def issued_key(issued: IssuedKey) -> dict[str, Any]:
    return {**app(issued.app, []), "api_key": issued.api_key, "key_prefix": issued.key_prefix}


def issued_key_text(issued: IssuedKey) -> str:
    app_name = shown(issued.app.name)
    head = f"created {issued.app.app_id} ({app_name}) in project {issued.app.project_id}"
    if issued.api_key is None:
        return f"{head}\nimported key {issued.key_prefix}... is registered"
    return f"{head}\nAPI key (shown once, store it now): {issued.api_key}"


def rotation(item: Rotation) -> dict[str, Any]:
    return {
        "app_id": item.app.app_id,
        "api_key": item.api_key,
        "old_keys": item.old_keys,
        "old_keys_expire_at": to_iso(item.old_keys_expire_at),
    }


def rotation_text(item: Rotation) -> str:
    return (
        f"new API key for {item.app.app_id} (shown once, store it now): {item.api_key}\n"
        f"{item.old_keys} older key(s) stop working at {to_iso(item.old_keys_expire_at)}"
    )


def price(item: Price) -> dict[str, Any]:
    return {
        "price_id": item.stripe_price_id,
        "project_id": item.project_id,
        "feature_codes": list(item.feature_codes),
        "amount": item.amount,
        "currency": item.currency,
        "interval": item.interval,
        "interval_count": item.interval_count,
        "access_days": item.access_days,
        "limits": [
            {
                "feature_code": limit.feature_code,
                "limit": limit.limit,
                "reset": limit.reset,
                "meter": limit.meter,
            }
            for limit in item.limits
        ],
    }


def price_line(item: Price) -> str:
    if item.recurring:
        every = (
            item.interval if item.interval_count == 1 else f"{item.interval_count} {item.interval}s"
        )
        terms = f"every {every}"
    else:
        terms = f"one-time, {item.access_days} days" if item.access_days else "one-time, no end"
    limits = {limit.feature_code: limit for limit in item.limits}
    features = ",".join(
        f"{code} ({limit_text(limits[code])})" if code in limits else code
        for code in item.feature_codes
    )
    return f"{item.stripe_price_id} -> {features}: {item.amount} {item.currency} {terms}"


def limit_text(limit: FeatureLimit) -> str:
    """``50000 per billing_period, meter api_requests``."""
    every = "in all" if limit.reset == "never" else f"per {limit.reset}"
    meter = f", meter {limit.meter}" if limit.meter else ""
    return f"{limit.limit} {every}{meter}"


def dead_letter(item: DeadLetter, show_body: bool = False) -> dict[str, Any]:
    """Ids and types only: the body is a Stripe event (customer data), shown on request."""
    shown: dict[str, Any] = {
        "message_id": item.message_id,
        "stripe_event_id": item.stripe_event_id,
        "stripe_event_type": item.stripe_event_type,
        "receive_count": item.receive_count,
        "first_received_at": to_iso(item.first_received_at) if item.first_received_at else None,
        "body_size": item.body_size,
    }
    if show_body:
        shown["body"] = item.body
    return shown


def dead_letter_line(item: DeadLetter, show_body: bool = False) -> str:
    event = " ".join(
        shown(part)
        for part in (
            item.stripe_event_id or "(no event id)",
            item.stripe_event_type or "(no event type)",
        )
    )
    first = to_iso(item.first_received_at) if item.first_received_at else "?"
    line = (
        f"{item.message_id} {event}: {item.receive_count} receives since {first}, "
        f"{item.body_size} bytes"
    )
    return f"{line}\n  body: {shown(item.body)}" if show_body else line


def manual_source(source: EntitlementSource, user_id: str, *, created: bool) -> dict[str, Any]:
    return {
        "user_id": user_id,
        "feature_code": source.feature_code,
        "source": "manual",
        "source_id": source.source_id,
        "active": source.in_force,
        "reason": source.reason,
        "valid_from": to_iso(source.valid_from),
        "valid_to": to_iso(source.valid_to) if source.valid_to else None,
        "created": created,
        "quantity": source.allowance.limit if source.allowance else None,
    }


def manual_source_line(source: EntitlementSource, user_id: str) -> str:
    until = f" until {to_iso(source.valid_to)}" if source.valid_to else ""
    quantity = f"{source.allowance.limit} of " if source.allowance else ""
    return f"{quantity}{source.feature_code} for {user_id} ({source.source_id}{until})"


def audit_line(entry: dict[str, Any]) -> str:
    """One audit entry on one line, whatever its stored text holds."""
    at, action, feature, actor, reason = (
        shown(entry[name]) for name in ("at", "action", "feature_code", "actor", "reason")
    )
    return f"{at} {action} {feature} by {actor}: {reason}"


# ---------------------------------------------------------------------- metrics
ZERO_DECIMAL_CURRENCIES = frozenset(
    {"jpy", "krw", "vnd", "clp", "isk", "ugx", "xaf", "xof", "xpf"}
    | {"bif", "djf", "gnf", "kmf", "mga", "pyg", "rwf", "vuv"}
)


def major_units(amount: int, currency: str) -> str:
    """An amount in minor units as major units with the code: 7000 usd -> ``70.00 USD``."""
    code = currency.upper()
    if currency.lower() in ZERO_DECIMAL_CURRENCIES:
        return f"{amount} {code}"
    sign = "-" if amount < 0 else ""
    whole, cents = divmod(abs(amount), 100)
    return f"{sign}{whole}.{cents:02d} {code}"


def money(amount: int, currency: str) -> str:
    """Minor units and major units: ``7000 (70.00 USD)``."""
    return f"{amount} ({major_units(amount, currency)})"


def metrics_text(subscriptions: dict[str, Any], revenue: dict[str, Any]) -> str:
    lines = [
        f"metrics of project {subscriptions['project_id']}, "
        f"{subscriptions['since']} to {subscriptions['until']}",
        "subscriptions",
    ]
    statuses = ", ".join(f"{s} {n}" for s, n in subscriptions["counts_by_status"].items())
    lines += [
        f"  by status:    {statuses or 'none'}",
        f"  total active: {subscriptions['total_active']} (active, trialing, past_due)",
        f"  new:          {subscriptions['new']}",
        f"  churned:      {subscriptions['churned']}",
        "  per price:" + ("" if subscriptions["by_price"] else " none"),
    ]
    for price_id, entry in subscriptions["by_price"].items():
        features = ",".join(entry["feature_codes"]) or "unknown price"
        lines.append(f"    {price_id}: {entry['active']} active ({features})")
    lines.append("  per feature:" + ("" if subscriptions["by_feature"] else " none"))
    lines += [f"    {code}: {n}" for code, n in subscriptions["by_feature"].items()]
    lines.append("revenue" + ("" if revenue["currencies"] else ": none"))
    for currency, figures in revenue["currencies"].items():
        lines.append(f"  {currency.upper()}")
        for label, key in (
            ("gross", "gross"),
            ("refunded", "refunded"),
            ("net", "net"),
            ("MRR", "mrr"),
            ("ARR", "arr"),
        ):
            lines.append(f"    {label + ':':<9} {money(figures[key], currency)}")
    return "\n".join(lines)
