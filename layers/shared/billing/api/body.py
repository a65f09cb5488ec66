"""Request bodies as the API takes them: JSON only, parsed strictly, by one set of rules.

Every route reads its body through :func:`parse_json` (the resolvers' deserializer) after
:func:`request_body` checked the request (the project check reads the body the same way). The
rules, each a 415 or a 422 naming the field, never a 5xx:

- a request that carries a body, or names a Content-Type, says ``application/json`` (a
  ``charset``, if any, is ``utf-8``): anything else, or a body with no Content-Type, is 415;
- a body comes as sent: a Content-Encoding other than ``identity`` (``gzip``...) is 415, as
  nothing decodes it (the REST API sets no MinimumCompressionSize, so API Gateway passes the
  bytes on as they came, and reading gzip as JSON would take whatever a body says it is);
- the body is UTF-8 JSON: no duplicate keys (the key is named), nested at most
  :data:`MAX_DEPTH` deep, integers of at most :data:`MAX_INTEGER_DIGITS` digits, no
  ``NaN``/``Infinity`` nor a number too large for a float.

Standard library only: the hot read paths import this module too.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Iterator, Mapping
from typing import Any

from billing.errors import UnsupportedMediaTypeError, ValidationError

JSON_MEDIA_TYPE = "application/json"
MAX_DEPTH = 32
MAX_INTEGER_DIGITS = 32
CONTENT_TYPE = "Content-Type"
CONTENT_ENCODING = "Content-Encoding"
IDENTITY = "identity"
_UTF8 = ("utf-8", "utf8")


class _Refused:
    """A value the parser met but the API does not take; found with its path afterwards."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


class _DuplicateKeys(dict[str, Any]):
    """An object that named ``key`` twice (JSON allows it; which one wins is anyone's guess)."""

    def __init__(self, pairs: list[tuple[str, Any]], key: str) -> None:
        super().__init__(pairs)
        self.key = key


def _first_repeated(pairs: list[tuple[str, Any]]) -> str:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            return key
        seen.add(key)
    raise AssertionError("no key is repeated")  # callers call it for a repeated key only


def parse_json(text: str) -> Any:
    """``text`` as JSON under the rules above; ValidationError naming the field otherwise."""
    marked: list[_Refused | _DuplicateKeys] = []

    def mark[T: (_Refused, _DuplicateKeys)](found: T) -> T:
        marked.append(found)
        return found

    def json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        built = dict(pairs)
        return (
            built
            if len(built) == len(pairs)
            else mark(_DuplicateKeys(pairs, _first_repeated(pairs)))
        )

    def integer(digits: str) -> int | _Refused:
        if len(digits.lstrip("-")) > MAX_INTEGER_DIGITS:
            return mark(_Refused(f"integers have at most {MAX_INTEGER_DIGITS} digits"))
        return int(digits)

    def number(digits: str) -> float | _Refused:
        value = float(digits)
        return value if math.isfinite(value) else mark(_Refused("too large for a number"))

    def constant(name: str) -> _Refused:
        return mark(_Refused(f"{name} is not a JSON number"))

    try:
        value = json.loads(
            text,
            object_pairs_hook=json_object,
            parse_int=integer,
            parse_float=number,
            parse_constant=constant,
        )
    except RecursionError:
        raise ValidationError("body", f"nested deeper than {MAX_DEPTH} levels") from None
    except json.JSONDecodeError as exc:
        reason = f"must be JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        raise ValidationError("body", reason) from None
    # Nesting needs as many brackets (counted in C), so most bodies need no walk at all.
    if marked or text.count("[") + text.count("{") > MAX_DEPTH:
        _check_tree(value)
    return value


def _check_tree(value: Any) -> None:
    """Walk the parsed value (no recursion: it may be deep) for what the hooks marked."""
    # Fields are dotted from the top-level object; inside a body that is a list, from "body".
    pending: list[tuple[Any, str, int]] = [(value, "" if isinstance(value, dict) else "body", 0)]
    while pending:
        node, path, depth = pending.pop()
        if isinstance(node, _Refused):
            raise ValidationError(path or "body", node.reason)
        if isinstance(node, _DuplicateKeys):
            raise ValidationError(_join(path, node.key), "given more than once")
        if isinstance(node, dict | list):
            if depth >= MAX_DEPTH:
                raise ValidationError(path or "body", f"nested deeper than {MAX_DEPTH} levels")
            pending.extend((child, _join(path, key), depth + 1) for key, child in _items(node))


def _items(node: dict[str, Any] | list[Any]) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        return iter(node.items())
    return ((str(index), child) for index, child in enumerate(node))


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def header_values(headers: Mapping[str, Any], wanted: str) -> list[str]:
    """Every value of the header ``wanted`` (any case) in ``headers``: name -> value or list
    of values (API Gateway's multiValueHeaders)."""
    return [
        str(value)
        for name, values in headers.items()
        if name.lower() == wanted.lower()
        for value in (values if isinstance(values, list) else [values])
    ]


def check_content_type(headers: Mapping[str, Any], has_body: bool) -> None:
    """UnsupportedMediaTypeError (415) unless the request's one Content-Type is JSON in UTF-8,
    or it has neither a body nor a Content-Type; and, with a body, unless each coding of its
    Content-Encoding, if any, is ``identity``. ``headers``: name -> value or list of values
    (API Gateway's multiValueHeaders), names in any case."""
    if has_body:
        _check_content_encoding(header_values(headers, CONTENT_ENCODING))
    given = header_values(headers, CONTENT_TYPE)
    if not given:
        if has_body:
            raise UnsupportedMediaTypeError(CONTENT_TYPE, f"a body needs {JSON_MEDIA_TYPE}")
        return
    if len(set(given)) > 1:
        raise UnsupportedMediaTypeError(CONTENT_TYPE, "given more than once")
    media_type, *parameters = (part.strip() for part in given[0].split(";"))
    if media_type.lower() != JSON_MEDIA_TYPE:
        raise UnsupportedMediaTypeError(CONTENT_TYPE, f"must be {JSON_MEDIA_TYPE}")
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in _UTF8:
            raise UnsupportedMediaTypeError(CONTENT_TYPE, "the charset must be utf-8")


def _check_content_encoding(given: list[str]) -> None:
    codings = [coding.strip().lower() for value in given for coding in value.split(",")]
    if any(coding not in ("", IDENTITY) for coding in codings):
        raise UnsupportedMediaTypeError(
            CONTENT_ENCODING, f"must be {IDENTITY} (or absent): the body is read as sent"
        )


def body_text(raw_event: Mapping[str, Any]) -> str | None:
    """The body of a proxy event as text (None: no body); ValidationError when it is not
    UTF-8."""
    body = raw_event.get("body")
    if not body:
        return None
    if not raw_event.get("isBase64Encoded"):
        return str(body)
    try:
        return base64.b64decode(str(body), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise ValidationError("body", "must be UTF-8 encoded JSON") from None


def all_headers(raw_event: Mapping[str, Any]) -> dict[str, Any]:
    """A proxy event's headers, each with every value sent (REST: multiValueHeaders)."""
    headers: dict[str, Any] = dict(raw_event.get("headers") or {})
    headers.update(raw_event.get("multiValueHeaders") or {})
    return headers


def request_body(raw_event: dict[str, Any]) -> Any:
    """The checked body of a REST proxy event: None without one, else its JSON value. The
    event's Content-Type is rewritten to the plain ``application/json`` the resolver expects
    (it knows no other spelling), so it parses the same body the same way."""
    headers = all_headers(raw_event)
    check_content_type(headers, has_body=bool(raw_event.get("body")))  # 415 before 422
    if any(name.lower() == "content-type" for name in headers):
        _plain_content_type(raw_event)
    text = body_text(raw_event)
    return None if text is None else parse_json(text)


def _plain_content_type(raw_event: dict[str, Any]) -> None:
    for field, value in (("headers", JSON_MEDIA_TYPE), ("multiValueHeaders", [JSON_MEDIA_TYPE])):
        given = raw_event.get(field)
        if given:
            kept = {name: v for name, v in given.items() if name.lower() != "content-type"}
            raw_event[field] = {**kept, CONTENT_TYPE: value}
