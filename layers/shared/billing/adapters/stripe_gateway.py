"""The one place that talks to Stripe, through the SDK's StripeClient.

Pinned API version (the SDK's), explicit timeouts (the SDK's default 80 s outlives API
Gateway's 29 s), two network retries, and an idempotency key on every create so that a
retry, by the SDK or by our caller, never creates twice. Stripe's errors become domain
errors here and nowhere else.

A request's calls share its time (:meth:`StripePaymentGateway.within`): a first checkout makes
two calls, each up to three attempts of a 6 s read timeout, which together could outlast the
function (25 s) and API Gateway (29 s). Each call makes only the attempts that still fit; when
none does, it is a 503 the caller retries (with the same idempotency keys), not a gateway
timeout.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import stripe
from stripe import RequestOptions
from stripe.params import CustomerCreateParams
from stripe.params.billing_portal import SessionCreateParams as PortalSessionCreateParams
from stripe.params.checkout import (
    SessionCreateParams,
    SessionCreateParamsPaymentIntentData,
    SessionCreateParamsSubscriptionData,
)

from billing.domain.checkout import CheckoutRequest, CheckoutSession
from billing.errors import PaymentProviderRejectedError, PaymentProviderUnavailableError

CONNECT_TIMEOUT_SECONDS = 3.0
READ_TIMEOUT_SECONDS = 6.0
MAX_NETWORK_RETRIES = 2
# The longest one attempt takes: a read timeout, plus the SDK's backoff before it (0.5 s, then
# 1 s, jittered down).
ATTEMPT_SECONDS = READ_TIMEOUT_SECONDS + 1.0

T = TypeVar("T")


def build_client(
    api_key: str, api_base: str, http_client: stripe.HTTPClient | None = None
) -> stripe.StripeClient:
    """A StripeClient for ``api_base`` (real Stripe or the local stand-in)."""
    return stripe.StripeClient(
        api_key,
        base_addresses={"api": api_base},
        max_network_retries=MAX_NETWORK_RETRIES,
        http_client=http_client
        or stripe.RequestsClient(timeout=(CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS)),
    )


@contextmanager
def stripe_errors(operation: str) -> Iterator[None]:
    """Invalid requests -> PaymentProviderRejectedError (4xx with Stripe's message);
    Stripe down, rate limiting or timeouts -> PaymentProviderUnavailableError (502/503)."""
    try:
        yield
    except (stripe.APIConnectionError, stripe.RateLimitError) as exc:
        raise PaymentProviderUnavailableError(
            f"Stripe {operation}: {type(exc).__name__}", 503, exc.request_id
        ) from exc
    except (stripe.InvalidRequestError, stripe.IdempotencyError, stripe.CardError) as exc:
        raise PaymentProviderRejectedError(
            exc.user_message or "the request was refused", exc.request_id
        ) from exc
    except stripe.StripeError as exc:
        # 5xx, and our own key being refused (401/403): nothing the caller can fix.
        raise PaymentProviderUnavailableError(
            f"Stripe {operation}: {type(exc).__name__} {exc.http_status}", 502, exc.request_id
        ) from exc


def _metadata(project_id: str, user_id: str, price_id: str | None = None) -> dict[str, str]:
    data = {"project_id": project_id, "user_id": user_id}
    if price_id:
        data["price_id"] = price_id
    return data


class StripePaymentGateway:
    def __init__(
        self,
        client: stripe.StripeClient,
        deadline: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._deadline = deadline  # on ``clock``; None: every call gets all its retries
        self._clock = clock

    def within(self, seconds: float) -> StripePaymentGateway:
        """This gateway (same client) for one request that must be done in ``seconds``."""
        return StripePaymentGateway(self._client, self._clock() + seconds, self._clock)

    def _options(self, operation: str, idempotency_key: str) -> RequestOptions:
        """The key, and as many retries as the time left allows (503 when not one attempt
        fits: better than the function timing out with Stripe's answer on its way)."""
        options: RequestOptions = {"idempotency_key": idempotency_key}
        if self._deadline is None:
            return options
        attempts = int((self._deadline - self._clock()) // ATTEMPT_SECONDS)
        if attempts < 1:
            raise PaymentProviderUnavailableError(f"Stripe {operation}: no time left", 503)
        options["max_network_retries"] = min(attempts - 1, MAX_NETWORK_RETRIES)
        return options

    def _call(self, operation: str, call: Callable[[], T]) -> T:
        with stripe_errors(operation):
            return call()

    def create_customer(
        self, project_id: str, user_id: str, currency: str, idempotency_key: str
    ) -> str:
        params: CustomerCreateParams = {
            "metadata": {**_metadata(project_id, user_id), "currency": currency},
        }
        options = self._options("create customer", idempotency_key)
        customer = self._call(
            "create customer",
            lambda: self._client.v1.customers.create(params=params, options=options),
        )
        return customer.id

    def create_checkout_session(
        self, request: CheckoutRequest, customer_id: str, idempotency_key: str
    ) -> CheckoutSession:
        params = checkout_session_params(request, customer_id)
        options = self._options("create checkout session", idempotency_key)
        session = self._call(
            "create checkout session",
            lambda: self._client.v1.checkout.sessions.create(params=params, options=options),
        )
        if not session.url:
            raise PaymentProviderUnavailableError("Stripe returned a session without a URL", 502)
        return CheckoutSession(session_id=session.id, url=session.url)

    def create_portal_session(self, customer_id: str, return_url: str, idempotency_key: str) -> str:
        params: PortalSessionCreateParams = {"customer": customer_id, "return_url": return_url}
        options = self._options("create portal session", idempotency_key)
        session = self._call(
            "create portal session",
            lambda: self._client.v1.billing_portal.sessions.create(params=params, options=options),
        )
        return session.url


def checkout_session_params(request: CheckoutRequest, customer_id: str) -> SessionCreateParams:
    """Everything a later event needs to map back to (project, user, price), without guessing:
    metadata on the session and on what the session creates (subscription / payment intent)."""
    metadata = _metadata(request.project_id, request.user_id, request.price_id)
    params: SessionCreateParams = {
        "mode": request.mode,
        "customer": customer_id,
        "client_reference_id": f"{request.project_id}:{request.user_id}",
        "line_items": [{"price": request.price_id, "quantity": request.quantity}],
        "success_url": request.success_url,
        "cancel_url": request.cancel_url,
        "metadata": metadata,
    }
    if request.allow_promotion_codes:
        params["allow_promotion_codes"] = True
    if request.mode == "subscription":
        subscription: SessionCreateParamsSubscriptionData = {"metadata": metadata}
        if request.trial_days:
            subscription["trial_period_days"] = request.trial_days
        params["subscription_data"] = subscription
    else:
        payment: SessionCreateParamsPaymentIntentData = {"metadata": metadata}
        params["payment_intent_data"] = payment
    return params
