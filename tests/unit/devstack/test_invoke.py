"""`make invoke`: what a function needs is read from its template environment, and a function
the template does not have starts nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from billing_devstack.config import REPO_ROOT, LocalConfig
from billing_devstack.invoke import Needs, invoke, needs_of
from billing_devstack.template import FunctionSpec, load_template

POWERTOOLS = {"POWERTOOLS_SERVICE_NAME": "billing", "POWERTOOLS_LOG_LEVEL": "INFO"}


def spec(**environment: str) -> FunctionSpec:
    return FunctionSpec("SomeFunction", Path("functions/some"), environment=environment)


@pytest.mark.parametrize(
    ("environment", "needs"),
    [
        (POWERTOOLS, Needs(dynamodb=False, moto=False, stripe=False)),
        ({**POWERTOOLS, "ENTITLEMENTS_TABLE_NAME": "E"}, Needs(True, False, False)),
        (
            {"WEBHOOK_QUEUE_URL": "http://q", "WEBHOOK_DLQ_URL": "http://d"},
            Needs(False, True, False),
        ),
        ({"AUDIT_CURSOR_KEY_PARAMETER": "/billing/k"}, Needs(False, True, False)),
        ({"STRIPE_API_BASE": "https://api.stripe.com"}, Needs(False, False, True)),
        ({"STRIPE_SECRET_KEY_PARAMETER": "/billing/s"}, Needs(False, True, True)),
    ],
)
def test_a_function_needs_what_its_settings_name(environment: dict[str, str], needs: Needs) -> None:
    assert needs_of(spec(**environment)) == needs


def test_the_entitlement_read_needs_dynamodb_local_in_the_template() -> None:
    template = load_template(REPO_ROOT / "template.yaml", "http://127.0.0.1:1")

    assert needs_of(template.functions["EntitlementsFunction"]).dynamodb


def test_an_unknown_function_is_a_usage_error_naming_the_known_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = LocalConfig.from_env({})

    code = invoke(config, "NoSuchFunction", str(REPO_ROOT / "events" / "health.json"))

    assert code == 2
    assert "HealthFunction" in capsys.readouterr().err


def test_an_unreadable_event_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "event.json").write_text("{not json")

    code = invoke(LocalConfig.from_env({}), "HealthFunction", str(tmp_path / "event.json"))

    assert code == 2
    assert "cannot read the event" in capsys.readouterr().err
