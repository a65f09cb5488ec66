import pytest

from billing.config import load_settings
from billing.errors import ConfigurationError


def test_defaults_are_the_local_stack_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENTITLEMENTS_TABLE_NAME", raising=False)
    settings = load_settings()
    assert settings.entitlements_table_name == "EntitlementsTable"
    assert settings.reconciliation_schedule_hour == 3


def test_values_come_from_the_seed_variable_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECONCILIATION_ENABLED", "false")
    monkeypatch.setenv("RECONCILIATION_DAYS_BACK", "7")
    monkeypatch.setenv("STRIPE_API_BASE", "http://127.0.0.1:8102/")
    settings = load_settings()
    assert settings.reconciliation_enabled is False
    assert settings.reconciliation_days_back == 7
    assert settings.stripe_api_base == "http://127.0.0.1:8102"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RECONCILIATION_SCHEDULE_HOUR", "24"),
        ("RECONCILIATION_ENABLED", "perhaps"),
        ("RECONCILIATION_DAYS_BACK", "0"),
        ("STRIPE_API_BASE", "api.stripe.com"),
    ],
)
def test_a_bad_value_stops_start_up_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match=name):
        load_settings()


def test_secrets_do_not_show_in_the_settings_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_test_do_not_print")
    assert "sk_test_do_not_print" not in repr(load_settings())
