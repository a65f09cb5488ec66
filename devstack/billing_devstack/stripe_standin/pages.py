"""The pages a person sees instead of Stripe's: Checkout (with a Pay button), the customer
portal (cancel at period end, back to the app) and a receipt.

Plain HTML forms, no JavaScript, so they work from a browser, from ``curl`` and from tests.
Every value shown is escaped: metadata and URLs come from the service's callers.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import UTC, datetime

from billing_devstack.stripe_standin.errors import StripeError, invalid
from billing_devstack.stripe_standin.flows import Flows
from billing_devstack.stripe_standin.store import Obj, Store

# ISO currencies Stripe treats as having no minor unit (amounts are whole units).
ZERO_DECIMAL = frozenset(
    {
        *("bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga"),
        *("pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"),
    }
)
_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem}"
    ".box{border:1px solid #ccd;border-radius:8px;padding:1.5rem}"
    "button{background:#635bff;color:#fff;border:0;border-radius:6px;padding:.7rem 1.4rem;"
    "font-size:1rem;cursor:pointer}.muted{color:#667}table{width:100%;border-collapse:collapse}"
    "td,th{text-align:left;padding:.35rem;border-bottom:1px solid #eee}"
)


@dataclass(frozen=True)
class Page:
    """An HTML answer, or a redirect when ``location`` is set."""

    status: int
    body: str
    location: str | None = None


def money(amount: int, currency: str) -> str:
    """``900, "usd"`` -> ``9.00 USD``; zero-decimal currencies stay whole."""
    if currency.lower() in ZERO_DECIMAL:
        return f"{amount} {currency.upper()}"
    return f"{amount / 100:.2f} {currency.upper()}"


def _date(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _document(title: str, content: str) -> str:
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<p class='muted'>Stripe stand-in (test mode, local)</p>{content}</body></html>"
    )


def error_page(error: StripeError) -> Page:
    """A refused page action (session already paid, unknown id...) as HTML."""
    text = f"<div class='box'><h1>Cannot do that</h1><p>{html.escape(error.message)}</p></div>"
    return Page(error.status, _document("Error", text))


def _redirect(location: str, text: str) -> Page:
    link = f"<p><a href='{html.escape(location)}'>{html.escape(text)}</a></p>"
    return Page(303, _document(text, link), location=location)


class Pages:
    """Renders pages from the store and runs their forms through :class:`Flows`."""

    def __init__(self, store: Store, flows: Flows) -> None:
        self._store = store
        self._flows = flows

    # ------------------------------------------------------------------ checkout
    def checkout(self, session_id: str) -> Page:
        """``GET /checkout/<id>``: what is bought, for how much, and a Pay button."""
        session = self._store.get("checkout.session", session_id)
        if session["status"] != "open":
            return Page(200, _document("Checkout", self._closed(session)))
        line = self._store.hidden(session_id, "line_items")["data"][0]
        price = line["price"]
        every = ""
        if price["recurring"]:
            count, interval = price["recurring"]["interval_count"], price["recurring"]["interval"]
            every = f" every {count} {interval}s" if count > 1 else f" per {interval}"
        trial = self._store.noted(session_id, "subscription_data", {}).get("trial_period_days")
        trial_line = f"<p>Free trial: {trial} days.</p>" if trial else ""
        cancel = session["cancel_url"]
        cancel_link = f"<p><a href='{html.escape(cancel)}'>Cancel</a></p>" if cancel else ""
        content = (
            f"<div class='box'><h1>{html.escape(line['description'])}</h1>"
            f"<p><strong>{money(line['amount_total'], line['currency'])}</strong>"
            f"{html.escape(every)} &middot; quantity {line['quantity']}</p>{trial_line}"
            f"<p class='muted'>mode: {html.escape(session['mode'])} &middot; "
            f"session {html.escape(session_id)}</p>"
            f"<form method='post' action='/checkout/{html.escape(session_id)}/pay'>"
            "<button type='submit'>Pay</button></form>"
            f"{cancel_link}</div>"
        )
        return Page(200, _document("Checkout", content))

    def pay(self, session_id: str) -> Page:
        """``POST /checkout/<id>/pay``: complete the session, then go to ``success_url``."""
        result = self._flows.complete_checkout(session_id)
        return _redirect(result["success_url"], "Payment complete: continue")

    @staticmethod
    def _closed(session: Obj) -> str:
        text = f"<div class='box'><h1>This Checkout Session is {session['status']}</h1>"
        if session["status"] == "complete":
            target = session["success_url"].replace("{CHECKOUT_SESSION_ID}", session["id"])
            text += f"<p><a href='{html.escape(target)}'>Back to the app</a></p>"
        return text + "</div>"

    # ------------------------------------------------------------------ portal
    def portal(self, portal_id: str) -> Page:
        """``GET /portal/<id>``: the customer's subscriptions, and the way back to the app."""
        portal = self._store.get("billing_portal.session", portal_id)
        customer = self._store.get("customer", portal["customer"])
        rows = "".join(
            self._subscription_row(portal_id, sub)
            for sub in reversed(self._store.of_kind("subscription"))
            if sub["customer"] == customer["id"]
        )
        table = (
            "<table><tr><th>Subscription</th><th>Status</th><th>Renews / ends</th><th></th></tr>"
            f"{rows}</table>"
            if rows
            else "<p>No subscriptions.</p>"
        )
        back = portal["return_url"]
        content = (
            f"<div class='box'><h1>{html.escape(customer['email'] or customer['id'])}</h1>"
            f"{table}<p><a href='{html.escape(back)}'>Return to the app</a></p></div>"
        )
        return Page(200, _document("Customer portal", content))

    def _subscription_row(self, portal_id: str, sub: Obj) -> str:
        item = sub["items"]["data"][0]
        label = (
            f"{item['price']['product']} ({money(item['price']['unit_amount'], sub['currency'])})"
        )
        when = _date(item["current_period_end"])
        action = ""
        if sub["status"] in ("active", "trialing", "past_due") and not sub["cancel_at_period_end"]:
            action = (
                f"<form method='post' action='/portal/{html.escape(portal_id)}/subscriptions/"
                f"{html.escape(sub['id'])}/cancel'><button type='submit'>Cancel</button></form>"
            )
        elif sub["cancel_at_period_end"]:
            action = "cancels at period end"
        return (
            f"<tr><td>{html.escape(label)}<br><span class='muted'>{html.escape(sub['id'])}</span>"
            f"</td><td>{html.escape(sub['status'])}</td><td>{when}</td><td>{action}</td></tr>"
        )

    def portal_cancel(self, portal_id: str, sub_id: str) -> Page:
        """A portal's Cancel button: cancel at the period's end, as Stripe's portal does."""
        portal = self._store.get("billing_portal.session", portal_id)
        sub = self._store.get("subscription", sub_id)
        if sub["customer"] != portal["customer"]:
            raise invalid("This subscription belongs to another customer.")
        self._flows.cancel(sub_id, at_period_end=True)
        return _redirect(f"/portal/{portal_id}", "Back to the portal")

    # ------------------------------------------------------------------ receipts
    def receipt(self, charge_id: str) -> Page:
        """``GET /receipts/<charge>``: what a charge's ``receipt_url`` points at."""
        charge = self._store.get("charge", charge_id)
        refunded = charge["amount_refunded"]
        refund_line = f"<p>Refunded: {money(refunded, charge['currency'])}</p>" if refunded else ""
        content = (
            f"<div class='box'><h1>Receipt</h1><p>{money(charge['amount'], charge['currency'])}"
            f" &middot; {html.escape(charge['status'])}</p>{refund_line}"
            f"<p class='muted'>{html.escape(charge_id)} &middot; {_date(charge['created'])}</p>"
            "</div>"
        )
        return Page(200, _document("Receipt", content))
