"""DynamoDB Streams through boto3: the shards of a stream, their lineage, iterators that
resume from a checkpoint, and pages of records.

A stream is a tree of shards: when a shard closes, its children carry on. Records of one
item can move from a parent to a child, so a child is read only once its parent is
finished (or gone past the 24-hour retention) — the order the Lambda event source
mapping keeps too.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

__all__ = [
    "DataTrimmed",
    "IteratorExpired",
    "Page",
    "Shard",
    "StartPosition",
    "StreamNotEnabled",
    "StreamReader",
    "latest_stream_arn",
    "ready_shards",
]

logger = logging.getLogger("ddbproj")


class StartPosition(enum.Enum):
    """Where a shard without a checkpoint is read from."""

    TRIM_HORIZON = "trim_horizon"
    LATEST = "latest"


class StreamNotEnabled(Exception):
    """The table has no stream: enable one (NEW_AND_OLD_IMAGES) before ``run``."""


class IteratorExpired(Exception):
    """A shard iterator is older than 15 minutes; get a new one from the checkpoint."""


class DataTrimmed(Exception):
    """The checkpoint is older than the stream's retention: records in between are gone."""


@attrs.frozen
class Shard:
    shard_id: str
    parent_shard_id: str | None = None
    starting_sequence_number: str | None = None
    ending_sequence_number: str | None = None

    @property
    def closed(self) -> bool:
        """A closed shard takes no more records; it is finished once read to its end."""
        return self.ending_sequence_number is not None


@attrs.frozen
class Page:
    """One ``get_records`` answer; ``next_iterator`` is None once a closed shard is done."""

    records: list[Mapping[str, Any]]
    next_iterator: str | None

    @property
    def shard_finished(self) -> bool:
        return self.next_iterator is None

    @property
    def last_sequence_id(self) -> str | None:
        if not self.records:
            return None
        change = self.records[-1].get("dynamodb")
        value = change.get("SequenceNumber") if isinstance(change, Mapping) else None
        return value if isinstance(value, str) else None


def latest_stream_arn(dynamodb: Any, table_name: str) -> str:
    """The ARN of the table's current stream; raises ``StreamNotEnabled``."""
    table = dynamodb.describe_table(TableName=table_name)["Table"]
    arn = table.get("LatestStreamArn")
    spec = table.get("StreamSpecification") or {}
    if not arn or spec.get("StreamEnabled") is False:
        raise StreamNotEnabled(
            f"table {table_name!r} has no stream: enable one with StreamViewType "
            "NEW_AND_OLD_IMAGES (or NEW_IMAGE)"
        )
    return str(arn)


def ready_shards(shards: Sequence[Shard], finished: Iterable[str]) -> list[Shard]:
    """Shards that may be read now: not finished, and their parent finished or no longer
    listed (trimmed after the retention period). Parents come before children."""
    done = set(finished)
    listed = {shard.shard_id for shard in shards}
    return [
        shard for shard in shards
        if shard.shard_id not in done
        and (shard.parent_shard_id is None or shard.parent_shard_id not in listed
             or shard.parent_shard_id in done)
    ]


class StreamReader:
    """Reads one stream with a boto3 ``dynamodbstreams`` client, or anything answering
    ``describe_stream``, ``get_shard_iterator`` and ``get_records`` in its shape."""

    def __init__(self, client: Any, stream_arn: str, *, page_limit: int = 1000) -> None:
        self.client = client
        self.stream_arn = stream_arn
        self.page_limit = page_limit

    def shards(self) -> list[Shard]:
        """Every shard of the stream, following ``LastEvaluatedShardId`` pages."""
        shards: list[Shard] = []
        start: str | None = None
        while True:
            kwargs: dict[str, Any] = {"StreamArn": self.stream_arn}
            if start:
                kwargs["ExclusiveStartShardId"] = start
            description = self.client.describe_stream(**kwargs)["StreamDescription"]
            for raw in description.get("Shards", []):
                numbers = raw.get("SequenceNumberRange") or {}
                shards.append(Shard(
                    shard_id=raw["ShardId"],
                    parent_shard_id=raw.get("ParentShardId"),
                    starting_sequence_number=numbers.get("StartingSequenceNumber"),
                    ending_sequence_number=numbers.get("EndingSequenceNumber"),
                ))
            start = description.get("LastEvaluatedShardId")
            if not start:
                return shards

    def iterator(
        self,
        shard: Shard,
        *,
        after: str | None = None,
        start: StartPosition = StartPosition.TRIM_HORIZON,
    ) -> str:
        """An iterator just after ``after`` (a checkpoint), else at ``start``."""
        kwargs: dict[str, Any] = {"StreamArn": self.stream_arn, "ShardId": shard.shard_id}
        if after is not None:
            kwargs["ShardIteratorType"] = "AFTER_SEQUENCE_NUMBER"
            kwargs["SequenceNumber"] = after
        else:
            kwargs["ShardIteratorType"] = start.name
        try:
            answer = self.client.get_shard_iterator(**kwargs)
        except Exception as error:
            if _error_code(error) == "TrimmedDataAccessException":
                raise DataTrimmed(
                    f"shard {shard.shard_id}: the checkpoint {after} is older than the stream "
                    "keeps (24 hours); records after it were trimmed"
                ) from error
            raise
        return str(answer["ShardIterator"])

    def read(self, iterator: str) -> Page:
        """One page of records from ``iterator``."""
        try:
            answer = self.client.get_records(ShardIterator=iterator, Limit=self.page_limit)
        except Exception as error:
            code = _error_code(error)
            if code == "ExpiredIteratorException":
                raise IteratorExpired(str(error)) from error
            if code == "TrimmedDataAccessException":
                raise DataTrimmed(str(error)) from error
            raise
        return Page(list(answer.get("Records") or []), answer.get("NextShardIterator"))


def _error_code(error: Exception) -> str | None:
    response = getattr(error, "response", None)
    if isinstance(response, Mapping):
        code = (response.get("Error") or {}).get("Code")
        return str(code) if code else None
    return None
