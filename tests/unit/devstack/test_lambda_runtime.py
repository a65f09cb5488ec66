"""Workers run each function as Lambda would: own process, own env, fresh ``app`` import."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from textwrap import dedent

import pytest

from billing_devstack.config import SWAGGER_UI_PREFIX, LocalConfig
from billing_devstack.lambda_runtime import LambdaRuntime, worker_environment
from billing_devstack.template import FunctionSpec

APP = """
import json, os, sys, time

import shared_helper

STARTED = time.time()


def lambda_handler(event, context):
    print("a handler's own stdout line")  # must not disturb the protocol
    if event.get("raise"):
        raise ValueError(event["raise"])
    if event.get("sleep"):
        time.sleep(event["sleep"])
    if event.get("exit"):
        os._exit(3)
    return {
        "pid": os.getpid(),
        "env": {key: os.environ.get(key) for key in event.get("env", [])},
        "helper": shared_helper.NAME,
        "module_file": __file__,
        "cwd": os.getcwd(),
        "function_name": context.function_name,
        "memory": context.memory_limit_in_mb,
        "arn": context.invoked_function_arn,
        "request_id": context.aws_request_id,
        "remaining": context.get_remaining_time_in_millis(),
        "event": event,
    }
"""


def function(tmp_path: Path, name: str, env: dict[str, str], timeout: int = 5) -> FunctionSpec:
    code = tmp_path / name
    code.mkdir()
    (code / "app.py").write_text(dedent(APP))
    layer = tmp_path / "layer"
    layer.mkdir(exist_ok=True)
    (layer / "shared_helper.py").write_text("NAME = 'from the layer'\n")
    return FunctionSpec(name, code, "app.lambda_handler", timeout, 256, env, (layer,))


@pytest.fixture
def config() -> LocalConfig:
    environ = {"PATH": os.environ.get("PATH", ""), "ONLY_IN_STACK": "1", "SHARED_NAME": "stack"}
    return LocalConfig(dynamodb_port=9100, moto_port=9101, max_concurrency=2, environ=environ)


@pytest.fixture
def runtime(tmp_path: Path, config: LocalConfig) -> Iterator[LambdaRuntime]:
    functions = {
        "One": function(tmp_path, "One", {"WHO": "one", "SHARED_NAME": "template"}),
        "Two": function(tmp_path, "Two", {"WHO": "two"}, timeout=1),
    }
    runtime = LambdaRuntime(functions, config)
    yield runtime
    runtime.close()


def test_each_function_runs_its_own_app_with_its_own_environment(runtime: LambdaRuntime) -> None:
    keys = ["WHO", "SHARED_NAME", "ONLY_IN_STACK", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_REGION"]
    one = runtime.invoke("One", {"env": keys}).payload
    two = runtime.invoke("Two", {"env": keys}).payload
    assert one["module_file"].endswith("One/app.py")
    assert two["module_file"].endswith("Two/app.py")
    assert one["pid"] != two["pid"]
    assert one["env"]["WHO"] == "one"
    assert two["env"]["WHO"] == "two"
    assert one["env"]["SHARED_NAME"] == "stack"  # the developer's environment wins
    assert one["env"]["ONLY_IN_STACK"] == "1"
    assert one["env"]["AWS_ENDPOINT_URL_DYNAMODB"] == "http://127.0.0.1:9100"
    assert one["env"]["AWS_REGION"] == "us-east-1"
    assert one["helper"] == "from the layer"
    assert one["cwd"].endswith("/One")


def test_the_context_looks_like_lambdas(runtime: LambdaRuntime) -> None:
    payload = runtime.invoke("One", {"x": 1}).payload
    assert payload["event"] == {"x": 1}
    assert payload["function_name"] == "One"
    assert payload["memory"] == 256
    assert payload["arn"] == "arn:aws:lambda:us-east-1:123456789012:function:One"
    assert payload["request_id"]
    assert 0 < payload["remaining"] <= 5000


def test_a_handler_exception_is_an_error_result_and_the_worker_survives(
    runtime: LambdaRuntime,
) -> None:
    first = runtime.invoke("One", {}).payload["pid"]
    failed = runtime.invoke("One", {"raise": "bad input"})
    assert not failed.ok
    assert failed.error is not None
    assert (failed.error["errorType"], failed.error["errorMessage"]) == ("ValueError", "bad input")
    assert runtime.invoke("One", {}).payload["pid"] == first  # warm: the same worker


def test_a_timeout_kills_the_worker_and_the_next_call_gets_a_new_one(
    runtime: LambdaRuntime,
) -> None:
    first = runtime.invoke("Two", {}).payload["pid"]
    timed_out = runtime.invoke("Two", {"sleep": 3})
    assert timed_out.error is not None
    assert timed_out.error["errorType"] == "Sandbox.Timedout"
    assert runtime.invoke("Two", {}).payload["pid"] != first


def test_a_worker_that_exits_is_an_error_and_is_replaced(runtime: LambdaRuntime) -> None:
    first = runtime.invoke("One", {}).payload["pid"]
    crashed = runtime.invoke("One", {"exit": True})
    assert crashed.error is not None
    assert crashed.error["errorType"] == "Runtime.ExitError"
    assert runtime.invoke("One", {}).payload["pid"] != first


def test_concurrency_is_capped_per_function(runtime: LambdaRuntime) -> None:
    pids: list[int] = []
    threads = [
        threading.Thread(
            target=lambda: pids.append(runtime.invoke("One", {"sleep": 0.3}).payload["pid"])
        )
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(pids) == 4
    assert len(set(pids)) == 2  # LOCAL_MAX_CONCURRENCY=2 in this config


def test_worker_environment_precedence(tmp_path: Path) -> None:
    spec = FunctionSpec("F", tmp_path, environment={"A": "template", "B": "template"})
    environ = {"B": "developer", "AWS_PROFILE": "prod", "AWS_ACCESS_KEY_ID": "AKIAREAL"}
    env = worker_environment(spec, LocalConfig(moto_port=7, dynamodb_port=8, environ=environ))
    assert (env["A"], env["B"]) == ("template", "developer")
    assert "AWS_PROFILE" not in env  # never a real account
    assert env["AWS_ACCESS_KEY_ID"] == "local"
    assert env["AWS_ENDPOINT_URL_SQS"] == env["AWS_ENDPOINT_URL_SSM"] == "http://127.0.0.1:7"
    assert env["POWERTOOLS_TRACE_DISABLED"] == "true"
    assert env["STRIPE_SECRET_KEY"] == "sk_test_local_standin"
    assert env["STRIPE_WEBHOOK_SECRET"] == "whsec_local_standin"
    developer = {"STRIPE_SECRET_KEY": "sk_test_mine"}
    env = worker_environment(spec, LocalConfig(environ=developer))
    assert env["STRIPE_SECRET_KEY"] == "sk_test_mine"


def test_the_docs_load_swagger_ui_from_the_gateway_unless_a_location_is_chosen(
    tmp_path: Path,
) -> None:
    spec = FunctionSpec("Docs", tmp_path, environment={"SWAGGER_UI_URL": "https://cdn.example"})
    local = worker_environment(spec, LocalConfig(environ={}))
    assert local["SWAGGER_UI_URL"] == SWAGGER_UI_PREFIX
    chosen = {"LOCAL_PARAM_SwaggerUiUrl": "https://cdn.example"}
    assert worker_environment(spec, LocalConfig(environ=chosen))["SWAGGER_UI_URL"] == (
        "https://cdn.example"
    )
    other = worker_environment(FunctionSpec("Health", tmp_path), LocalConfig(environ={}))
    assert "SWAGGER_UI_URL" not in other


def test_workers_reach_dynamodb_where_local_dynamodb_endpoint_says(tmp_path: Path) -> None:
    spec = FunctionSpec("F", tmp_path)
    direct = worker_environment(spec, LocalConfig(dynamodb_port=8, environ={}))
    assert direct["AWS_ENDPOINT_URL_DYNAMODB"] == "http://127.0.0.1:8"
    proxied = LocalConfig.from_env(
        {"LOCAL_DYNAMODB_PORT": "8", "LOCAL_DYNAMODB_ENDPOINT": "http://127.0.0.1:9"}
    )
    assert worker_environment(spec, proxied)["AWS_ENDPOINT_URL_DYNAMODB"] == "http://127.0.0.1:9"
