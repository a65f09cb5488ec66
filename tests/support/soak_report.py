"""``python -m tests.support.soak_report``: the figures of the generated suites' last run
(`make soak` prints them): responses, 5xx and undocumented statuses of the hostile
generators, and schemathesis' test cases (each passed every check: no 5xx, nothing outside
the document)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPORTS = Path(__file__).resolve().parents[2] / "artifacts" / "test-reports"


def main() -> int:
    hostile = REPORTS / "hostile-generated.json"
    if hostile.is_file():
        figures = json.loads(hostile.read_text())
        print(
            f"hostile generators ({figures['examples_per_test']} examples a test): "
            f"{figures['responses']} responses, {figures['server_errors']} 5xx, "
            f"{figures['undocumented']} undocumented statuses"
        )
    for report in sorted(REPORTS.glob("schemathesis-*.json")):
        figures = json.loads(report.read_text())
        run = report.stem.removeprefix("schemathesis-")
        extra = "".join(
            f", {name.replace('_', ' ')} {figures[name]}"
            for name in ("scenarios", "api_links")
            if name in figures
        )
        print(
            f"schemathesis {run} ({figures['examples_per_operation']} examples an operation): "
            f"test cases {figures.get('test_cases', '?')}{extra}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
