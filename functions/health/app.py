"""GET /health: the process answers (no dependency is checked)."""

from billing.api.resolver import build_rest_resolver, rest_handler
from billing.api.responses import StatusBody, documented

app = build_rest_resolver()


@app.get(
    "/health",
    operation_id="getHealth",
    summary="The process answers (no dependency is checked)",
    tags=["probes"],
    responses=documented({200: ("always", StatusBody)}),
)
def health() -> StatusBody:
    return StatusBody(status="ok")


lambda_handler = rest_handler(app)
