"""What each endpoint accepts: unknown parameters are refused, values are typed, like Stripe.

Stripe answers ``parameter_unknown`` for any parameter it does not know, so a typo in the
service (``subscription_data[metdata]``) fails in tests instead of being silently ignored. A
schema is a nested mapping of parameter names to :class:`Scalar`, :data:`METADATA`,
:class:`ListOf`, :data:`RANGE` or another mapping; :func:`check` returns the typed values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from billing_devstack.stripe_standin.errors import StripeError, invalid, unknown

MAX_METADATA_KEYS = 50
MAX_METADATA_KEY_LENGTH = 40
MAX_METADATA_VALUE_LENGTH = 500
_RANGE_KEYS = ("gt", "gte", "lt", "lte")


@dataclass(frozen=True)
class Scalar:
    """A string, integer or boolean leaf, optionally limited to choices or a range;
    ``unsettable``: an empty string is accepted (and returned), Stripe's way to unset a field."""

    kind: Literal["string", "integer", "number", "boolean"]
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    unsettable: bool = False


@dataclass(frozen=True)
class ListOf:
    """An array (``key[0]=`` or ``key[]=``) of one kind of element."""

    item: Spec


@dataclass(frozen=True)
class _Metadata:
    """Free-form string keys and values, with Stripe's limits."""


@dataclass(frozen=True)
class _Range:
    """A timestamp filter: ``created=123`` or ``created[gte]=123`` (and gt, lt, lte)."""


type Spec = Scalar | ListOf | _Metadata | _Range | Mapping[str, Spec]

STRING = Scalar("string")
UNSETTABLE_STRING = Scalar("string", unsettable=True)  # "" unsets it (description on update)
INTEGER = Scalar("integer")
NUMBER = Scalar("number")  # a decimal (percent_off=25.5)
BOOLEAN = Scalar("boolean")
METADATA = _Metadata()
RANGE = _Range()
EXPAND: Mapping[str, Spec] = {"expand": ListOf(STRING)}
LIST_PAGING: Mapping[str, Spec] = {
    **EXPAND,
    "limit": Scalar("integer", minimum=1, maximum=100),
    "starting_after": STRING,
    "ending_before": STRING,
}


def choice(*choices: str) -> Scalar:
    """A string limited to ``choices``."""
    return Scalar("string", choices=choices)


def check(params: Mapping[str, Any], schema: Mapping[str, Spec]) -> dict[str, Any]:
    """Typed parameters, or the StripeError Stripe would answer (unknown, wrong type...)."""
    return _mapping(params, schema, prefix="")


def _name(prefix: str, key: str) -> str:
    return f"{prefix}[{key}]" if prefix else key


def _mapping(value: Any, schema: Mapping[str, Spec], prefix: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise invalid(f"Invalid object: {prefix} must be a hash", param=prefix)
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = _name(prefix, key)
        if key not in schema:
            raise unknown(name)
        out[key] = _value(item, schema[key], name)
    return out


def _value(value: Any, spec: Spec, name: str) -> Any:
    if isinstance(spec, Scalar):
        return _scalar(value, spec, name)
    if isinstance(spec, ListOf):
        return _list(value, spec, name)
    if isinstance(spec, _Metadata):
        return _metadata(value, name)
    if isinstance(spec, _Range):
        return _range(value, name)
    return _mapping(value, spec, name)


def _scalar(value: Any, spec: Scalar, name: str) -> str | int | float | bool:
    if not isinstance(value, str):
        raise invalid(f"Invalid {spec.kind}: {name} must be a single value", param=name)
    if value == "" and spec.unsettable:
        return value
    if value == "":
        raise StripeError(
            f"You passed an empty string for '{name}'. We assume empty values are an attempt "
            f"to unset a parameter; however '{name}' cannot be unset. You should remove "
            f"'{name}' from your request or supply a non-empty value.",
            code="parameter_invalid_empty",
            param=name,
        )
    if spec.kind == "integer":
        return _integer(value, spec, name)
    if spec.kind == "number":
        return _number(value, name)
    if spec.kind == "boolean":
        if value not in ("true", "false"):
            raise invalid(f"Invalid boolean: {value}", param=name)
        return value == "true"
    if spec.choices and value not in spec.choices:
        options = ", ".join(spec.choices[:-1]) + f", or {spec.choices[-1]}"
        raise invalid(f"Invalid {name}: must be one of {options}", param=name)
    return value


def _integer(value: str, spec: Scalar, name: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise invalid(
            f"Invalid integer: {value}", param=name, code="parameter_invalid_integer"
        ) from None
    if spec.minimum is not None and number < spec.minimum:
        raise invalid(f"This value must be greater than or equal to {spec.minimum}.", param=name)
    if spec.maximum is not None and number > spec.maximum:
        raise invalid(f"This value must be less than or equal to {spec.maximum}.", param=name)
    return number


def _number(value: str, name: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise invalid(f"Invalid decimal: {value}", param=name) from None
    if not math.isfinite(number):
        raise invalid(f"Invalid decimal: {value}", param=name)
    return number


def _list(value: Any, spec: ListOf, name: str) -> list[Any]:
    if isinstance(value, str) and value == "":
        return []  # key= clears an array, as in Stripe
    if not isinstance(value, list):
        raise invalid(f"Invalid array: {name} must be an array", param=name)
    return [_value(item, spec.item, f"{name}[{index}]") for index, item in enumerate(value)]


def _metadata(value: Any, name: str) -> dict[str, str]:
    if isinstance(value, str) and value == "":
        return {}
    if not isinstance(value, Mapping):
        raise invalid(f"Invalid object: {name} must be a hash", param=name)
    if len(value) > MAX_METADATA_KEYS:
        raise invalid(f"Invalid {name}: at most {MAX_METADATA_KEYS} keys", param=name)
    for key, item in value.items():
        if not isinstance(item, str):
            raise invalid(f"Invalid string: {name}[{key}] must be a string", param=f"{name}[{key}]")
        if len(key) > MAX_METADATA_KEY_LENGTH or len(item) > MAX_METADATA_VALUE_LENGTH:
            raise invalid(
                f"Metadata keys can be up to {MAX_METADATA_KEY_LENGTH} characters and values "
                f"up to {MAX_METADATA_VALUE_LENGTH}.",
                param=f"{name}[{key}]",
            )
    return dict(value)


def _range(value: Any, name: str) -> dict[str, int]:
    if isinstance(value, str):
        exact = _integer(value, INTEGER, name)
        return {"gte": exact, "lte": exact}
    bounds = _mapping(value, dict.fromkeys(_RANGE_KEYS, INTEGER), name)
    return {key: int(bound) for key, bound in bounds.items()}


def in_range(timestamp: int, bounds: Mapping[str, int]) -> bool:
    """Whether ``timestamp`` satisfies a decoded :data:`RANGE` filter."""
    checks = {
        "gt": timestamp > bounds.get("gt", timestamp - 1),
        "gte": timestamp >= bounds.get("gte", timestamp),
        "lt": timestamp < bounds.get("lt", timestamp + 1),
        "lte": timestamp <= bounds.get("lte", timestamp),
    }
    return all(checks.values())
