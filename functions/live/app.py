"""GET /live: liveness; 200 whenever the function runs."""

from billing.api.resolver import build_rest_resolver, rest_handler

app = build_rest_resolver()


@app.get("/live")
def live() -> dict[str, str]:
    return {"status": "alive"}


lambda_handler = rest_handler(app)
