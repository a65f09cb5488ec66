"""One place that turns PynamoDB/botocore failures into domain errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import DoesNotExist, PutError, PynamoDBException
from pynamodb.expressions.condition import Condition
from pynamodb.models import Model

from billing.errors import DependencyUnavailableError


def error_code(exc: PynamoDBException) -> str | None:
    """DynamoDB's error code, or None for a transport failure.

    PynamoDB's own ``cause_response_code`` raises when the cause has no response (a connection
    reset by a dying endpoint), so read the response defensively.
    """
    response = getattr(exc.cause, "response", None) or {}
    code = response.get("Error", {}).get("Code")
    return code if isinstance(code, str) else None


_CONDITION_CODES = frozenset({"ConditionalCheckFailedException", "TransactionCanceledException"})


def is_conditional_check_failure(exc: PynamoDBException) -> bool:
    """True when a write was refused by its condition (not a fault)."""
    return error_code(exc) in _CONDITION_CODES


@contextmanager
def dynamo_errors(operation: str) -> Iterator[None]:
    """Map throttling, timeouts and unreachable endpoints to DependencyUnavailableError.

    The message names the operation and the error code only: never keys or item contents.
    """
    try:
        yield
    except DoesNotExist:
        raise
    except PynamoDBException as exc:
        if is_conditional_check_failure(exc):
            raise
        code = error_code(exc) or type(exc.cause or exc).__name__
        raise DependencyUnavailableError(f"DynamoDB {operation} failed: {code}") from exc
    except BotoCoreError as exc:
        raise DependencyUnavailableError(
            f"DynamoDB {operation} failed: {type(exc).__name__}"
        ) from exc
    except ClientError as exc:
        # DynamoDB's own error answer, which PynamoDB sometimes lets through unwrapped
        # (describe_table re-raises it: the readiness probe).
        answered = exc.response.get("Error", {}).get("Code")
        if answered in _CONDITION_CODES:
            raise
        raise DependencyUnavailableError(
            f"DynamoDB {operation} failed: {answered or type(exc).__name__}"
        ) from exc


def get_or_none[M: Model](
    model: type[M], hash_key: str, range_key: str | None = None, *, operation: str
) -> M | None:
    """One GetItem; None when there is no such item."""
    try:
        with dynamo_errors(operation):
            return model.get(hash_key, range_key)
    except model.DoesNotExist:
        return None


def save_if(item: Model, condition: Condition, *, operation: str) -> bool:
    """A conditional PutItem; False (and nothing written) when the condition refused it."""
    try:
        with dynamo_errors(operation):
            item.save(condition=condition)
    except PutError as exc:
        if is_conditional_check_failure(exc):
            return False
        raise
    return True
