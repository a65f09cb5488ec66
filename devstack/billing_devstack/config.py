"""The local stack's settings, read once from ``LOCAL_*`` environment variables.

Every module receives a :class:`LocalConfig` instead of reading ``os.environ`` itself, so tests
can build one for free ports and a temporary state directory.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

# devstack/billing_devstack/config.py, installed editable (make setup): the repository's root.
REPO_ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
STACK_NAME = "billing-local"

DEFAULT_GATEWAY_PORT = 8000
DEFAULT_DYNAMODB_PORT = 8100
DEFAULT_MOTO_PORT = 8101
DEFAULT_STRIPE_PORT = 8102
DEFAULT_MAX_CONCURRENCY = 4
WEBHOOK_PATH = "/api/v1/webhooks/stripe"
SWAGGER_UI_PREFIX = "/_local/swagger-ui"
# The local Stripe stand-in's credentials: plain test values, not secrets. Workers get them
# unless the developer set their own (see lambda_runtime.worker_environment).
STANDIN_SECRET_KEY = "sk_test_local_standin"  # noqa: S105 - a local test value
STANDIN_WEBHOOK_SECRET = "whsec_local_standin"  # noqa: S105 - a local test value


class ConfigError(Exception):
    """A ``LOCAL_*`` variable has a value the stack cannot use; the message names it."""


@dataclass(frozen=True)
class LocalConfig:
    """Where things listen and live; derived URLs are properties so they cannot drift."""

    root: Path = REPO_ROOT
    template_path: Path = REPO_ROOT / "template.yaml"
    state_dir: Path = REPO_ROOT / "artifacts" / "local"
    gateway_host: str = "127.0.0.1"
    gateway_port: int = DEFAULT_GATEWAY_PORT
    dynamodb_port: int = DEFAULT_DYNAMODB_PORT
    # Where the workers reach DynamoDB (LOCAL_DYNAMODB_ENDPOINT); None: DynamoDB Local itself.
    dynamodb_client_endpoint: str | None = None
    moto_port: int = DEFAULT_MOTO_PORT
    stripe_port: int = DEFAULT_STRIPE_PORT
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    authorizer_cache_ttl: int | None = None
    sqs_retry_delay: int = 1
    schedule_now: bool = False
    seed_demo: bool = False
    persist: bool = False
    region: str = REGION
    environ: Mapping[str, str] = field(default_factory=dict)

    @property
    def dynamodb_endpoint(self) -> str:
        """DynamoDB Local always listens on loopback: it is never meant to be shared."""
        return f"http://127.0.0.1:{self.dynamodb_port}"

    @property
    def workers_dynamodb_endpoint(self) -> str:
        """What the functions' workers call: DynamoDB Local unless LOCAL_DYNAMODB_ENDPOINT put
        something in between (a fault proxy in the resilience tests). The stack itself creates
        its tables on DynamoDB Local directly."""
        return self.dynamodb_client_endpoint or self.dynamodb_endpoint

    @property
    def moto_endpoint(self) -> str:
        """The moto server (SQS, SSM and any other AWS API), loopback only."""
        return f"http://127.0.0.1:{self.moto_port}"

    @property
    def gateway_url(self) -> str:
        """The URL people and tests call (loopback even when bound to 0.0.0.0)."""
        host = "127.0.0.1" if self.gateway_host in ("0.0.0.0", "") else self.gateway_host
        return f"http://{host}:{self.gateway_port}"

    @property
    def stripe_standin(self) -> bool:
        """Run the local Stripe stand-in: yes, unless the developer set a real
        ``STRIPE_SECRET_KEY``, which means talking to Stripe itself."""
        return not self.environ.get("STRIPE_SECRET_KEY")

    @property
    def stripe_standin_url(self) -> str:
        """The stand-in's API and pages, loopback only (workers get it as STRIPE_API_BASE)."""
        return f"http://127.0.0.1:{self.stripe_port}"

    @property
    def stripe_webhook_url(self) -> str:
        """Where the stand-in sends its events: the gateway's webhook route."""
        return self.gateway_url + WEBHOOK_PATH

    @property
    def stripe_webhook_secrets(self) -> list[str]:
        """What the stand-in signs with: the receiver's STRIPE_WEBHOOK_SECRET (comma-separated
        during a rotation, one ``v1`` each), else the local default the workers get too."""
        raw = self.environ.get("STRIPE_WEBHOOK_SECRET") or STANDIN_WEBHOOK_SECRET
        return [part.strip() for part in raw.split(",") if part.strip()] or [STANDIN_WEBHOOK_SECRET]

    @property
    def swagger_ui_dir(self) -> Path:
        """Swagger UI's files (npm package swagger-ui-dist), served by the gateway at
        SWAGGER_UI_PREFIX so /api/v1/docs needs no CDN locally."""
        return self.root / "node_modules" / "swagger-ui-dist"

    @property
    def pid_file(self) -> Path:
        """Written by ``up``, read by ``down`` and ``status``."""
        return self.state_dir / "stack.pid"

    @property
    def log_file(self) -> Path:
        """Output of a stack started with ``up``."""
        return self.state_dir / "stack.log"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LocalConfig:
        """Build the config; a malformed value raises ConfigError naming the variable."""
        env = dict(os.environ if environ is None else environ)
        ttl = env.get("LOCAL_AUTHORIZER_CACHE_TTL")
        return cls(
            template_path=_path(env, "LOCAL_TEMPLATE", REPO_ROOT / "template.yaml"),
            state_dir=_path(env, "LOCAL_STATE_DIR", REPO_ROOT / "artifacts" / "local"),
            gateway_host=env.get("LOCAL_GATEWAY_HOST", "127.0.0.1"),
            gateway_port=_port(env, "LOCAL_GATEWAY_PORT", DEFAULT_GATEWAY_PORT),
            dynamodb_port=_port(env, "LOCAL_DYNAMODB_PORT", DEFAULT_DYNAMODB_PORT),
            dynamodb_client_endpoint=_endpoint(env, "LOCAL_DYNAMODB_ENDPOINT"),
            moto_port=_port(env, "LOCAL_MOTO_PORT", DEFAULT_MOTO_PORT),
            stripe_port=_port(env, "LOCAL_STRIPE_PORT", DEFAULT_STRIPE_PORT),
            max_concurrency=_int(env, "LOCAL_MAX_CONCURRENCY", DEFAULT_MAX_CONCURRENCY, 1),
            authorizer_cache_ttl=None
            if ttl is None
            else _int(env, "LOCAL_AUTHORIZER_CACHE_TTL", 0, 0),
            sqs_retry_delay=_int(env, "LOCAL_SQS_RETRY_DELAY", 1, 0),
            schedule_now=_flag(env, "LOCAL_SCHEDULE_NOW"),
            seed_demo=_flag(env, "LOCAL_SEED_DEMO"),
            persist=_flag(env, "LOCAL_PERSIST"),
            environ=env,
        )


def _flag(env: Mapping[str, str], name: str) -> bool:
    return env.get(name, "").lower() in ("1", "true", "yes")


def _int(env: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None
    if value < minimum:
        raise ConfigError(f"{name}={raw!r} must be >= {minimum}")
    return value


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    value = _int(env, name, default, 1)
    if value > 65535:  # noqa: PLR2004 - the TCP port range
        raise ConfigError(f"{name}={value} is not a TCP port")
    return value


def _endpoint(env: Mapping[str, str], name: str) -> str | None:
    """An http(s)://host:port URL (a trailing slash is dropped), or None when unset."""
    raw = env.get(name)
    if not raw:
        return None
    parts = urlsplit(raw)
    try:
        port = parts.port
    except ValueError:
        port = None
    path_ok = parts.path in ("", "/") and not parts.query and not parts.fragment
    if parts.scheme not in ("http", "https") or not parts.hostname or port is None or not path_ok:
        raise ConfigError(f"{name}={raw!r} is not an http(s)://host:port URL")
    return raw.rstrip("/")


def _path(env: Mapping[str, str], name: str, default: Path) -> Path:
    raw = env.get(name)
    if not raw:
        return default
    path = Path(raw)
    return path if path.is_absolute() else (REPO_ROOT / path).resolve()
