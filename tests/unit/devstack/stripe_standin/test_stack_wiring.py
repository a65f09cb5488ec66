"""How the local stack runs the stand-in: LOCAL_STRIPE_PORT, the preflight, the workers'
STRIPE_API_BASE, and when a real key turns it all off."""

from __future__ import annotations

from pathlib import Path

import pytest

from billing_devstack import launcher, stack
from billing_devstack.config import ConfigError, LocalConfig
from billing_devstack.lambda_runtime import worker_environment
from billing_devstack.template import FunctionSpec


def test_the_port_is_read_from_local_stripe_port() -> None:
    assert LocalConfig.from_env({}).stripe_port == 8102
    config = LocalConfig.from_env({"LOCAL_STRIPE_PORT": "9102", "LOCAL_GATEWAY_PORT": "9000"})
    assert config.stripe_port == 9102
    assert config.stripe_standin_url == "http://127.0.0.1:9102"
    assert config.stripe_webhook_url == "http://127.0.0.1:9000/api/v1/webhooks/stripe"
    with pytest.raises(ConfigError, match="LOCAL_STRIPE_PORT"):
        LocalConfig.from_env({"LOCAL_STRIPE_PORT": "http"})


def test_a_real_secret_key_means_no_stand_in() -> None:
    assert LocalConfig.from_env({}).stripe_standin
    assert LocalConfig.from_env({"STRIPE_SECRET_KEY": ""}).stripe_standin
    assert not LocalConfig.from_env({"STRIPE_SECRET_KEY": "sk_test_real"}).stripe_standin


def test_the_stand_in_signs_with_the_receivers_secrets() -> None:
    assert LocalConfig().stripe_webhook_secrets == ["whsec_local_standin"]
    rotation = LocalConfig(environ={"STRIPE_WEBHOOK_SECRET": "whsec_new, whsec_old"})
    assert rotation.stripe_webhook_secrets == ["whsec_new", "whsec_old"]


def test_the_preflight_names_a_taken_stripe_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(launcher, "port_in_use", lambda port, _host="": port == 9102)
    config = LocalConfig(gateway_port=9000, dynamodb_port=9001, moto_port=9002, stripe_port=9102)
    assert stack._port_problems(config) == [
        "port 9102 is already in use; set LOCAL_STRIPE_PORT to a free port"
    ]
    clash = LocalConfig(gateway_port=9000, dynamodb_port=9001, moto_port=9002, stripe_port=9000)
    assert (
        "LOCAL_STRIPE_PORT and LOCAL_GATEWAY_PORT are both 9000" in stack._port_problems(clash)[0]
    )
    real = LocalConfig(
        gateway_port=9000,
        dynamodb_port=9001,
        moto_port=9002,
        stripe_port=9102,
        environ={"STRIPE_SECRET_KEY": "sk_test_real"},
    )
    assert stack._port_problems(real) == []  # no stand-in, no port needed


def spec(tmp_path: Path) -> FunctionSpec:
    template_env = {"STRIPE_API_BASE": "https://api.stripe.com", "OTHER": "x"}
    return FunctionSpec("CheckoutFunction", tmp_path, environment=template_env)


def test_workers_call_the_stand_in(tmp_path: Path) -> None:
    env = worker_environment(spec(tmp_path), LocalConfig(stripe_port=9102))
    assert env["STRIPE_API_BASE"] == "http://127.0.0.1:9102"
    assert env["STRIPE_SECRET_KEY"] == "sk_test_local_standin"
    assert env["STRIPE_WEBHOOK_SECRET"] == "whsec_local_standin"


@pytest.mark.parametrize(
    ("environ", "base"),
    [
        ({"STRIPE_SECRET_KEY": "sk_test_real"}, "https://api.stripe.com"),
        ({"STRIPE_API_BASE": "http://127.0.0.1:8420"}, "http://127.0.0.1:8420"),
        ({"LOCAL_PARAM_StripeApiBase": "http://other"}, "https://api.stripe.com"),
    ],
)
def test_the_developers_choice_wins(tmp_path: Path, environ: dict[str, str], base: str) -> None:
    # LOCAL_PARAM_* is resolved into the template's env by the template loader, not here.
    env = worker_environment(spec(tmp_path), LocalConfig(environ=environ))
    assert env["STRIPE_API_BASE"] == base


def test_an_empty_secret_gets_the_stand_ins_value(tmp_path: Path) -> None:
    env = worker_environment(spec(tmp_path), LocalConfig(environ={"STRIPE_SECRET_KEY": ""}))
    assert env["STRIPE_SECRET_KEY"] == "sk_test_local_standin"
