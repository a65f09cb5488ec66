/**
 * Typed client of the billing & entitlements service: openapi-fetch over the types that
 * scripts/generate.mjs derives from the API's OpenAPI document (src/schema.ts).
 */
import createClient, { type Client, type ClientOptions } from "openapi-fetch";
import type { components, paths } from "./schema.js";

export type { components, operations, paths } from "./schema.js";

/** The API's schemas by name: `Schemas["EntitlementCheck"]`, `Schemas["ErrorBody"]`, ... */
export type Schemas = components["schemas"];

/** One method per HTTP verb, typed by route: `billing.GET("/api/v1/entitlements/check", ...)`. */
export type BillingClient = Client<paths>;

export interface BillingClientOptions extends Omit<ClientOptions, "baseUrl" | "headers"> {
  /** The service's root URL (behind API Gateway, with the stage: `https://.../v1`). */
  baseUrl: string;
  /** The key of one app of one project, sent as `X-API-Key`. */
  apiKey: string;
  /** Other headers to send with every request. */
  headers?: Record<string, string>;
}

/** A client of one billing service with one project's API key. */
export function createBillingClient(options: BillingClientOptions): BillingClient {
  const { baseUrl, apiKey, headers, ...rest } = options;
  return createClient<paths>({
    ...rest,
    baseUrl: baseUrl.replace(/\/+$/, ""),
    headers: { ...headers, "X-API-Key": apiKey },
  });
}
