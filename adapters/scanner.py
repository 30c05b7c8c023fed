"""Parallel ``Scan`` of a DynamoDB table through boto3's low-level client.

The low-level client gives items in DynamoDB JSON (``{"N": "17"}``, binaries as bytes),
the form the pipeline decodes exactly; a segment's ``LastEvaluatedKey`` is kept as text
so that a scan can resume after a restart.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping
from typing import Any

import attrs

__all__ = ["ScanPage", "TableScanner", "decode_key", "encode_key"]


@attrs.frozen
class ScanPage:
    items: list[Mapping[str, Any]]
    last_key: Mapping[str, Any] | None

    @property
    def last(self) -> bool:
        return self.last_key is None


class TableScanner:
    """Scans one table, segment by segment (``Segment``/``TotalSegments``)."""

    def __init__(
        self,
        client: Any,
        table_name: str,
        *,
        page_limit: int | None = None,
        consistent_read: bool = False,
    ) -> None:
        self.client = client
        self.table_name = table_name
        self.page_limit = page_limit
        self.consistent_read = consistent_read
        self._description: Mapping[str, Any] | None = None

    def _describe(self) -> Mapping[str, Any]:
        if self._description is None:
            self._description = self.client.describe_table(TableName=self.table_name)["Table"]
        return self._description

    def key_names(self) -> list[str]:
        """The table's key attributes (hash, then range)."""
        schema = sorted(self._describe()["KeySchema"], key=lambda k: k["KeyType"] != "HASH")
        return [k["AttributeName"] for k in schema]

    def item_count(self) -> int | None:
        """DynamoDB's item count (refreshed about every six hours): good for an ETA."""
        count = self._describe().get("ItemCount")
        return int(count) if count is not None else None

    def pages(
        self,
        segment: int = 0,
        total_segments: int = 1,
        *,
        start_key: Mapping[str, Any] | None = None,
    ) -> Iterator[ScanPage]:
        """Pages of one segment, from ``start_key`` (exclusive) when resuming."""
        key = start_key
        while True:
            kwargs: dict[str, Any] = {"TableName": self.table_name,
                                      "ConsistentRead": self.consistent_read}
            if total_segments > 1:
                kwargs["Segment"] = segment
                kwargs["TotalSegments"] = total_segments
            if self.page_limit:
                kwargs["Limit"] = self.page_limit
            if key:
                kwargs["ExclusiveStartKey"] = key
            answer = self.client.scan(**kwargs)
            key = answer.get("LastEvaluatedKey") or None
            yield ScanPage(list(answer.get("Items") or []), key)
            if key is None:
                return


def encode_key(key: Mapping[str, Any]) -> str:
    """A ``LastEvaluatedKey`` as JSON text (binaries as base64) for the progress table."""
    return json.dumps({
        name: {tag: base64.b64encode(value).decode("ascii") if tag == "B" else value
               for tag, value in attribute.items()}
        for name, attribute in key.items()
    }, sort_keys=True)


def decode_key(text: str) -> dict[str, Any]:
    """The inverse of ``encode_key``."""
    raw = json.loads(text)
    return {
        name: {tag: base64.b64decode(value) if tag == "B" else value
               for tag, value in attribute.items()}
        for name, attribute in raw.items()
    }
