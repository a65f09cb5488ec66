"""BatchGetItem across tables, as DynamoDB answers it: raw items by table name."""

from __future__ import annotations

from typing import Any

from billing.adapters.dynamo.errors import dynamo_errors
from billing.adapters.dynamo.models import connection
from billing.errors import DependencyUnavailableError

BATCH_READ_ATTEMPTS = 5
BATCH_READ_KEYS = 100  # DynamoDB's limit per BatchGetItem

RawItem = dict[str, Any]


def batch_get(
    keys: list[tuple[str, RawItem]], *, consistent: bool, operation: str
) -> dict[str, list[RawItem]]:
    """The items of ``(table name, key)`` pairs, by table: one BatchGetItem per 100 keys; keys
    DynamoDB leaves unprocessed under load are asked again. Missing items are simply absent."""
    found: dict[str, list[RawItem]] = {table: [] for table, _ in keys}
    for start in range(0, len(keys), BATCH_READ_KEYS):
        request: dict[str, Any] = {}
        for table, key in keys[start : start + BATCH_READ_KEYS]:
            entry = request.setdefault(table, {"Keys": [], "ConsistentRead": consistent})
            entry["Keys"].append(key)
        for _ in range(BATCH_READ_ATTEMPTS):
            with dynamo_errors(f"BatchGetItem {operation}"):
                answer = connection().dispatch("BatchGetItem", {"RequestItems": request})
            for table, items in answer.get("Responses", {}).items():
                found[table].extend(items)
            request = answer.get("UnprocessedKeys") or {}
            if not request:
                break
        if request:
            raise DependencyUnavailableError(
                f"DynamoDB BatchGetItem {operation}: keys left unprocessed"
            )
    return found
