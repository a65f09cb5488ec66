"""No secret in the repository's files (the scan: tests/support/secret_scan.py, docs/testing.md).

The secrets below are assembled at run time, so this file holds none for the scan to find."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.markdown_links import REPO_ROOT, clone_files
from tests.support.secret_scan import findings_in, scan

RANDOM_BODY = "4eC39HqLyjWDarjtT1zdp7dcQx"  # letters and digits, as Stripe's keys are
AWS_KEY_ID = "AKIA" + "Z7Q2RXM4LTB6WNV3"
AWS_SECRET = "p8Nw1Jx+Kq4Tz/7RbV2mL9sYc3HfD6gA0eUoWiXr"
PRIVATE_KEY_BLOCK = "-----BEGIN " + "RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA"


def kinds(text: str) -> list[str]:
    return [finding.kind for finding in findings_in(text, "config.py")]


def test_the_repository_holds_no_secret() -> None:
    findings = scan(clone_files(REPO_ROOT))

    assert not findings, "\n".join(map(str, findings))


@pytest.mark.parametrize("prefix", ["sk_live_", "sk_test_", "rk_live_", "rk_test_"])
def test_a_stripe_secret_or_restricted_key_is_found(prefix: str) -> None:
    assert kinds(f'STRIPE_KEY = "{prefix}{RANDOM_BODY}"\n') == ["Stripe secret key"]


def test_a_webhook_signing_secret_is_found() -> None:
    assert kinds(f"STRIPE_WEBHOOK_SECRET={'whsec_'}{RANDOM_BODY}\n") == [
        "Stripe webhook signing secret"
    ]


def test_aws_credentials_and_private_keys_are_found() -> None:
    text = (
        f"aws_access_key_id = {AWS_KEY_ID}\n"
        f"aws_secret_access_key = {AWS_SECRET}\n"
        f'{{"AWS_SECRET_ACCESS_KEY": "{AWS_SECRET}"}}\n'
        f"{PRIVATE_KEY_BLOCK}\n"
    )

    assert kinds(text) == [
        "AWS access key id",
        "AWS secret access key",
        "AWS secret access key",
        "private key",
    ]


@pytest.mark.parametrize(
    "fake",
    [
        "sk_test_local_standin",  # words: an underscore ends the body
        "whsec_unit_test",
        "sk_live_123456789012",  # too short to be a key
        "pk_live_" + RANDOM_BODY,  # a publishable key is public
        "sk_test_...",
        "AKIAIOSFODNN7EXAMPLE",  # AWS's documented example, listed in DOCUMENTED_FAKES
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    ],
)
def test_fakes_written_as_words_or_documented_pass(fake: str) -> None:
    assert kinds(f'KEY = "{fake}"\n') == []


def test_a_finding_names_file_line_and_kind_but_never_the_value() -> None:
    secret = "sk_live_" + RANDOM_BODY

    [finding] = findings_in(f"# settings\n\nkey = '{secret}'\n", "deploy/env.py")

    assert str(finding) == "deploy/env.py:3: Stripe secret key"
    assert RANDOM_BODY not in str(finding)


def test_the_scan_reads_new_files_and_passes_over_ignored_and_binary_ones(
    tmp_path: Path,
) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_text("artifacts/\n")
    (tmp_path / "artifacts").mkdir()
    (tmp_path / "artifacts" / "env").write_text(f"sk_live_{RANDOM_BODY}\n")
    (tmp_path / "chart.png").write_bytes(b"\x89PNG\0" + f"sk_live_{RANDOM_BODY}".encode())
    (tmp_path / "settings.toml").write_text(f'\nkey = "rk_live_{RANDOM_BODY}"\n')

    findings = scan(clone_files(tmp_path), tmp_path)

    assert [str(finding) for finding in findings] == ["settings.toml:2: Stripe secret key"]
