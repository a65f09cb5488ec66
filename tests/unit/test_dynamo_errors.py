import pytest
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError
from pynamodb.exceptions import GetError, PutError

from billing.adapters.dynamo.errors import dynamo_errors, is_conditional_check_failure
from billing.errors import DependencyUnavailableError


def client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}}, "PutItem")


@pytest.mark.parametrize(
    ("cause", "reason"),
    [
        (client_error("ProvisionedThroughputExceededException"), "ProvisionedThroughputExceeded"),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), "EndpointConnectionError"),
        (ConnectionClosedError(endpoint_url="http://127.0.0.1:1"), "ConnectionClosedError"),
    ],
)
def test_faults_become_dependency_unavailable_naming_the_cause(
    cause: Exception, reason: str
) -> None:
    with pytest.raises(DependencyUnavailableError, match=reason), dynamo_errors("GetItem x"):
        raise GetError("boom", cause=cause)


def test_a_failed_condition_is_not_a_fault() -> None:
    refused = PutError("no", cause=client_error("ConditionalCheckFailedException"))
    assert is_conditional_check_failure(refused)
    with pytest.raises(PutError), dynamo_errors("PutItem x"):
        raise refused


def test_a_connection_error_is_not_a_failed_condition() -> None:
    assert not is_conditional_check_failure(
        PutError("reset", cause=ConnectionClosedError(endpoint_url="http://127.0.0.1:1"))
    )


@pytest.mark.parametrize("code", ["InternalServerError", "ThrottlingException"])
def test_an_error_pynamodb_lets_through_unwrapped_is_dependency_unavailable(code: str) -> None:
    """PynamoDB's describe_table re-raises DynamoDB's own error answer as a plain ClientError
    (not a PynamoDBException): the readiness probe must still say 503, not crash into a 500."""
    with pytest.raises(DependencyUnavailableError, match=code), dynamo_errors("DescribeTable"):
        raise client_error(code)


def test_an_unwrapped_failed_condition_is_still_not_a_fault() -> None:
    with pytest.raises(ClientError), dynamo_errors("PutItem x"):
        raise client_error("ConditionalCheckFailedException")
