"""How long a request may still spend on Stripe: the function's remaining time, less the
margin to write the answer."""

from __future__ import annotations

from dataclasses import dataclass

from billing.api.resolver import ANSWER_MARGIN_SECONDS, build_rest_resolver, seconds_left
from tests.support.lambda_runtime import FakeLambdaContext


@dataclass
class _Context(FakeLambdaContext):
    remaining_millis: int = 10_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_millis


def test_the_functions_remaining_time_less_the_answers_margin() -> None:
    app = build_rest_resolver()
    app.lambda_context = _Context(remaining_millis=24_500)  # type: ignore[assignment]
    assert seconds_left(app) == 24.5 - ANSWER_MARGIN_SECONDS


def test_never_negative() -> None:
    app = build_rest_resolver()
    app.lambda_context = _Context(remaining_millis=300)  # type: ignore[assignment]
    assert seconds_left(app) == 0.0
