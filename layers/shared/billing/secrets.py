"""Stripe secrets: plain environment values locally, SSM SecureString parameters in AWS.

Values fetched from SSM are cached in memory for five minutes (Powertools parameters), so a
rotated secret is picked up without a deploy. Secrets are never logged or put in errors.
"""

from __future__ import annotations

from billing.config import Settings
from billing.errors import ConfigurationError

SECRET_CACHE_SECONDS = 300


def _from_parameter(name: str) -> str:
    from aws_lambda_powertools.utilities import parameters

    value = parameters.get_parameter(name, decrypt=True, max_age=SECRET_CACHE_SECONDS)
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"SSM parameter {name} is empty")
    return value


def webhook_signing_secrets(settings: Settings) -> list[str]:
    """Every accepted webhook signing secret (several during a rotation, comma-separated)."""
    if settings.stripe_webhook_secret is not None:
        raw = settings.stripe_webhook_secret.get_secret_value()
    elif settings.stripe_webhook_secret_parameter:
        raw = _from_parameter(settings.stripe_webhook_secret_parameter)
    else:
        raise ConfigurationError("set STRIPE_WEBHOOK_SECRET or STRIPE_WEBHOOK_SECRET_PARAMETER")
    secrets = [part.strip() for part in raw.split(",") if part.strip()]
    if not secrets:
        raise ConfigurationError("the webhook signing secret is empty")
    return secrets


def stripe_secret_key(settings: Settings) -> str:
    """The Stripe API secret key."""
    if settings.stripe_secret_key is not None:
        return settings.stripe_secret_key.get_secret_value()
    if settings.stripe_secret_key_parameter:
        return _from_parameter(settings.stripe_secret_key_parameter)
    raise ConfigurationError("set STRIPE_SECRET_KEY or STRIPE_SECRET_KEY_PARAMETER")
