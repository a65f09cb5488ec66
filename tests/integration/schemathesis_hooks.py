"""Schemathesis hooks for the fuzz run "as the key's own project" (test_openapi_fuzz.py).

Loaded by the `st` subprocess through SCHEMATHESIS_HOOKS. A generated body names a random
``project_id``, which the service answers 403 before anything else; naming the key's project
takes the fuzzer past tenancy into validation, storage and Stripe.
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis


@schemathesis.hook
def map_body(context: Any, body: Any) -> Any:
    if isinstance(body, dict) and "project_id" in body:
        body["project_id"] = os.environ["BILLING_FUZZ_PROJECT_ID"]
    return body
