"""The change log's stream -> one queued delivery per (change, endpoint of its project).

Fed by the DynamoDB stream of EntitlementChangesTable (new items only: entries are never
changed). A record whose deliveries cannot be queued is reported as a batch item failure, so
the stream hands it (and what follows it in its shard) over again: a change is dispatched at
least once, and a duplicate delivery carries the same webhook-id.
"""

from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import (
    DynamoDBRecord,
    DynamoDBRecordEventName,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from billing import wiring
from billing.observability import logger
from billing.services.outbound_webhooks import LoggedChange, dispatch

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def record_handler(record: DynamoDBRecord) -> int:
    if record.event_name is not DynamoDBRecordEventName.INSERT or record.dynamodb is None:
        return 0  # entries are only ever inserted
    image = record.dynamodb.new_image
    change = LoggedChange(
        project_id=str(image["project_id"]),
        user_id=str(image["user_id"]),
        version=int(image["version"]),
    )
    queued = dispatch([change], wiring.webhook_endpoints(), wiring.delivery_queue())
    if queued:
        logger.info(
            "change dispatched",
            extra={"project_id": change.project_id, "version": change.version, "queued": queued},
        )
    return queued


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
