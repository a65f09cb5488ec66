"""Read a deployed stack's outputs (table names) for the admin CLI."""

from __future__ import annotations

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from billing.errors import DependencyUnavailableError, NotFoundError


def stack_outputs(stack_name: str, region: str | None) -> dict[str, str]:
    """OutputKey -> OutputValue of a CloudFormation stack, with the usual AWS credentials."""
    client = boto3.client("cloudformation", region_name=region)
    try:
        stacks = client.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        if "does not exist" in str(exc):
            raise NotFoundError(f"stack {stack_name} not found") from None
        raise DependencyUnavailableError(f"CloudFormation: {type(exc).__name__}") from exc
    except BotoCoreError as exc:
        raise DependencyUnavailableError(f"CloudFormation: {type(exc).__name__}") from exc
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
