"""Text people read: control characters, line breaks and bidi overrides refused, and shown
escaped when old data holds them."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.domain.text import BIDI_CONTROLS, is_unreadable, validate_text, visible
from billing.errors import ValidationError

C0 = [chr(c) for c in range(0x20)]
C1 = [chr(c) for c in range(0x80, 0xA0)]
REFUSED = [*C0, "\x7f", *C1, *sorted(BIDI_CONTROLS), "\u2028", "\u2029", "\ud800", "\udfff"]
# Readable text that must pass: other scripts, emoji with a joiner, a no-break space, accents.
READABLE = ["ops@example.com", "Müller", "サポート", "👩\u200d💻 beta", "a\u00a0b", "e\u0301", "  "]

refused_chars = st.sampled_from(REFUSED)
readable_text = st.text(
    alphabet=st.characters(
        exclude_categories=("Cc", "Cs", "Zl", "Zp"), exclude_characters=BIDI_CONTROLS
    )
)


@pytest.mark.parametrize("char", REFUSED, ids=lambda c: f"U+{ord(c):04X}")
def test_each_control_character_is_refused_naming_the_field_and_the_character(char: str) -> None:
    with pytest.raises(ValidationError) as refused:
        validate_text(f"ops{char}root", "granted_by")
    assert refused.value.field == "granted_by"
    assert f"U+{ord(char):04X}" in refused.value.reason


@pytest.mark.parametrize("text", READABLE)
def test_readable_text_passes_unchanged(text: str) -> None:
    assert validate_text(text, "reason") == text
    assert visible(text) == text


@given(before=readable_text, char=refused_chars, after=readable_text)
def test_text_holding_any_refused_character_anywhere_is_refused(
    before: str, char: str, after: str
) -> None:
    with pytest.raises(ValidationError):
        validate_text(before + char + after, "reason")


@given(text=readable_text)
def test_text_without_them_passes(text: str) -> None:
    assert validate_text(text, "reason") == text


@given(text=st.text(alphabet=st.one_of(refused_chars, st.characters())))
def test_shown_text_holds_nothing_a_terminal_obeys(text: str) -> None:
    shown = visible(text)
    assert [c for c in shown if is_unreadable(c)] == []
    kept = visible(text, keep_newlines=True)
    assert [c for c in kept if is_unreadable(c) and c != "\n"] == []
    assert kept.count("\n") == text.count("\n")


def test_escapes_are_readable_and_name_the_character() -> None:
    assert visible("a\x1b[2Jb\u202ec\nd") == "a\\x1b[2Jb\\u202ec\\nd"
    assert visible("a\x1b\nb", keep_newlines=True) == "a\\x1b\nb"


def test_the_refused_set_is_the_unicode_categories_it_names() -> None:
    """Cc, Cs, Zl, Zp and the nine bidi controls: nothing else (emoji joiners and other
    format characters stay allowed)."""
    for code in range(0x110000):
        char = chr(code)
        expected = unicodedata.category(char) in {"Cc", "Cs", "Zl", "Zp"} or char in BIDI_CONTROLS
        assert is_unreadable(char) is expected, f"U+{code:04X}"
