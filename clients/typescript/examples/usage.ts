// A Node backend's use of the client: start a checkout, gate a feature, open the portal.
// `npm run check` type-checks this file against the generated types; nothing runs it.
import { createBillingClient, type Schemas } from "../src/index.js";

const billing = createBillingClient({
  baseUrl: "https://billing.example.com/v1",
  apiKey: "bk_...", // the key of one app of one project: read it from your secrets
});
const PROJECT_ID = 1;

/** The service's error answer (status, message and the fields at fault) as an exception. */
export class BillingError extends Error {
  constructor(
    readonly status: number,
    readonly body: Schemas["ErrorBody"] | undefined,
  ) {
    super(`billing answered ${status}: ${body?.message ?? "no body"}`);
  }
}

/** Where to send the user to pay for a subscription (Stripe Checkout). */
export async function startCheckout(userId: string, priceId: string): Promise<string> {
  const { data, error, response } = await billing.POST("/api/v1/checkout/session", {
    body: {
      user_id: userId,
      project_id: PROJECT_ID,
      price_id: priceId,
      mode: "subscription",
      success_url: "https://app.example.com/billing/success",
      cancel_url: "https://app.example.com/billing/cancel",
    },
  });
  if (!data) throw new BillingError(response.status, error);
  return data.checkout_url;
}

/** Whether the user may use a feature now, and until when (null: no end, or not active). */
export async function canUse(
  userId: string,
  featureCode: string,
): Promise<{ active: boolean; until: Date | null }> {
  const { data, error, response } = await billing.GET("/api/v1/entitlements/check", {
    params: { query: { user_id: userId, project_id: String(PROJECT_ID), feature_code: featureCode } },
    signal: AbortSignal.timeout(2_000),
  });
  if (!data) throw new BillingError(response.status, error);
  return { active: data.active, until: data.valid_to === null ? null : new Date(data.valid_to) };
}

/** The Stripe customer portal of a user who has paid before; `currency` (e.g. "eur") picks
 * the customer of that currency when the user bought in more than one. */
export async function portalUrl(userId: string, currency?: string): Promise<string> {
  const { data, error, response } = await billing.POST("/api/v1/portal/session", {
    body: {
      user_id: userId,
      project_id: PROJECT_ID,
      return_url: "https://app.example.com/account",
      ...(currency === undefined ? {} : { currency }),
    },
  });
  if (response.status === 404) throw new BillingError(404, error); // no Stripe customer yet
  if (!data) throw new BillingError(response.status, error);
  return data.portal_url;
}
