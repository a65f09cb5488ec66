import pytest

from tests.support.lambda_runtime import invoke, json_body, load_event


@pytest.mark.parametrize(
    ("function", "issue"),
    [
        ("checkout_session", 4),
        ("portal_session", 4),
        ("admin_grant", 6),
        ("admin_revoke", 6),
        ("subscription_metrics", 7),
        ("revenue_metrics", 7),
    ],
)
def test_routes_not_built_yet_say_so_with_501(function: str, issue: int) -> None:
    response = invoke(function, load_event(f"{function}.json"))
    assert response["statusCode"] == 501
    assert json_body(response)["message"].endswith(f"is not built yet (issue #{issue})")
