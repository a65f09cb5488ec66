"""Read a deployed stack's outputs (table names) and parameters for the admin CLI."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from billing.errors import DependencyUnavailableError, NotFoundError


def _describe(stack_name: str, region: str | None) -> Any:
    client = boto3.client("cloudformation", region_name=region)
    try:
        return client.describe_stacks(StackName=stack_name)["Stacks"][0]
    except ClientError as exc:
        if "does not exist" in str(exc):
            raise NotFoundError(f"stack {stack_name} not found") from None
        raise DependencyUnavailableError(f"CloudFormation: {type(exc).__name__}") from exc
    except BotoCoreError as exc:
        raise DependencyUnavailableError(f"CloudFormation: {type(exc).__name__}") from exc


def stack_outputs(stack_name: str, region: str | None) -> dict[str, str]:
    """OutputKey -> OutputValue of a CloudFormation stack, with the usual AWS credentials."""
    return stack_outputs_and_parameters(stack_name, region)[0]


def stack_outputs_and_parameters(
    stack_name: str, region: str | None
) -> tuple[dict[str, str], dict[str, str]]:
    """Outputs and parameter values (ParameterKey -> ParameterValue) of the stack, one call."""
    stack = _describe(stack_name, region)
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    parameters = {
        p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])
    }
    return outputs, parameters
