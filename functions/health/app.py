"""GET /health: the process answers (no dependency is checked)."""

from billing.api.resolver import build_rest_resolver, rest_handler

app = build_rest_resolver()


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


lambda_handler = rest_handler(app)
