"""The events a benchmark projects: Lambda DynamoDB stream events of users and orders.

Built with ``core.events.StreamEventBuilder`` as dicts, the shape the Lambda runtime hands
the handler after ``json.loads``. Three records in four are INSERTs, one in four a MODIFY
(with its OldImage); every record writes a distinct item.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

from ddbproj.core.events import StreamEventBuilder

#: Lambda's invocation payload limit, and its largest DynamoDB batch.
PAYLOAD_LIMIT = 6 * 1024 * 1024
MAX_BATCH = 10_000

_CREATED = datetime.datetime(2024, 5, 1, 12, 0, tzinfo=datetime.UTC)
_CITIES = ["東京", "大阪", "Sapporo", "Fukuoka", "Nagoya"]
_SKUS = ["BOOK-0001", "MUG-0042", "PEN-0007", "BAG-0100"]


def user_item(i: int) -> dict[str, Any]:
    return {
        "PK": f"USER#{i}", "SK": "PROFILE", "entity_type": "User",
        "Id": i, "Name": f"user-{i:07d}", "Age": 17 + i % 60,
        "Height": 140 + i % 60, "Weight": 40 + i % 70,
    }


def order_item(i: int) -> dict[str, Any]:
    lines = [
        {"sku": _SKUS[(i + n) % len(_SKUS)], "quantity": 1 + (i + n) % 4,
         "unit_price": Decimal(f"{(i * 7 + n) % 5000}.{(i + n) % 100:02d}")}
        for n in range(1 + i % 3)
    ]
    total = sum((line["unit_price"] * line["quantity"] for line in lines), Decimal(0))
    placed = _CREATED + datetime.timedelta(seconds=i, microseconds=i % 1_000_000)
    return {
        "PK": f"ORDER#{i:09d}", "SK": "ORDER", "entity_type": "Order",
        "OrderId": f"{i:09d}", "CustomerId": 1 + i % 9973, "Total": total,
        "Status": ("PENDING", "PAID", "SHIPPED")[i % 3],
        "PlacedAt": placed.isoformat(),
        "ShippingAddress": {"street": f"{1 + i % 40}-{1 + i % 9} Chiyoda",
                            "city": _CITIES[i % len(_CITIES)], "zip": f"{i % 1000:03d}-0001"},
        "Lines": lines,
        "Note": "leave at the door" if i % 4 == 0 else None,
        "Tags": {"gift", "express"} if i % 5 == 0 else {"standard"},
    }


ENTITIES: dict[str, Callable[[int], dict[str, Any]]] = {"User": user_item, "Order": order_item}


def records(entity: str, count: int, *, start: int = 0) -> Iterator[dict[str, Any]]:
    """``count`` stream records of distinct items; every fourth one a MODIFY."""
    make = ENTITIES[entity]
    builder = StreamEventBuilder(created_at=_CREATED, start_sequence=_sequence_start(start))
    for i in range(start, start + count):
        item = make(i)
        if i % 4 == 3:
            old = dict(item)
            old.pop("Note", None)
            yield builder.modify(old, item)
        else:
            yield builder.insert(item)


def event(entity: str, count: int) -> dict[str, Any]:
    return {"Records": list(records(entity, count))}


def full_batch_size(entity: str) -> int:
    """Records of ``entity`` in one full Lambda batch: as many as fit in the 6 MB payload
    (at most the 10,000 of a DynamoDB batch)."""
    size = len('{"Records":[]}')
    for count, record in enumerate(records(entity, MAX_BATCH)):
        size += len(json.dumps(record, separators=(",", ":")).encode()) + (1 if count else 0)
        if size > PAYLOAD_LIMIT:
            return count
    return MAX_BATCH


def payload_bytes(evt: dict[str, Any]) -> int:
    return len(json.dumps(evt, separators=(",", ":")).encode())


def _sequence_start(start: int) -> int:
    return 10_700_000_000_000_000_000_000 + start
