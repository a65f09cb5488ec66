import pytest

from billing.domain.ids import normalize_project_id, validate_user_id
from billing.errors import ValidationError


@pytest.mark.parametrize(
    ("value", "expected"), [(1, "1"), ("1", "1"), (" 42 ", "42"), ("007", "7")]
)
def test_project_ids_accept_integers_and_numeric_strings(value: object, expected: str) -> None:
    assert normalize_project_id(value) == expected


@pytest.mark.parametrize("value", [0, -1, "0", "abc", "1.5", "", True, None, 1.0, "1 OR 1=1"])
def test_other_project_ids_are_refused_naming_the_field(value: object) -> None:
    with pytest.raises(ValidationError) as error:
        normalize_project_id(value)
    assert error.value.field == "project_id"


@pytest.mark.parametrize("value", ["user_42", "auth0|x".replace("|", ":"), "a@b.c", "u" * 128])
def test_user_ids_of_the_safe_alphabet_pass(value: str) -> None:
    assert validate_user_id(value) == value


@pytest.mark.parametrize("value", ["", "u" * 129, "a b", "x'; DROP TABLE", "ü", "../etc"])
def test_other_user_ids_are_refused(value: str) -> None:
    with pytest.raises(ValidationError, match="user_id"):
        validate_user_id(value)
