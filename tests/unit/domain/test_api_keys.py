import hashlib
import re
from datetime import UTC, datetime, timedelta

import pytest

from billing.domain.api_keys import (
    ALL_SCOPES,
    ApiKeyGrant,
    generate_api_key,
    hash_api_key,
    key_checksum,
    parse_scopes,
    validate_importable_key,
)
from billing.errors import ValidationError

NOW = datetime(2026, 11, 25, tzinfo=UTC)


def test_new_keys_are_prefix_random_checksum() -> None:
    key = generate_api_key()
    match = re.fullmatch(r"bk_([0-9A-Za-z]{32})_([0-9A-Za-z]{6})", key)
    assert match is not None, key
    assert key_checksum(match.group(1)) == match.group(2)


def test_new_keys_do_not_repeat() -> None:
    assert len({generate_api_key() for _ in range(2000)}) == 2000


def test_the_checksum_catches_a_typo() -> None:
    random_part = generate_api_key().split("_")[1]
    typo = ("x" if random_part[0] != "x" else "y") + random_part[1:]
    assert key_checksum(typo) != key_checksum(random_part)


def test_the_hash_is_sha256_hex() -> None:
    digest = hash_api_key("sk_demo_space_journal")
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert digest == hashlib.sha256(b"sk_demo_space_journal").hexdigest()


@pytest.mark.parametrize("key", ["sk_demo_space_journal", "a" * 16, "K-" + "9" * 254])
def test_existing_keys_of_a_plain_shape_can_be_imported(key: str) -> None:
    assert validate_importable_key(key) == key


@pytest.mark.parametrize("key", ["short", "a" * 257, "has space in it!", "é" * 20, ""])
def test_other_keys_cannot_be_imported(key: str) -> None:
    with pytest.raises(ValidationError, match="key"):
        validate_importable_key(key)


def test_scopes_default_to_all_and_refuse_unknown_names() -> None:
    assert parse_scopes(None) == ALL_SCOPES
    assert parse_scopes(["admin", " metrics "]) == {"admin", "metrics"}
    with pytest.raises(ValidationError, match="scopes"):
        parse_scopes(["admin", "root"])


def grant(**changes: object) -> ApiKeyGrant:
    fields: dict[str, object] = {
        "key_hash": hash_api_key("k" * 20),
        "project_id": "1",
        "app_id": "app_1",
        "active": True,
        "scopes": ALL_SCOPES,
        "expires_at": None,
    }
    fields.update(changes)
    return ApiKeyGrant(**fields)  # type: ignore[arg-type]


def test_a_grant_allows_its_own_key_until_it_expires() -> None:
    presented = hash_api_key("k" * 20)
    assert grant().allows(presented, NOW)
    assert grant(expires_at=NOW + timedelta(seconds=1)).allows(presented, NOW)
    assert not grant(expires_at=NOW).allows(presented, NOW)
    assert not grant(active=False).allows(presented, NOW)
    assert not grant().allows(hash_api_key("j" * 20), NOW)
