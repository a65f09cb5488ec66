"""Identifiers that cross the API: canonical forms and their validation."""

from __future__ import annotations

import re

from billing.errors import ValidationError

PROJECT_ID_PATTERN = r"[0-9]{1,18}"
USER_ID_PATTERN = r"[A-Za-z0-9_.:@+-]{1,128}"
FEATURE_CODE_PATTERN = r"[a-z0-9][a-z0-9_\-]{0,63}"
FEATURE_CODE_RULE = "1-64 of lowercase letters, digits, _ or -"
_PROJECT_ID = re.compile(PROJECT_ID_PATTERN)
_USER_ID = re.compile(USER_ID_PATTERN)
_FEATURE_CODE = re.compile(FEATURE_CODE_PATTERN)


def normalize_project_id(value: object, field: str = "project_id") -> str:
    """A project id given as an integer or a numeric string, in its canonical string form.

    API.md promises both forms work (`1` and `"1"`); storage keys always use the string.
    """
    if isinstance(value, bool):
        raise ValidationError(field, "must be a positive integer")
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, str):
        text = value.strip()
    else:
        raise ValidationError(field, "must be a positive integer")
    if not _PROJECT_ID.fullmatch(text) or int(text) == 0:
        raise ValidationError(field, "must be a positive integer")
    return str(int(text))


def validate_user_id(value: str, field: str = "user_id") -> str:
    """A user id as the projects send it: 1-128 characters of a safe alphabet."""
    if not _USER_ID.fullmatch(value):
        raise ValidationError(field, "must be 1-128 characters: letters, digits, _ . : @ + -")
    return value


def is_feature_code(value: str) -> bool:
    """Whether ``value`` is a feature code: prices grant them, grants and checks name them."""
    return _FEATURE_CODE.fullmatch(value) is not None


def validate_feature_code(value: str, field: str = "feature_code") -> str:
    """A feature code as the API receives it (see :func:`is_feature_code`)."""
    if not is_feature_code(value):
        raise ValidationError(field, f"must be {FEATURE_CODE_RULE}")
    return value
