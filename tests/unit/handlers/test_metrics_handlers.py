"""The metrics routes: windows, shapes, and another project's metrics refused."""

from __future__ import annotations

import pytest

from tests.support.lambda_runtime import invoke_get, json_body


@pytest.mark.parametrize("function", ["subscription_metrics", "revenue_metrics"])
def test_an_empty_project_has_zero_figures_over_the_default_window(
    aws: dict[str, str], function: str
) -> None:
    response = invoke_get(function)
    assert response["statusCode"] == 200, response["body"]
    body = json_body(response)
    assert body["project_id"] == "1"
    assert {"since", "until"} <= set(body)


def test_the_subscription_figures_have_their_fields(aws: dict[str, str]) -> None:
    body = json_body(invoke_get("subscription_metrics"))
    assert body["total_active"] == body["new"] == body["churned"] == 0
    assert body["counts_by_status"] == body["by_price"] == body["by_feature"] == {}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"since": "2026-12-01T00:00:00Z", "until": "2026-11-01T00:00:00Z"}, "since"),
        ({"since": "2025-01-01T00:00:00Z", "until": "2026-11-01T00:00:00Z"}, "since"),
        ({"since": "2026-11-01T00:00:00"}, "since"),
        ({"until": "next tuesday"}, "until"),
    ],
)
def test_bad_windows_are_422_naming_the_field(
    aws: dict[str, str], query: dict[str, str], field: str
) -> None:
    response = invoke_get("revenue_metrics", **query)
    assert response["statusCode"] == 422, response["body"]
    assert field in [e["field"] for e in json_body(response)["errors"]]
