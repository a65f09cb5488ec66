"""Audit cursors: opaque, tamper-proof, and only good for the project and user they were
issued for. Anything else is a 422 naming ``cursor``."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.domain.cursors import CursorSeal
from billing.errors import ConfigurationError, ValidationError

KEY, OTHER_KEY = "k" * 32, "o" * 32
POSITION = "2026-11-01T12:00:00.123456Z#0a1b2c3d"
OWNER = {"project_id": "1", "user_id": "user_42"}
seal = CursorSeal([KEY])
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def refused(cursor: str, project_id: str = "1", user_id: str = "user_42") -> None:
    with pytest.raises(ValidationError) as caught:
        seal.open(cursor, project_id=project_id, user_id=user_id)
    assert caught.value.field == "cursor"


def test_a_cursor_opens_to_its_position_for_its_owner_and_shows_nothing_of_it() -> None:
    cursor = seal.seal(POSITION, **OWNER)
    assert seal.open(cursor, **OWNER) == POSITION
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    for part in (POSITION, "2026", "#", "user_42"):
        assert part not in cursor and part.encode() not in raw


@pytest.mark.parametrize(
    ("project_id", "user_id"), [("2", "user_42"), ("1", "user_43"), ("11", "user_42")]
)
def test_another_projects_or_users_cursor_is_refused(project_id: str, user_id: str) -> None:
    cursor = seal.seal(POSITION, project_id=project_id, user_id=user_id)
    refused(cursor)


@given(index=st.integers(min_value=0), bit=st.integers(min_value=0, max_value=7))
def test_any_changed_bit_is_refused(index: int, bit: int) -> None:
    cursor = seal.seal(POSITION, **OWNER)
    raw = bytearray(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    raw[index % len(raw)] ^= 1 << bit
    refused(base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("="))


@given(index=st.integers(min_value=0), char=st.sampled_from(ALPHABET))
def test_any_changed_character_is_refused_even_one_decoding_to_the_same_bytes(
    index: int, char: str
) -> None:
    cursor = seal.seal(POSITION, **OWNER)
    at = index % len(cursor)
    changed = cursor[:at] + char + cursor[at + 1 :]
    if changed != cursor:
        refused(changed)


@given(cut=st.integers(min_value=1))
def test_a_truncated_or_extended_cursor_is_refused(cut: int) -> None:
    cursor = seal.seal(POSITION, **OWNER)
    refused(cursor[: len(cursor) - cut % len(cursor)] if cut % len(cursor) else cursor[:-1])
    refused(cursor + "AAAA")


@given(text=st.text(max_size=3000))
def test_any_made_up_string_is_refused(text: str) -> None:
    refused(text)


def test_the_table_key_the_old_cursors_carried_in_base64_is_refused() -> None:
    old = base64.urlsafe_b64encode(
        b'{"project_user": {"S": "2#victim"}, "at_id": {"S": "2026-01-01T00:00:00.000000Z#1"}}'
    ).decode()
    refused(old)


def test_during_a_rotation_the_new_key_seals_and_both_open() -> None:
    old_cursor = CursorSeal([OTHER_KEY]).seal(POSITION, **OWNER)
    rotating = CursorSeal([KEY, OTHER_KEY])
    assert rotating.open(old_cursor, **OWNER) == POSITION
    assert seal.open(rotating.seal(POSITION, **OWNER), **OWNER) == POSITION
    refused(old_cursor)  # once the old key is gone


@pytest.mark.parametrize("keys", [[], [""], ["short"], [KEY, "x" * 31]])
def test_a_missing_or_short_key_is_a_configuration_error(keys: list[str]) -> None:
    with pytest.raises(ConfigurationError):
        CursorSeal(keys)
