"""The API's documentation as the local stack serves it: no key, no CDN."""

from __future__ import annotations

import json
import re

import pytest
import requests

from billing_devstack.launcher import StackProcess
from billing_devstack.openapi import SERVED_DOCUMENT

pytestmark = pytest.mark.integration


def test_the_document_is_served_without_a_key_and_names_the_local_server(
    stack: StackProcess,
) -> None:
    response = requests.get(f"{stack.url}/api/v1/openapi.json", timeout=20)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    document = response.json()
    assert document["servers"] == [{"url": "/"}]
    assert document["paths"] == json.loads(SERVED_DOCUMENT.read_text())["paths"]


def test_the_interactive_docs_load_swagger_ui_from_the_stack_itself(stack: StackProcess) -> None:
    page = requests.get(f"{stack.url}/api/v1/docs", timeout=20)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert 'url: "/api/v1/openapi.json"' in page.text
    assets = re.findall(r'(?:src|href)="(/_local/swagger-ui/[^"]+)"', page.text)
    assert sorted(assets) == [
        "/_local/swagger-ui/swagger-ui-bundle.js",
        "/_local/swagger-ui/swagger-ui.css",
    ]
    for asset in assets:
        served = requests.get(f"{stack.url}{asset}", timeout=20)
        assert served.status_code == 200, asset
        assert len(served.content) > 10_000, asset  # the real bundle, not an error page
