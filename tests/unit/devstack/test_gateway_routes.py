"""The gateway's routes come from template.yaml, and only from there."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from billing_devstack.config import REPO_ROOT
from billing_devstack.gateway import Gateway, HttpRequest
from billing_devstack.template import load_template
from tests.unit.devstack.conftest import FakeInvoker, ok, policy

TEMPLATE = REPO_ROOT / "template.yaml"


class _TagIgnoringLoader(yaml.SafeLoader):
    """Reads template.yaml without understanding any CloudFormation tag (an independent parse)."""


_TagIgnoringLoader.add_multi_constructor("!", lambda _loader, _suffix, _node: None)


def api_events_of(path: Path) -> set[tuple[str, str]]:
    """Every (METHOD, Path) of an Api event of a serverless function, read naively."""
    data: dict[str, Any] = yaml.load(path.read_text(), Loader=_TagIgnoringLoader)  # noqa: S506
    pairs = set()
    for resource in data["Resources"].values():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        for event in (resource["Properties"].get("Events") or {}).values():
            if event["Type"] == "Api":
                pairs.add((event["Properties"]["Method"].upper(), event["Properties"]["Path"]))
    return pairs


def gateway_for(path: Path, invoker: FakeInvoker) -> Gateway:
    template = load_template(path, "http://127.0.0.1:1")
    return Gateway(template.routes, invoker)


def test_the_route_table_is_exactly_the_api_events_of_template_yaml(invoker: FakeInvoker) -> None:
    expected = api_events_of(TEMPLATE)
    assert expected, "template.yaml has Api events"
    assert gateway_for(TEMPLATE, invoker).table.pairs() == expected


EXTRA_FUNCTION = """
  LocalStackProbeFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: {code_dir}
      Events:
        Probe:
          Type: Api
          Properties:
            RestApiId: !Ref BillingApi
            Path: /api/v1/probe/{{probe_id}}
            Method: PUT
"""


def test_a_function_added_to_a_copy_of_the_template_is_served_without_other_edits(
    tmp_path: Path, invoker: FakeInvoker
) -> None:
    text = TEMPLATE.read_text()
    marker = "\n  # ---------------------------------------------------------------- webhooks"
    assert marker in text
    extra = EXTRA_FUNCTION.format(code_dir=tmp_path / "probe")
    copy = tmp_path / "template.yaml"
    copy.write_text(text.replace(marker, extra + marker, 1))
    invoker.answers["ApiKeyAuthorizerFunction"] = ok(policy())

    gateway = gateway_for(copy, invoker)
    response = gateway.handle(HttpRequest("PUT", "/api/v1/probe/p-1", [("X-API-Key", "k")], b"{}"))

    assert response.status == 200
    assert ("PUT", "/api/v1/probe/{probe_id}") in gateway.table.pairs()
    (event,) = invoker.events_of("LocalStackProbeFunction")
    assert event["pathParameters"] == {"probe_id": "p-1"}
    assert invoker.events_of("ApiKeyAuthorizerFunction"), "the API's default authorizer ran"
