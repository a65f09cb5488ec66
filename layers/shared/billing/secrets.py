"""Secrets (Stripe's, the audit cursors' key): plain environment values locally, SSM
SecureString parameters in AWS.

Values fetched from SSM are cached in memory for five minutes (Powertools parameters), so a
rotated secret is picked up without a deploy. Secrets are never logged or put in errors.
"""

from __future__ import annotations

from billing.config import SecretStr, Settings
from billing.errors import ConfigurationError

SECRET_CACHE_SECONDS = 300


def _from_parameter(name: str) -> str:
    from aws_lambda_powertools.utilities import parameters

    value = parameters.get_parameter(name, decrypt=True, max_age=SECRET_CACHE_SECONDS)
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"SSM parameter {name} is empty")
    return value


def _secret_list(
    plain: SecretStr | None, parameter: str | None, variable: str, what: str
) -> list[str]:
    """A comma-separated list of secrets (several during a rotation): the plain value when
    set, else the SSM parameter's."""
    if plain is not None:
        raw = plain.get_secret_value()
    elif parameter:
        raw = _from_parameter(parameter)
    else:
        raise ConfigurationError(f"set {variable} or {variable}_PARAMETER")
    secrets = [part.strip() for part in raw.split(",") if part.strip()]
    if not secrets:
        raise ConfigurationError(f"the {what} is empty")
    return secrets


def webhook_signing_secrets(settings: Settings) -> list[str]:
    """Every accepted webhook signing secret (several during a rotation, comma-separated)."""
    return _secret_list(
        settings.stripe_webhook_secret,
        settings.stripe_webhook_secret_parameter,
        "STRIPE_WEBHOOK_SECRET",
        "webhook signing secret",
    )


def audit_cursor_keys(settings: Settings) -> list[str]:
    """The audit cursors' keys: the first seals, every one opens (comma-separated during a
    rotation)."""
    return _secret_list(
        settings.audit_cursor_key,
        settings.audit_cursor_key_parameter,
        "AUDIT_CURSOR_KEY",
        "audit cursor key",
    )


def stripe_secret_key(settings: Settings) -> str:
    """The Stripe API secret key."""
    if settings.stripe_secret_key is not None:
        return settings.stripe_secret_key.get_secret_value()
    if settings.stripe_secret_key_parameter:
        return _from_parameter(settings.stripe_secret_key_parameter)
    raise ConfigurationError("set STRIPE_SECRET_KEY or STRIPE_SECRET_KEY_PARAMETER")
