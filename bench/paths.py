"""The ways to project a batch that the benchmark compares.

Every path takes the same event (dicts, as the Lambda runtime passes them) and writes the
same rows into tables of the same definition; ``reset`` (not timed) empties its tables.

- ``DdbprojPath``: ddbproj's handler path, ``BatchProcessor.process_event``.
- ``HandWrittenPath``: what a tuned script does: a one-pass decoder, the model's
  constructor, one pymysql ``executemany`` upsert (no sequence guard), GC paused.
- ``UsualLibrariesPath``: Powertools' ``DynamoDBStreamEvent``, cattrs (detailed validation),
  SQLAlchemy Core ``insert().on_duplicate_key_update()`` with dicts; no guard, GC on.
- ``NaivePath``: boto3's ``TypeDeserializer`` per record, one upsert and one commit per row.
"""

from __future__ import annotations

import datetime
import gc
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import attrs
import pymysql
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from ddbproj.adapters.engine import is_mysql, make_engine, normalise_url
from ddbproj.adapters.sink import SqlSink
from ddbproj.core.loading import load_registry
from ddbproj.handlers.processor import BatchProcessor
from projections.orders import Address, Order, OrderLine, OrderStatus
from projections.users import User

TABLES = {"User": "users", "Order": "orders"}
SEQ = "ddbproj_seq"
COLUMNS = {
    "User": ("id", "name", "age", "height", "weight"),
    "Order": ("order_id", "customer_id", "total", "status", "placed_at", "shipping_address",
              "lines", "note", "tags"),
}
UTC = datetime.UTC


class BenchPath:
    """A way to project a batch. ``run`` returns the number of records it processed."""

    name = ""
    label = ""
    sample: int | None = None  # records actually run per batch (the rest is scaled)

    def reset(self) -> None:
        raise NotImplementedError

    def run(self, entity: str, event: dict[str, Any]) -> int:
        raise NotImplementedError

    def close(self) -> None:
        """Release connections."""


# -- ddbproj -------------------------------------------------------------------------


class DdbprojPath(BenchPath):
    def __init__(self, url: str, *, name: str, label: str) -> None:
        self.name = name
        self.label = label
        self.engine = make_engine(url)
        registry = load_registry(["projections"])
        self.sink = SqlSink(self.engine, registry)
        self.sink.create_schema()
        self.processor = BatchProcessor(registry, self.sink)
        self.mysql = is_mysql(self.engine.dialect)

    def reset(self) -> None:
        with self.engine.begin() as conn:
            for table in reversed(self.sink.metadata.sorted_tables):
                if self.mysql:
                    conn.exec_driver_sql(f"TRUNCATE TABLE `{table.name}`")
                else:
                    conn.execute(table.delete())

    def run(self, entity: str, event: dict[str, Any]) -> int:
        result = self.processor.process_event(event)
        expected = len(event["Records"])
        if not result.ok or result.applied != expected:
            raise RuntimeError(f"{self.name}: applied {result.applied} of {expected}: "
                               f"{result.error or result.dead_lettered}")
        return expected

    def close(self) -> None:
        self.engine.dispose()


def create_copies(url: str, prefix: str) -> None:
    """Tables ``<prefix>_users`` and ``<prefix>_orders`` defined like ddbproj's."""
    engine = make_engine(url)
    with engine.begin() as conn:
        for table in TABLES.values():
            conn.exec_driver_sql(f"CREATE TABLE IF NOT EXISTS `{prefix}_{table}` LIKE `{table}`")
    engine.dispose()


def pymysql_connection(url: str, **options: Any) -> Any:
    parsed = make_url(url)
    conn = pymysql.connect(
        host=parsed.host or "127.0.0.1", port=parsed.port or 3306, user=parsed.username,
        password=parsed.password or "", database=parsed.database, charset="utf8mb4",
        autocommit=False, **options,
    )
    with conn.cursor() as cursor:
        cursor.execute("SET SESSION sql_mode = 'STRICT_ALL_TABLES', time_zone = '+00:00'")
    return conn


def upsert_sql(table: str, columns: tuple[str, ...], keys: int) -> str:
    names = [*columns, SEQ]
    updates = ", ".join(f"`{c}` = VALUES(`{c}`)" for c in names[keys:])
    return (f"INSERT INTO `{table}` ({', '.join(f'`{c}`' for c in names)}) "
            f"VALUES ({', '.join(['%s'] * len(names))}) ON DUPLICATE KEY UPDATE {updates}")


def _truncate(conn: Any, tables: list[str]) -> None:
    with conn.cursor() as cursor:
        for table in tables:
            cursor.execute(f"TRUNCATE TABLE `{table}`")
    conn.commit()


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


# -- hand-written ----------------------------------------------------------------------


def _plain(av: dict[str, Any]) -> Any:
    """One pass from DynamoDB JSON to Python, as a tuned script writes it."""
    ((tag, value),) = av.items()
    if tag == "S":
        return value
    if tag == "N":
        try:
            return int(value)
        except ValueError:
            return Decimal(value)
    if tag == "M":
        return {k: _plain(v) for k, v in value.items()}
    if tag == "L":
        return [_plain(v) for v in value]
    if tag == "SS":
        return set(value)
    if tag == "NULL":
        return None
    if tag == "BOOL":
        return value
    if tag == "NS":
        return {Decimal(v) for v in value}
    raise ValueError(f"unexpected tag {tag}")


def _hand_user(image: dict[str, Any], seq: int) -> tuple[Any, ...]:
    item = {k: _plain(v) for k, v in image.items()}
    user = User(id=item["Id"], name=item["Name"], age=item["Age"], height=item["Height"],
                weight=item["Weight"])
    return (user.id, user.name, user.age, user.height, user.weight, seq)


def _hand_order(image: dict[str, Any], seq: int) -> tuple[Any, ...]:
    item = {k: _plain(v) for k, v in image.items()}
    address = item["ShippingAddress"]
    order = Order(
        order_id=item["OrderId"], customer_id=item["CustomerId"], total=Decimal(item["Total"]),
        status=OrderStatus(item["Status"]),
        placed_at=datetime.datetime.fromisoformat(item["PlacedAt"]),
        shipping_address=Address(address["street"], address["city"], address["zip"]),
        lines=[OrderLine(ln["sku"], ln["quantity"], Decimal(ln["unit_price"]))
               for ln in item["Lines"]],
        note=item.get("Note"), tags=frozenset(item.get("Tags", ())),
    )
    addr = order.shipping_address
    return (
        order.order_id, order.customer_id, order.total, order.status.value,
        order.placed_at.astimezone(UTC).replace(tzinfo=None),
        _json({"street": addr.street, "city": addr.city, "zip": addr.zip}),
        _json([{"sku": ln.sku, "quantity": ln.quantity, "unit_price": ln.unit_price}
               for ln in order.lines]),
        order.note, _json(sorted(order.tags)), seq,
    )


HAND_ROWS: dict[str, Callable[[dict[str, Any], int], tuple[Any, ...]]] = {
    "User": _hand_user, "Order": _hand_order,
}


class HandWrittenPath(BenchPath):
    name = "hand-written"
    label = "hand-written: one-pass decoder + constructor + pymysql executemany, GC paused"

    def __init__(self, url: str) -> None:
        create_copies(url, "hw")
        self.conn = pymysql_connection(url)
        self.sql = {e: upsert_sql(f"hw_{t}", COLUMNS[e], 1) for e, t in TABLES.items()}

    def reset(self) -> None:
        _truncate(self.conn, [f"hw_{t}" for t in TABLES.values()])

    def run(self, entity: str, event: dict[str, Any]) -> int:
        enabled = gc.isenabled()
        gc.disable()
        try:
            make_row = HAND_ROWS[entity]
            rows = [make_row(r["dynamodb"]["NewImage"], int(r["dynamodb"]["SequenceNumber"]))
                    for r in event["Records"]]
            with self.conn.cursor() as cursor:
                cursor.executemany(self.sql[entity], rows)
            self.conn.commit()
        finally:
            if enabled:
                gc.enable()
        return len(rows)

    def close(self) -> None:
        self.conn.close()


# -- the usual libraries ------------------------------------------------------------------


def _usual_converter() -> Any:
    import cattrs
    from cattrs.gen import make_dict_structure_fn, override

    from ddbproj.core.projector import pascal_case

    converter = cattrs.Converter()  # detailed validation is cattrs' default
    converter.register_structure_hook(Decimal, lambda v, _: Decimal(v))
    converter.register_structure_hook(
        datetime.datetime, lambda v, _: datetime.datetime.fromisoformat(v))
    for model, renames in ((User, {}), (Order, {"order_id": "OrderId"})):
        overrides = {f.name: override(rename=renames.get(f.name, pascal_case(f.name)))
                     for f in attrs.fields(model)}
        converter.register_structure_hook(
            model, make_dict_structure_fn(model, converter, **overrides))
    return converter


def _usual_user(user: User) -> dict[str, Any]:
    return attrs.asdict(user)


def _usual_order(order: Order) -> dict[str, Any]:
    values = attrs.asdict(order, recurse=False)
    values["status"] = order.status.value
    values["placed_at"] = order.placed_at.astimezone(UTC).replace(tzinfo=None)
    values["shipping_address"] = _json(attrs.asdict(order.shipping_address))
    values["lines"] = _json([attrs.asdict(line) for line in order.lines])
    values["tags"] = _json(sorted(order.tags))
    return values


class UsualLibrariesPath(BenchPath):
    name = "usual libraries"
    label = ("usual libraries: Powertools DynamoDBStreamEvent + cattrs + SQLAlchemy Core "
             "on_duplicate_key_update, GC on")

    def __init__(self, url: str) -> None:
        from sqlalchemy.dialects import mysql

        create_copies(url, "usual")
        self.engine = sa.create_engine(normalise_url(url).update_query_dict(
            {"charset": "utf8mb4"}))
        metadata = sa.MetaData()
        self.tables = {e: sa.Table(f"usual_{t}", metadata, autoload_with=self.engine)
                       for e, t in TABLES.items()}
        self.statements = {}
        for entity, table in self.tables.items():
            stmt = mysql.insert(table)
            self.statements[entity] = stmt.on_duplicate_key_update(
                {c.name: stmt.inserted[c.name] for c in table.columns if not c.primary_key})
        self.converter = _usual_converter()
        self.models = {"User": (User, _usual_user), "Order": (Order, _usual_order)}

    def reset(self) -> None:
        with self.engine.begin() as conn:
            for table in self.tables.values():
                conn.exec_driver_sql(f"TRUNCATE TABLE `{table.name}`")

    def run(self, entity: str, event: dict[str, Any]) -> int:
        from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent

        model, to_dict = self.models[entity]
        rows = []
        for record in DynamoDBStreamEvent(event).records:
            change = record.dynamodb
            assert change is not None
            row = to_dict(self.converter.structure(change.new_image, model))
            row[SEQ] = int(change.sequence_number or 0)
            rows.append(row)
        with self.engine.begin() as conn:
            conn.execute(self.statements[entity], rows)
        return len(rows)

    def close(self) -> None:
        self.engine.dispose()


# -- naive ------------------------------------------------------------------------------


def _naive_user(item: dict[str, Any]) -> tuple[Any, ...]:
    return (int(item["Id"]), item["Name"], int(item["Age"]), int(item["Height"]),
            int(item["Weight"]))


def _naive_order(item: dict[str, Any]) -> tuple[Any, ...]:
    placed = datetime.datetime.fromisoformat(item["PlacedAt"])
    return (
        item["OrderId"], int(item["CustomerId"]), item["Total"], item["Status"],
        placed.astimezone(UTC).replace(tzinfo=None), _json(item["ShippingAddress"]),
        _json(item["Lines"]), item.get("Note"), _json(sorted(item.get("Tags", ()))),
    )


class NaivePath(BenchPath):
    name = "naive"
    label = "naive: boto3 TypeDeserializer per record + one upsert and one commit per row"

    def __init__(self, url: str, *, sample: int) -> None:
        from boto3.dynamodb.types import TypeDeserializer

        create_copies(url, "naive")
        self.conn = pymysql_connection(url)
        self.sql = {e: upsert_sql(f"naive_{t}", COLUMNS[e], 1) for e, t in TABLES.items()}
        self.deserializer = TypeDeserializer()
        self.sample = sample
        self.rows = {"User": _naive_user, "Order": _naive_order}

    def reset(self) -> None:
        _truncate(self.conn, [f"naive_{t}" for t in TABLES.values()])

    def run(self, entity: str, event: dict[str, Any]) -> int:
        records = event["Records"][: self.sample]
        make_row = self.rows[entity]
        deserialize = self.deserializer.deserialize
        sql = self.sql[entity]
        for record in records:
            change = record["dynamodb"]
            item = {k: deserialize(v) for k, v in change["NewImage"].items()}
            with self.conn.cursor() as cursor:
                cursor.execute(sql, (*make_row(item), int(change["SequenceNumber"])))
            self.conn.commit()
        return len(records)

    def close(self) -> None:
        self.conn.close()
