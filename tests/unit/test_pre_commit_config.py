"""The pre-commit hooks work offline and check what make checks (docs/testing.md)."""

from __future__ import annotations

import re
from typing import Any

import yaml

from tests.support.lambda_runtime import REPO_ROOT


def hooks() -> list[dict[str, Any]]:
    config = yaml.safe_load((REPO_ROOT / ".pre-commit-config.yaml").read_text())
    assert [repo["repo"] for repo in config["repos"]] == ["local"], "only local hooks"
    return [hook for repo in config["repos"] for hook in repo["hooks"]]


def test_every_hook_runs_a_tool_of_the_virtualenv_or_make_so_nothing_is_downloaded() -> None:
    for hook in hooks():
        assert hook["language"] == "system", hook["id"]
        assert hook["entry"].startswith((".venv/bin/", "make ")), hook["id"]


def test_the_hooks_tools_are_pinned_in_the_development_requirements() -> None:
    pinned = set(
        re.findall(r"^([A-Za-z0-9_.-]+)==", (REPO_ROOT / "requirements-dev.txt").read_text(), re.M)
    )
    scripts = {
        "ruff": "ruff",
        "trailing-whitespace-fixer": "pre-commit-hooks",
        "end-of-file-fixer": "pre-commit-hooks",
        "check-merge-conflict": "pre-commit-hooks",
        "check-added-large-files": "pre-commit-hooks",
    }
    for hook in hooks():
        tool = hook["entry"].split()[0].removeprefix(".venv/bin/")
        # make runs the Makefile's target; python, the secret scan (the standard library only).
        if tool not in {"make", "python"}:
            assert scripts[tool] in pinned, hook["id"]


def test_the_hooks_cover_lint_types_the_secret_scan_and_hygiene() -> None:
    entries = {hook["id"]: hook["entry"] for hook in hooks()}

    assert entries["ruff-check"].startswith(".venv/bin/ruff check")
    assert entries["ruff-format"].startswith(".venv/bin/ruff format --check")
    assert entries["mypy"].endswith("typecheck")
    assert entries["secret-scan"].endswith("-m tests.support.secret_scan")
    assert {"trailing-whitespace", "end-of-file", "merge-conflict", "large-files"} <= set(entries)
