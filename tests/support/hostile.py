"""Hypothesis strategies of hostile request parts, for the generated half of
tests/integration/test_hostile_input.py.

Each strategy covers a whole class of input rather than a few examples of it, wide enough that
the suite would have found each problem of issue #19 on its own: JSON of any depth and size,
numbers of any length, times at the edges of the calendar and of the UTC offsets, any
Content-Type, ``project_id`` in every position and spelling, and cursors that are forged,
changed, truncated, extended or replayed for another user or project.
"""

from __future__ import annotations

import base64
import json
import string
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from billing.domain.text import BIDI_CONTROLS

# --------------------------------------------------------------------------- JSON
NESTING = st.one_of(
    st.integers(min_value=33, max_value=200),  # just over the service's 32
    st.integers(min_value=900, max_value=1100),  # around Python's recursion limit
    st.integers(min_value=10_000, max_value=200_000),  # a body of brackets
)


@st.composite
def nested_json(draw: st.DrawFn) -> str:
    """JSON nested deeper than the API takes, as the body or under one of its keys, lists or
    objects or both, closed or left open."""
    depth = draw(NESTING)
    shape = draw(st.sampled_from(["list", "object", "alternating"]))
    pattern = {"list": ["["], "object": ['{"a":'], "alternating": ["[", '{"a":']}[shape]
    opened = (pattern * depth)[:depth]
    closing = "".join("]" if part == "[" else "}" for part in reversed(opened))
    inner = "".join(opened) + "1" + (closing if draw(st.booleans()) else "")
    where = draw(st.sampled_from(["body", "under project_id", "under an extra key"]))
    if where == "body":
        return inner
    key = "project_id" if where == "under project_id" else "extra"
    return '{"user_id": "u", "' + key + '": ' + inner + "}"


json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=50)
)
any_json = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=20), children, max_size=5)
    ),
    max_leaves=50,
)


# --------------------------------------------------------------------------- numbers
@st.composite
def long_numbers(draw: st.DrawFn) -> str:
    """A JSON number (as its text) the API does not take: integers of 33 to 10,000 digits
    (Python converts at most 4,300), exponents beyond a float, and NaN/Infinity."""
    kind = draw(st.sampled_from(["integer", "exponent", "constant"]))
    sign = draw(st.sampled_from(["", "-"]))
    if kind == "integer":
        digits = draw(
            st.one_of(st.integers(33, 200), st.integers(4_290, 4_310), st.integers(4_311, 10_000))
        )
        first = draw(st.sampled_from("123456789"))
        return sign + first + draw(st.sampled_from("0123456789")) * (digits - 1)
    if kind == "exponent":
        exponent = draw(st.integers(min_value=309, max_value=100_000))
        return f"{sign}{draw(st.integers(1, 9))}e{exponent}"
    return draw(st.sampled_from(["NaN", "Infinity", "-Infinity"]))


# --------------------------------------------------------------------------- times
offsets = st.one_of(
    st.just("Z"),
    st.builds(
        lambda sign, hours, minutes: f"{sign}{hours:02d}:{minutes:02d}",
        st.sampled_from("+-"),
        st.one_of(st.sampled_from([14, 23, 12, 0]), st.integers(0, 23)),
        st.one_of(st.sampled_from([0, 59, 30, 45]), st.integers(0, 59)),
    ),
)


@st.composite
def edge_times(draw: st.DrawFn, *, years: st.SearchStrategy[int] | None = None) -> str:
    """An ISO 8601 time at the calendar's edges (years 1 and 9999 by default, first and last
    days, first and last second) with any UTC offset datetime takes (+-23:59), e.g.
    ``9999-12-31T23:59:59-14:00`` or ``0001-01-01T00:00:00+14:00``."""
    year = draw(years if years is not None else st.sampled_from([1, 2, 1969, 1970, 9998, 9999]))
    month = draw(st.one_of(st.sampled_from([1, 12]), st.integers(1, 12)))
    last_day = 29 if month == 2 else (30 if month in (4, 6, 9, 11) else 31)
    day = draw(st.one_of(st.sampled_from([1, last_day]), st.integers(1, 28)))
    clock = draw(
        st.one_of(
            st.sampled_from(["00:00:00", "23:59:59", "23:59:59.999999"]),
            st.times().map(lambda t: t.isoformat()),
        )
    )
    return f"{year:04d}-{month:02d}-{day:02d}T{clock}{draw(offsets)}"


def grant_ends_never_accepted() -> st.SearchStrategy[str]:
    """Times a grant can never end at: before 1970 (in the past, and outside the range), or
    in 9999 after January (outside the range, whatever the offset)."""
    years = st.one_of(st.integers(1, 1969), st.just(9999))
    return edge_times(years=years).filter(lambda t: not t.startswith("9999-01"))


# --------------------------------------------------------------------------- content types
JSON_IN_UTF8 = ("application/json",)
MEDIA_TYPES = [
    "text/plain",
    "text/html",
    "text/json",
    "application/xml",
    "image/png",
    "*/*",
    "application/*",
    "application/octet-stream",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=xyz",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/vnd.api+json",
    "application/jsonp",
    "application/json5",
    "json",
    "application",
    "application/json/",
    "application/json; charset=latin-1",
    "application/json; charset=utf-16",
    "application/json; charset=ascii",
]
_TOKEN_CHARS = string.ascii_letters + string.digits + "!#$&^_.+-"


def _is_json_in_utf8(content_type: str) -> bool:
    media_type, *parameters = (part.strip() for part in content_type.split(";"))
    charsets = [
        value.strip().strip('"').lower()
        for name, _, value in (p.partition("=") for p in parameters)
        if name.strip().lower() == "charset"
    ]
    return media_type.lower() in JSON_IN_UTF8 and all(c in ("utf-8", "utf8") for c in charsets)


content_types = st.one_of(
    st.sampled_from(MEDIA_TYPES),
    st.builds(
        lambda kind, sub, params: f"{kind}/{sub}{params}",
        st.text(_TOKEN_CHARS, min_size=1, max_size=15),
        st.text(_TOKEN_CHARS, min_size=1, max_size=15),
        st.one_of(
            st.just(""),
            st.builds(
                lambda k, v: f"; {k}={v}",
                st.text(_TOKEN_CHARS, min_size=1, max_size=8),
                st.text(_TOKEN_CHARS, min_size=1, max_size=8),
            ),
        ),
    ),
).filter(lambda c: not _is_json_in_utf8(c))
"""Any Content-Type header value but JSON in UTF-8."""

bodies = st.one_of(
    any_json.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=2_000),
    st.just(
        b'--xyz\r\nContent-Disposition: form-data; name="project_id"\r\n\r\n502\r\n--xyz--\r\n'
    ),
    st.just(b"project_id=502&user_id=victim"),
)

# --------------------------------------------------------------------------- project ids
PROJECT_ID_SPELLINGS = [
    "project_id",
    "Project_Id",
    "PROJECT_ID",
    "projectId",
    "ProjectID",
    "project-id",
    "Project-ID",
    "projectid",
    "project id",
]


def id_forms(project_id: str) -> st.SearchStrategy[Any]:
    """``project_id`` in every form the API reads as that project."""
    return st.sampled_from(
        [
            int(project_id),
            project_id,
            f" {project_id} ",
            f"000{project_id}",
            f"\t{project_id}",
        ]
    )


@dataclass(frozen=True)
class Placement:
    """Where a request names a project: ``query`` (repeatable), ``body`` (a top-level key)
    or ``path`` (the route's own parameter), under which spelling, with which value."""

    position: str
    spelling: str
    value: Any
    foreign: bool = field(compare=False)


@st.composite
def placements(draw: st.DrawFn, own: str, foreign: str, *, in_path: bool) -> list[Placement]:
    """One to five places naming a project, at least one of them ``foreign``. Body keys are
    spelled differently from each other (a key given twice is its own 422)."""
    count = draw(st.integers(min_value=1, max_value=5))
    foreign_at = draw(st.integers(min_value=0, max_value=count - 1))
    positions = ["query", "body", *(["path"] if in_path else [])]
    chosen: list[Placement] = []
    body_spellings: set[str] = set()
    path_taken = False
    for index in range(count):
        is_foreign = index == foreign_at
        position = draw(st.sampled_from(positions))
        if position == "path" and path_taken:
            position = "query"
        path_taken |= position == "path"
        spelling = (
            "project_id" if position == "path" else draw(st.sampled_from(PROJECT_ID_SPELLINGS))
        )
        if position == "body":
            if spelling in body_spellings:
                position = "query"
            body_spellings.add(spelling)
        target = foreign if is_foreign else own
        value: Any
        if position == "path":  # digits only in a path (padding there is its own 422)
            value = draw(st.sampled_from([target, f"000{target}"]))
        else:
            value = draw(id_forms(target))
            value = value if position == "body" else str(value)
        chosen.append(Placement(position, spelling, value, is_foreign))
    return chosen


# --------------------------------------------------------------------------- text
REFUSED_CHARACTERS = st.one_of(
    st.characters(categories=["Cc"]),
    st.characters(categories=["Zl", "Zp"]),
    st.sampled_from(sorted(BIDI_CONTROLS)),
    st.sampled_from(["\x1b[2J", "\x1b]0;pwned\x07", "\x9b31m", "\r\n", "\u2028"]),
)


@st.composite
def unreadable_text(draw: st.DrawFn) -> str:
    """Readable text with at least one control character, line break, ANSI escape or bidi
    override inside it (leading and trailing whitespace is trimmed by the API, so it sits
    between two letters)."""
    before = draw(st.text(string.ascii_letters, min_size=1, max_size=20))
    after = draw(st.text(string.ascii_letters, min_size=1, max_size=20))
    return before + draw(REFUSED_CHARACTERS) + after


# --------------------------------------------------------------------------- ports
invalid_ports = st.one_of(
    st.sampled_from(["0", "00", "000000", "65536", "99999", "-1", "+443", "0x1bb", "4 43", "٤٤٣"]),
    st.integers(min_value=65_536, max_value=10**12).map(str),
    st.text(string.ascii_letters + "_.~!$", min_size=1, max_size=8),
)


# --------------------------------------------------------------------------- cursors
@st.composite
def changed_cursors(draw: st.DrawFn, cursor: str) -> str:
    """``cursor`` truncated, extended, with a character changed, swapped or shuffled, or
    something that only looks like one."""
    alphabet = string.ascii_letters + string.digits + "-_"
    kind = draw(st.sampled_from(["truncated", "extended", "changed", "reversed", "made up"]))
    if kind == "truncated":
        return cursor[: draw(st.integers(min_value=0, max_value=len(cursor) - 1))]
    if kind == "extended":
        return cursor + draw(st.text(alphabet + "=", min_size=1, max_size=40))
    if kind == "changed":
        at = draw(st.integers(min_value=0, max_value=len(cursor) - 1))
        char = draw(st.sampled_from(alphabet).filter(lambda c: c != cursor[at]))
        return cursor[:at] + char + cursor[at + 1 :]
    if kind == "reversed":
        return cursor[::-1]
    return draw(
        st.one_of(
            st.text(alphabet, min_size=1, max_size=200),
            st.text(max_size=300).filter(bool),
            st.binary(min_size=1, max_size=200).map(
                lambda raw: base64.urlsafe_b64encode(raw).decode().rstrip("=")
            ),
        )
    )
