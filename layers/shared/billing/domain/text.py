"""Text that people read (who granted, why, names): what it may hold, and how to show it.

A control character in such text can rewrite the terminal that shows it (ANSI escapes), and a
line break or a bidi override can fake a line or reorder one; none of them belongs in a name or
a reason. They are refused on the way in and escaped on the way out (old data may hold them).
"""

from __future__ import annotations

import unicodedata

from billing.errors import ValidationError

# C0 and C1 controls and DEL (Cc; ANSI escapes start with ESC or the C1 CSI), lone surrogates
# (Cs: no valid UTF-8), and the line and paragraph separators (Zl, Zp).
_REFUSED_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})
# The bidi embeddings and overrides (U+202A-U+202E) and isolates (U+2066-U+2069).
BIDI_CONTROLS = frozenset(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))
TEXT_RULE = "must not contain control characters, line breaks or bidi overrides"
_ASCII_CONTROLS = frozenset(chr(c) for c in (*range(0x20), 0x7F))


def is_unreadable(char: str) -> bool:
    """Whether ``char`` may change how a terminal or a page shows the text around it."""
    if char.isascii():
        return char in _ASCII_CONTROLS
    return char in BIDI_CONTROLS or unicodedata.category(char) in _REFUSED_CATEGORIES


def first_unreadable(text: str) -> str | None:
    """The first character of ``text`` that :func:`is_unreadable`, if any."""
    if text.isascii() and text.isprintable():
        return None  # the common case, in C
    return next((char for char in text if is_unreadable(char)), None)


def validate_text(value: str, field: str) -> str:
    """``value`` unchanged, or ValidationError naming ``field`` and the character refused."""
    char = first_unreadable(value)
    if char is not None:
        raise ValidationError(field, f"{TEXT_RULE} (found U+{ord(char):04X})")
    return value


def visible(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` with every unreadable character written as its escape (``\\x1b``,
    ``\\u202e``), so printing it shows the bytes instead of obeying them. ``keep_newlines``
    leaves ``\\n`` alone: for output whose own lines are joined already."""
    if first_unreadable(text) is None:
        return text
    return "".join(
        _escaped(char) if is_unreadable(char) and not (keep_newlines and char == "\n") else char
        for char in text
    )


_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(char: str) -> str:
    if char in _NAMED_ESCAPES:
        return _NAMED_ESCAPES[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"  # noqa: PLR2004 - one byte
