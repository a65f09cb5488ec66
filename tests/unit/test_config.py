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


def test_names_match_whatever_their_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENTITLEMENTS_TABLE_NAME", raising=False)
    monkeypatch.setenv("entitlements_table_name", "lower-case-table")
    assert load_settings().entitlements_table_name == "lower-case-table"


def test_the_upper_case_name_wins_over_another_spelling(monkeypatch: pytest.MonkeyPatch) -> None:
    # Set last, the other spelling comes last in os.environ too.
    monkeypatch.setenv("ENTITLEMENTS_TABLE_NAME", "upper-case-table")
    monkeypatch.setenv("Entitlements_Table_Name", "mixed-case-table")
    assert load_settings().entitlements_table_name == "upper-case-table"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ENVIRONMENT", ""),
        ("RECONCILIATION_REQUESTS_PER_SECOND", "fast"),
        ("RECONCILIATION_REQUESTS_PER_SECOND", "0"),
        ("RECONCILIATION_PAGE_SIZE", "101"),
        ("WEBHOOK_MAX_BODY_BYTES", "262145"),
        ("WEBHOOK_TOLERANCE_SECONDS", "5.5"),
    ],
)
def test_a_value_out_of_its_bounds_or_type_is_refused(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match=f"{name}: must"):
        load_settings()


def test_every_bad_variable_is_named_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECONCILIATION_DAYS_BACK", "31")
    monkeypatch.setenv("RECONCILIATION_ENABLED", "sometimes")
    with pytest.raises(ConfigurationError) as refused:
        load_settings()
    assert "RECONCILIATION_DAYS_BACK" in str(refused.value)
    assert "RECONCILIATION_ENABLED" in str(refused.value)


@pytest.mark.parametrize(("word", "enabled"), [("yes", True), ("ON", True), ("0", False)])
def test_booleans_take_the_usual_words(
    monkeypatch: pytest.MonkeyPatch, word: str, enabled: bool
) -> None:
    monkeypatch.setenv("RECONCILIATION_ENABLED", word)
    assert load_settings().reconciliation_enabled is enabled


def test_numbers_and_secrets_are_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECONCILIATION_REQUESTS_PER_SECOND", "12.5")
    monkeypatch.setenv("AUDIT_CURSOR_KEY", "k1,k2")
    settings = load_settings()
    assert settings.reconciliation_requests_per_second == 12.5
    assert settings.audit_cursor_key is not None
    assert settings.audit_cursor_key.get_secret_value() == "k1,k2"
    assert "k1,k2" not in str(settings.audit_cursor_key)
    assert settings.set_by_environment >= {"reconciliation_requests_per_second"}
