"""Links in the Markdown resolve inside the repository (the rules: tests/support/markdown_links.py,
docs/testing.md)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.markdown_links import REPO_ROOT, Repository, anchors, github_anchor


def repository(tmp_path: Path, files: dict[str, str]) -> Repository:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return Repository(tmp_path, files)


def reasons(tmp_path: Path, text: str, path: str = "docs/guide.md") -> list[str]:
    """The problems of ``text`` standing in ``path`` of a small repository."""
    files = {
        "README.md": "# Billing\n\n## Setting up a project: `billing-admin`\n",
        "docs/api.md": "# API\n\n## Errors\n\n### Errors\n",
        "events/health.json": "{}\n",
        path: text,
    }
    return [f"{p.target}: {p.reason}" for p in repository(tmp_path, files).check([path])]


def test_every_markdown_link_resolves_inside_the_repository() -> None:
    problems = Repository.from_git(REPO_ROOT).check()

    assert not problems, "\n".join(map(str, problems))


def test_no_file_names_a_path_beside_the_clone() -> None:
    problems = Repository.from_git(REPO_ROOT).paths_beside_the_clone()

    assert not problems, "\n".join(map(str, problems))


def test_a_link_to_a_file_or_folder_of_the_repository_resolves(tmp_path: Path) -> None:
    text = "[r](../README.md) [api](api.md) [events](../events) [e](../events/health.json)\n"

    assert reasons(tmp_path, text) == []


def test_a_link_to_a_missing_file_is_refused(tmp_path: Path) -> None:
    assert reasons(tmp_path, "see [ops](operations.md)\n") == [
        "operations.md: no such file in the repository (tracked, or new and not ignored)"
    ]


@pytest.mark.parametrize("target", ["../../elsewhere/DESIGN.md", "../../../etc/passwd"])
def test_a_link_out_of_the_repository_is_refused(tmp_path: Path, target: str) -> None:
    assert reasons(tmp_path, f"[design]({target})\n") == [
        f"{target}: outside the repository (a clone does not have it)"
    ]


def test_naming_the_folder_beside_the_clone_is_refused_even_as_code(tmp_path: Path) -> None:
    beside = "../" + "shared/"

    text = f"the picture is in `{beside}DESIGN.md`, or [here]({beside}DESIGN.md)\n"

    assert reasons(tmp_path, text, path="README.md") == [
        f"{beside}: a path beside the clone",
        f"{beside}: a path beside the clone",
        f"{beside}DESIGN.md: outside the repository (a clone does not have it)",
    ]


def test_code_naming_the_folder_beside_the_clone_is_found(tmp_path: Path) -> None:
    files = {
        "tests/test_routes.py": "# the routes of ../" + "shared/API.md\nROUTES = 1\n",
        "bench/chart.png": "\x89PNG\n",
        "layers/shared/billing/ids.py": "ROOT = '../layers/shared/billing'\n",
    }

    problems = repository(tmp_path, files).paths_beside_the_clone()

    assert [(p.path, p.line) for p in problems] == [("tests/test_routes.py", 1)]


def test_a_link_from_the_root_of_the_site_is_refused(tmp_path: Path) -> None:
    assert reasons(tmp_path, "[api](/docs/api.md)\n") == [
        "/docs/api.md: starts at /: link relatively to this file"
    ]


def test_a_fragment_must_name_a_heading_of_the_file(tmp_path: Path) -> None:
    text = (
        "# Guide\n\n## Local stack\n\n"
        "[a](#local-stack) [b](../README.md#setting-up-a-project-billing-admin) "
        "[c](api.md#errors-1) [d](#no-such-part) [e](api.md#errors-2)\n"
    )

    assert reasons(tmp_path, text) == [
        "#no-such-part: no heading of docs/guide.md has the anchor #no-such-part",
        "api.md#errors-2: no heading of docs/api.md has the anchor #errors-2",
    ]


def test_a_fragment_on_a_file_that_is_not_markdown_is_refused(tmp_path: Path) -> None:
    assert reasons(tmp_path, "[l](../events/health.json#L1)\n") == [
        "../events/health.json#L1: a fragment on a file that is not Markdown (line numbers move)"
    ]


@pytest.mark.parametrize(
    "target",
    [
        "https://dashboard.stripe.com/webhooks",
        "https://docs.stripe.com/api",
        "https://openapi-ts.dev/",
        "http://localhost:8000/api/v1/docs",
        "http://127.0.0.1:8102",
        "https://app.example.com/billing",
    ],
)
def test_absolute_links_to_third_parties_or_a_readers_machine_are_allowed(
    tmp_path: Path, target: str
) -> None:
    assert reasons(tmp_path, f"[x]({target}) and <{target}> and {target}\n") == []


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("https://github.com/acme/billing/blob/main/docs/api.md", "github.com is not a known"),
        ("https://notstripe.com/", "notstripe.com is not a known"),
        ("http://dashboard.stripe.com/", "plain http"),
        ("ftp://files.stripe.com/x", "a ftp: link"),
    ],
)
def test_other_absolute_links_are_refused(tmp_path: Path, target: str, reason: str) -> None:
    found = reasons(tmp_path, f"[x]({target})\n")

    assert len(found) == 1
    assert found[0].startswith(f"{target}: {reason}")


def test_the_api_contract_has_no_absolute_link_at_all(tmp_path: Path) -> None:
    text = "# API\n\n[Stripe](https://docs.stripe.com/api) or http://localhost:8000/health\n"

    assert reasons(tmp_path, text, path="docs/api.md") == [
        "http://localhost:8000/health: the API contract links only inside the repository",
        "https://docs.stripe.com/api: the API contract links only inside the repository",
    ]


def test_images_references_autolinks_and_html_are_checked(tmp_path: Path) -> None:
    text = (
        "![chart](../bench/chart.png)\n\n[ref]: missing.md\n\n<https://github.com/x>\n\n"
        '<img src="gone.svg" alt="x">\n'
    )

    assert [reason.split(":")[0] for reason in reasons(tmp_path, text)] == [
        "../bench/chart.png",
        "missing.md",
        "https",
        "gone.svg",
    ]


def test_code_blocks_and_code_spans_are_not_links(tmp_path: Path) -> None:
    text = (
        "```sh\ncurl [x](missing.md) https://github.com/x\n```\n\n"
        "~~~\n[y](gone.md)\n~~~\n\nrun `[z](nowhere.md)` as written\n"
    )

    assert reasons(tmp_path, text) == []


def test_the_line_of_a_problem_is_the_line_of_its_link(tmp_path: Path) -> None:
    files = {"README.md": "# T\n\n```\n[a](x.md)\n```\n\nsee the\n[guide](docs/none.md)\n"}

    [problem] = repository(tmp_path, files).check()

    assert (problem.path, problem.line, problem.target) == ("README.md", 8, "docs/none.md")


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Setting up a project: `billing-admin`", "setting-up-a-project-billing-admin"),
        ("The `billing_admin` package", "the-billing_admin-package"),
        ("2026-11-25 — **REST API**, not HTTP API", "2026-11-25--rest-api-not-http-api"),
        ("Reading [entitlements](api.md) & grants", "reading-entitlements--grants"),
        ("_Emphasis_ and *stars*", "emphasis-and-stars"),
        ("Straße über alles?", "straße-über-alles"),
        ("Cold start (`bench/coldstart.py`)", "cold-start-benchcoldstartpy"),
    ],
)
def test_anchors_follow_githubs_rules(heading: str, anchor: str) -> None:
    assert github_anchor(heading) == anchor


def test_anchors_number_repeats_and_read_setext_and_html_anchors() -> None:
    text = (
        "# Ops\n\n## Alarms\n\n## Alarms\n\nRunbooks\n--------\n\n"
        '<a id="dlq"></a>\n\n```\n# not a heading\n```\n\n| a |\n| --- |\n'
    )

    assert anchors(text) == {"ops", "alarms", "alarms-1", "runbooks", "dlq"}


def test_a_clone_has_tracked_and_new_files_but_not_ignored_ones(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_text("artifacts/\n")
    (tmp_path / "artifacts").mkdir()
    (tmp_path / "artifacts" / "chart.png").write_bytes(b"\x89PNG")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "bench.md").write_text("![chart](../artifacts/chart.png)\n")
    (tmp_path / "README.md").write_text("[bench](docs/bench.md)\n")

    problems = Repository.from_git(tmp_path).check()

    assert [(p.path, p.target) for p in problems] == [("docs/bench.md", "../artifacts/chart.png")]
