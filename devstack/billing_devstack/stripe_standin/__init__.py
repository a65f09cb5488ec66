"""A local, in-memory stand-in for the Stripe API (test mode), so the service runs and is
tested with no network.

- :class:`~billing_devstack.stripe_standin.core.StripeStandIn`: the pure core,
  ``handle(method, path, headers, body) -> (status, headers, body)``, no sockets;
- :mod:`~billing_devstack.stripe_standin.server`: the same over HTTP, with its webhook sender;
- :mod:`~billing_devstack.stripe_standin.sdk_client`: a stripe-python ``HTTPClient`` calling a core
  in
  process (imported on its own: it imports stripe);
- ``python -m billing_devstack.stripe_standin --port 8102 [--webhook-url URL]`` runs it alone.

README.md beside this file lists the endpoints, pages, test controls and events.
"""

from billing_devstack.stripe_standin.core import Response, StripeStandIn
from billing_devstack.stripe_standin.objects import API_VERSION
from billing_devstack.stripe_standin.webhooks import WebhookSender, signature_header

__all__ = ["API_VERSION", "Response", "StripeStandIn", "WebhookSender", "signature_header"]
