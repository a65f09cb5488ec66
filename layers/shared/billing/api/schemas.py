"""Request bodies of the API, as pydantic models: the resolver validates them (422 naming the
field) and documents them. Field names and meanings are API.md's."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from billing.api.times import IsoTime
from billing.domain.allowances import MAX_LIMIT
from billing.domain.ids import FEATURE_CODE_PATTERN, PROJECT_ID_PATTERN, USER_ID_PATTERN
from billing.domain.usage import IDEMPOTENCY_KEY_PATTERN, MAX_QUANTITY

ProjectIdField = Field(description="the project, as an integer or a numeric string")
# The handlers check user ids with validate_user_id (a clearer message than a pattern's);
# the pattern is only documented, so clients and fuzzers know the alphabet.
USER_ID_SCHEMA: dict[str, Any] = {"pattern": f"^{USER_ID_PATTERN}$"}
UserIdField = Field(min_length=1, max_length=128, json_schema_extra=USER_ID_SCHEMA)
# Ids in a body are taken as sent, as in a query: a space around one is refused (422), not
# trimmed into another id. (The models strip other strings: names, reasons.)
AsSent = StringConstraints(strip_whitespace=False)
UserId = Annotated[str, AsSent, UserIdField]


def user_id_query() -> Any:
    """The ``user_id`` query parameter of the read routes."""
    return Query(min_length=1, max_length=128, json_schema_extra=USER_ID_SCHEMA)


def feature_code_query() -> Any:
    """The ``feature_code`` query parameter of the check route."""
    return Query(min_length=1, max_length=64, json_schema_extra=FEATURE_CODE_SCHEMA)


def project_id_query() -> Any:
    """The ``project_id`` query parameter: the key's own project, as a number."""
    return Query(
        min_length=1,
        max_length=19,
        description="the key's project (another project's id is answered 403)",
        json_schema_extra={"pattern": f"^ *{PROJECT_ID_PATTERN} *$"},
    )


# Not stripped: a URL with a space or a control character anywhere, ends included, is refused
# (billing.domain.tenancy.url_origin), not quietly repaired.
Url = Annotated[str, AsSent, Field(min_length=1, max_length=2048)]


class CheckoutSessionBody(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    user_id: UserId
    project_id: int | str = ProjectIdField
    price_id: Annotated[str, AsSent, Field(min_length=1, max_length=255)]
    mode: Literal["subscription", "payment"]
    success_url: Url
    cancel_url: Url
    quantity: int = Field(default=1, ge=1, le=100)
    trial_days: int | None = Field(default=None, ge=1, le=730)
    allow_promotion_codes: bool = Field(
        default=False, strict=True, description="true or false (JSON booleans only)"
    )


class PortalSessionBody(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    user_id: UserId
    project_id: int | str = ProjectIdField
    return_url: Url
    currency: str | None = Field(
        default=None,
        pattern="^[A-Za-z]{3}$",
        description=(
            "the ISO 4217 code of the Stripe customer to open (a user who bought in two "
            "currencies has one customer each); by default the customer holding the user's "
            "live subscription, else the newest"
        ),
        examples=["usd"],
    )


FEATURE_CODE_SCHEMA: dict[str, Any] = {"pattern": f"^{FEATURE_CODE_PATTERN}$"}
IDEMPOTENCY_KEY_SCHEMA: dict[str, Any] = {"pattern": f"^{IDEMPOTENCY_KEY_PATTERN}$"}
FeatureCodeField = Field(min_length=1, max_length=64, json_schema_extra=FEATURE_CODE_SCHEMA)
FeatureCode = Annotated[str, AsSent, FeatureCodeField]
ActorField = Field(min_length=1, max_length=128)
ReasonField = Field(min_length=1, max_length=500)


class GrantBody(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    user_id: UserId
    project_id: int | str = ProjectIdField
    feature_code: FeatureCode
    granted_by: str = ActorField
    reason: str = ReasonField
    valid_to: IsoTime | None = None
    quantity: int | None = Field(
        default=None,
        ge=1,
        le=MAX_LIMIT,
        strict=True,
        description="credits of a limited feature, added to its limit until valid_to (a "
        "new grant replaces the previous one); omitted: the feature without a limit",
    )


class UsageBody(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    user_id: UserId
    project_id: int | str = ProjectIdField
    feature_code: FeatureCode
    quantity: int = Field(ge=1, le=MAX_QUANTITY, strict=True, description="units used")
    idempotency_key: Annotated[str, AsSent] = Field(
        min_length=1,
        max_length=255,
        json_schema_extra=IDEMPOTENCY_KEY_SCHEMA,
        description="the same key within 24 h counts once and answers the first answer",
    )
    enforce: bool = Field(
        default=False,
        strict=True,
        description="true: refuse (409) what would go over the limit; false: count it, "
        "reported as overage",
    )


class RevokeBody(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    user_id: UserId
    project_id: int | str = ProjectIdField
    feature_code: FeatureCode
    revoked_by: str = ActorField
    reason: str = ReasonField


class TokenBody(BaseModel):
    """POST /api/v1/entitlements/token (issue #22)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    user_id: UserId
    project_id: int | str = ProjectIdField
    audience: str = Field(
        min_length=1,
        max_length=200,
        description="who will verify the token (its aud claim), e.g. your API's URL",
    )
    ttl_seconds: int = Field(default=300, ge=30, le=3600, description="lifetime: 30 s to 1 h")
