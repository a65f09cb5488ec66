import pytest

from tests.support.lambda_runtime import invoke, json_body, load_event


@pytest.mark.parametrize(
    ("function", "event", "body"),
    [("health", "health.json", {"status": "ok"}), ("live", "live.json", {"status": "alive"})],
)
def test_health_and_live_answer_without_any_dependency(
    function: str, event: str, body: dict[str, str]
) -> None:
    response = invoke(function, load_event(event))
    assert response["statusCode"] == 200
    assert json_body(response) == body


def test_ready_answers_200_when_dynamodb_answers(aws: dict[str, str]) -> None:
    response = invoke("ready", load_event("ready.json"))
    assert (response["statusCode"], json_body(response)) == (200, {"status": "ready"})


def test_ready_answers_503_with_a_reason_when_dynamodb_does_not(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROJECTS_TABLE_NAME", "NoSuchTable")
    response = invoke("ready", load_event("ready.json"))
    assert response["statusCode"] == 503
    body = json_body(response)
    assert body["status"] == "unavailable"
    assert "DynamoDB DescribeTable failed" in body["reason"]
