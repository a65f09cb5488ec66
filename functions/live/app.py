"""GET /live: liveness; 200 whenever the function runs."""

from billing.api.resolver import build_rest_resolver, rest_handler
from billing.api.responses import StatusBody, documented

app = build_rest_resolver()


@app.get(
    "/live",
    operation_id="getLive",
    summary="Liveness: 200 whenever the function runs",
    tags=["probes"],
    responses=documented({200: ("always", StatusBody)}),
)
def live() -> StatusBody:
    return StatusBody(status="alive")


lambda_handler = rest_handler(app)
