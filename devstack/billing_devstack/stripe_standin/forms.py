"""Stripe's form encoding: ``a[b][0][c]=v`` bodies and query strings as nested values.

Stripe takes ``application/x-www-form-urlencoded`` with bracketed keys; arrays come as
``key[0]`` (stripe-python) or ``key[]`` (curl users). Decoding to plain dicts and lists lets the
endpoints validate one shape whatever the client sent.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from billing_devstack.stripe_standin.errors import invalid

_SEGMENT = re.compile(r"\[([^\[\]]*)\]")
# Under these keys, digit-only names stay names: metadata[1]=x is a key "1", not a list.
_FREE_FORM = frozenset({"metadata"})


def split_key(key: str) -> list[str]:
    """``line_items[0][price]`` -> ``["line_items", "0", "price"]``; ``expand[]`` -> [.., ""]."""
    head, bracket, rest = key.partition("[")
    if not bracket:
        return [key]
    segments = _SEGMENT.findall("[" + rest)
    if "".join(f"[{part}]" for part in segments) != "[" + rest:
        raise invalid(f"Invalid parameter name: {key}", param=key)
    return [head, *segments]


def decode(raw: bytes | str) -> dict[str, Any]:
    """Decode a body or query string; repeated plain keys keep the last value, like Stripe."""
    text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    tree: dict[str, Any] = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        _insert(tree, split_key(key), value, key)
    return _listify(tree)


def _insert(tree: dict[str, Any], segments: list[str], value: str, key: str) -> None:
    node = tree
    for position, segment in enumerate(segments):
        name = str(len(node)) if segment == "" else segment
        last = position == len(segments) - 1
        if last:
            if isinstance(node.get(name), dict):
                raise invalid(f"Invalid hash: {key} is both a value and a hash", param=key)
            node[name] = value
            return
        child = node.setdefault(name, {})
        if not isinstance(child, dict):
            raise invalid(f"Invalid hash: {key} is both a value and a hash", param=key)
        node = child


def _listify(node: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in node.items():
        if not isinstance(value, dict):
            out[name] = value
        elif name not in _FREE_FORM and value and all(key.isdigit() for key in value):
            items = sorted(value.items(), key=lambda pair: int(pair[0]))
            out[name] = [_listify(item) if isinstance(item, dict) else item for _, item in items]
        else:
            out[name] = value if name in _FREE_FORM else _listify(value)
    return out
