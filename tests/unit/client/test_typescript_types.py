"""The TypeScript client's types (clients/typescript/src/schema.ts) are generated from the
OpenAPI document and committed; their first line names the sha256 of the document they came
from, so a changed document without regenerated types fails here, without Node.
(`make test-clients` regenerates them with Node and compares every line.)"""

from __future__ import annotations

import hashlib
import re

from tests.unit.client.document import DOCUMENT, REPO

TYPES = REPO / "clients" / "typescript" / "src" / "schema.ts"


def test_the_typescript_types_come_from_the_current_document() -> None:
    first_line = TYPES.read_text().partition("\n")[0]
    generated_from = re.search(r"openapi\.json \(sha256 ([0-9a-f]{64})\)", first_line)
    assert generated_from is not None, f"{TYPES} lacks its generated header: run `make clients`"
    current = hashlib.sha256(DOCUMENT.read_bytes()).hexdigest()
    assert generated_from[1] == current, "the OpenAPI document changed: run `make clients`"
