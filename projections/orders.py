"""Orders: a richer entity showing the converter's range (decimal, enum, time, nesting)."""

from __future__ import annotations

import datetime
import enum
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import attrs

from ddbproj.core import Projector, column, pascal_case


class OrderStatus(enum.Enum):
    PENDING = "PENDING"
    PAID = "PAID"
    SHIPPED = "SHIPPED"
    CANCELLED = "CANCELLED"


@attrs.frozen
class Address:
    street: str
    city: str
    zip: str


@attrs.frozen
class OrderLine:
    sku: str
    quantity: int
    unit_price: Decimal


@attrs.frozen
class Order:
    order_id: str = attrs.field(metadata=column(length=64))
    customer_id: int
    total: Decimal = attrs.field(metadata=column(precision=14, scale=2))
    status: OrderStatus
    placed_at: datetime.datetime
    shipping_address: Address
    lines: list[OrderLine]
    note: str | None = None
    tags: frozenset[str] = frozenset()


class OrderProjector(Projector[Order]):
    """Items with ``entity_type = "Order"`` -> table ``orders`` (address and lines as JSON)."""

    entity_type = "Order"
    model = Order
    table = "orders"
    key = ("order_id",)
    attribute_names = pascal_case
    renames = {"order_id": "OrderId"}
    key_prefixes = {"PK": "ORDER#"}

    @classmethod
    def key_from_item_keys(cls, keys: Mapping[str, Any]) -> dict[str, Any] | None:
        pk = keys.get("PK")
        if isinstance(pk, str) and pk.startswith("ORDER#"):
            return {"order_id": pk.removeprefix("ORDER#")}
        return None
