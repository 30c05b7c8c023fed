"""Building DynamoDB stream events from plain Python values, for tests and demos.

Records are encoded exactly as DynamoDB writes them into a Lambda event (the encoding of
boto3's serializer, binaries as base64), with increasing sequence numbers, so nobody
hand-writes ``{"N": "17"}``.
"""

from __future__ import annotations

import datetime
import itertools
from collections.abc import Iterable, Mapping
from typing import Any

from core.dynamodb_json import encode_image

__all__ = ["DEFAULT_SEQUENCE_START", "StreamEventBuilder"]

#: Shaped like real sequence numbers: 21+ digits, beyond 64 bits.
DEFAULT_SEQUENCE_START = 10_700_000_000_000_000_000_000
_TTL_IDENTITY = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}


class StreamEventBuilder:
    """Makes stream records with increasing sequence numbers; ``event()`` wraps them."""

    def __init__(
        self,
        *,
        key_names: tuple[str, ...] = ("PK", "SK"),
        start_sequence: int = DEFAULT_SEQUENCE_START,
        view_type: str = "NEW_AND_OLD_IMAGES",
        source_arn: str = (
            "arn:aws:dynamodb:ap-northeast-1:123456789012:table/app/stream/2024-01-01T00:00:00.000"
        ),
        created_at: datetime.datetime | None = None,
    ) -> None:
        self.key_names = key_names
        self.view_type = view_type
        self.source_arn = source_arn
        self.created_at = created_at
        self._sequence = itertools.count(start_sequence)

    def next_sequence(self) -> int:
        return next(self._sequence)

    def insert(self, item: Mapping[str, Any]) -> dict[str, Any]:
        return self._record("INSERT", new=item, old=None)

    def modify(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
        return self._record("MODIFY", new=new, old=old)

    def remove(self, item: Mapping[str, Any], *, ttl: bool = False) -> dict[str, Any]:
        """A REMOVE; pass the whole old item (it is the OldImage) or only its keys."""
        record = self._record("REMOVE", new=None, old=item)
        if set(item) <= set(self.key_names):
            record["dynamodb"].pop("OldImage", None)
        if ttl:
            record["userIdentity"] = dict(_TTL_IDENTITY)
        return record

    def event(self, records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
        return {"Records": list(records)}

    def _record(
        self, kind: str, *, new: Mapping[str, Any] | None, old: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        source = new if new is not None else old
        assert source is not None
        keys = {name: source[name] for name in self.key_names if name in source}
        sequence = self.next_sequence()
        created = self.created_at or datetime.datetime.now(datetime.UTC)
        change: dict[str, Any] = {
            "ApproximateCreationDateTime": int(created.timestamp()),
            "Keys": encode_image(keys),
            "SequenceNumber": str(sequence),
            "SizeBytes": 100,
            "StreamViewType": self.view_type,
        }
        if new is not None and self.view_type in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES"):
            change["NewImage"] = encode_image(new)
        if old is not None and self.view_type in ("OLD_IMAGE", "NEW_AND_OLD_IMAGES"):
            change["OldImage"] = encode_image(old)
        return {
            "eventID": f"{sequence:x}",
            "eventName": kind,
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "ap-northeast-1",
            "dynamodb": change,
            "eventSourceARN": self.source_arn,
        }
