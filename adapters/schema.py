"""SQL tables derived from the registered projectors, plus ddbproj's own tables.

Each projected table gets the model's columns and ``ddbproj_seq``, the sequence number
of the change that wrote the row. Each also gets a tombstone table (same key, the
sequence number of the delete) so an older image never brings a deleted row back.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.types import UserDefinedType

from ddbproj.adapters.engine import is_mysql
from ddbproj.core.columns import Column, ColumnKind
from ddbproj.core.names import SEQ_COLUMN, SEQ_DIGITS, tombstone_table_name
from ddbproj.core.projector import SOFT_DELETE_COLUMN
from ddbproj.core.registry import ProjectorRegistry

__all__ = [
    "SEQ_COLUMN",
    "SEQ_WIDTH",
    "build_metadata",
    "table_missing",
    "checkpoints_table",
    "dead_letters_table",
    "sql_type",
    "tombstone_table_name",
]

#: Sequence numbers are decimal strings of up to 40 digits; BIGINT would overflow.
SEQ_WIDTH = SEQ_DIGITS
DEAD_LETTERS = "ddbproj_dead_letters"
CHECKPOINTS = "ddbproj_checkpoints"
BACKFILL_PROGRESS = "ddbproj_backfill_progress"
#: Characters the dead-letter columns hold; longer values are cut to fit.
DEAD_LETTER_NAME_CHARS = 255
DEAD_LETTER_KIND_CHARS = 16
DEAD_LETTER_ERROR_CHARS = 100_000


class _LiteralType(UserDefinedType[Any]):
    """A column type given verbatim by a projector (``column(sql_type="CHAR(3)")``)."""

    cache_ok = True

    def __init__(self, spec: str) -> None:
        self.spec = spec

    def get_col_spec(self, **_: Any) -> str:
        return self.spec


def sequence_type() -> sa.types.TypeEngine[Any]:
    """DECIMAL(40, 0) where the database has it exactly; fixed-width text on SQLite
    (whose numbers are 64-bit), which sorts the same way."""
    return sa.Numeric(SEQ_WIDTH, 0).with_variant(sa.String(SEQ_WIDTH), "sqlite")


def sql_type(col: Column) -> sa.types.TypeEngine[Any]:
    """The SQLAlchemy type of a derived column (utf8mb4 text, microsecond times)."""
    if col.sql_type:
        return _LiteralType(col.sql_type)
    kind = col.kind
    if kind is ColumnKind.INTEGER:
        return sa.BigInteger()
    if kind is ColumnKind.DECIMAL:
        # SQLite would store DECIMAL as a float; keep the exact digits as text there
        return sa.Numeric(col.precision, col.scale).with_variant(sa.String(80), "sqlite")
    if kind is ColumnKind.FLOAT:
        return sa.Double()
    if kind is ColumnKind.STRING:
        return sa.String(col.length or 255)
    if kind is ColumnKind.TEXT:
        return sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")
    if kind is ColumnKind.BOOLEAN:
        return sa.Boolean()
    if kind is ColumnKind.BINARY:
        if col.length:
            return sa.LargeBinary(col.length).with_variant(mysql.VARBINARY(col.length), "mysql",
                                                           "mariadb")
        return sa.LargeBinary().with_variant(mysql.MEDIUMBLOB(), "mysql", "mariadb")
    if kind is ColumnKind.DATETIME:
        return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
    if kind is ColumnKind.DATE:
        return sa.Date()
    # MySQL's native JSON keeps numbers as doubles: a LONGTEXT of JSON text (MariaDB's own
    # JSON type) keeps every digit of a Decimal
    return sa.JSON().with_variant(JsonText(), "mysql")


class JsonText(sa.types.TypeDecorator[Any]):
    """JSON stored as LONGTEXT on MySQL, where the JSON type would round numbers."""

    impl = mysql.LONGTEXT
    cache_ok = True

    def __init__(self) -> None:
        super().__init__()
        self._json = sa.JSON()

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> Any:
        from ddbproj.core import jsontext

        return None if value is None else jsontext.dumps(value)

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> Any:
        from ddbproj.core import jsontext

        return None if value is None else jsontext.loads(value)


def _deleted_at_column(name: str) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb"),
                     nullable=True)


def key_collation(conn: sa.Connection) -> str | None:
    """The collation that compares keys as DynamoDB does (binary, no padding) on this
    server, or None where the database has no such setting."""
    if not is_mysql(conn.dialect):
        return None
    if not hasattr(conn, "exec_driver_sql"):
        # an offline migration (``alembic upgrade --sql``) asks no server: MySQL 8's
        return "utf8mb4_0900_bin"
    version = str(conn.exec_driver_sql("SELECT VERSION()").scalar_one())
    if "mariadb" in version.lower():
        return "utf8mb4_nopad_bin"
    if _major(version) >= 8:
        return "utf8mb4_0900_bin"
    raise UnsupportedServer(
        f"MySQL {version.split('-', maxsplit=1)[0]} has no binary collation without "
        "padding, so keys that differ by trailing spaces would collide: use MySQL 8.0 or "
        "later (Aurora MySQL 3) or MariaDB 10.2 or later")


class UnsupportedServer(RuntimeError):
    """The server cannot store keys as DynamoDB compares them."""


def _major(version: str) -> int:
    head = version.split(".", 1)[0]
    return int(head) if head.isdigit() else 0


def table_missing(engine: sa.Engine, name: str) -> bool:
    """Whether ``name`` is not in the database: read-only commands show nothing for it
    (and say to run ``ddbproj schema --apply``) instead of creating it."""
    with engine.connect() as conn:
        return not sa.inspect(conn).has_table(name)


def _table_options(collation: str | None) -> dict[str, Any]:
    options: dict[str, Any] = {"mysql_charset": "utf8mb4", "mariadb_charset": "utf8mb4"}
    if collation:
        options["mysql_collate"] = collation
        options["mariadb_collate"] = collation
    return options


def build_metadata(registry: ProjectorRegistry, *, collation: str | None = None) -> sa.MetaData:
    """Tables for every projector, their tombstones, and ddbproj's bookkeeping tables.

    ``collation`` should compare keys as DynamoDB does (binary, no padding): the SQL sink
    passes ``utf8mb4_nopad_bin`` on MariaDB and ``utf8mb4_0900_bin`` on MySQL 8.
    """
    metadata = sa.MetaData()
    options = _table_options(collation)
    for name, compiled in registry.tables().items():
        columns = [
            sa.Column(c.name, sql_type(c), primary_key=c.primary_key, nullable=c.nullable,
                      autoincrement=False)
            for c in compiled.columns
        ]
        # soft delete: when the item was removed (NULL while it exists), on rows and tombstones
        marks = [SOFT_DELETE_COLUMN] if compiled.soft_delete else []
        sa.Table(name, metadata, *columns, *(_deleted_at_column(m) for m in marks),
                 sa.Column(SEQ_COLUMN, sequence_type(), nullable=False), **options)
        key_columns = [
            sa.Column(c.name, sql_type(c), primary_key=True, autoincrement=False)
            for c in compiled.columns if c.primary_key
        ]
        sa.Table(tombstone_table_name(name), metadata, *key_columns,
                 *(_deleted_at_column(m) for m in marks),
                 sa.Column(SEQ_COLUMN, sequence_type(), nullable=False), **options)
    dead_letters_table(metadata, options)
    checkpoints_table(metadata, options)
    backfill_progress_table(metadata, options)
    return metadata


def dead_letters_table(metadata: sa.MetaData, options: dict[str, Any] | None = None) -> sa.Table:
    text = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")
    return sa.Table(
        DEAD_LETTERS, metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("record_id", sa.String(200), nullable=False, unique=True),
        sa.Column("projector", sa.String(255)),
        sa.Column("entity_type", sa.String(255)),
        sa.Column("table_name", sa.String(64)),
        sa.Column("item_key", sa.Text),
        sa.Column("sequence_number", sequence_type()),
        sa.Column("event_kind", sa.String(16)),
        sa.Column("raw_record", text, nullable=False),
        sa.Column("error", text, nullable=False),
        sa.Column("first_seen", sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql",
                                                           "mariadb"), nullable=False),
        sa.Column("last_seen", sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql",
                                                          "mariadb"), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        **(options or {}),
    )


def backfill_progress_table(
    metadata: sa.MetaData, options: dict[str, Any] | None = None
) -> sa.Table:
    """Where a backfill is: per DynamoDB table and scan segment, the last key applied,
    committed with the rows of its page so that a restart resumes, never repeats."""
    return sa.Table(
        BACKFILL_PROGRESS, metadata,
        sa.Column("table_name", sa.String(255), primary_key=True),
        sa.Column("segment", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("total_segments", sa.Integer, nullable=False),
        sa.Column("last_key", sa.Text),
        sa.Column("items", sa.BigInteger, nullable=False, default=0),
        sa.Column("done", sa.Boolean, nullable=False, default=False),
        sa.Column("updated_at", sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql",
                                                           "mariadb"), nullable=False),
        **(options or {}),
    )


def checkpoints_table(metadata: sa.MetaData, options: dict[str, Any] | None = None) -> sa.Table:
    """Where a stream consumer is: per shard, the last sequence number applied."""
    return sa.Table(
        CHECKPOINTS, metadata,
        sa.Column("stream_arn", sa.String(255), primary_key=True),
        sa.Column("shard_id", sa.String(128), primary_key=True),
        sa.Column("sequence_number", sequence_type()),
        sa.Column("finished", sa.Boolean, nullable=False, default=False),
        sa.Column("updated_at", sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql",
                                                           "mariadb"), nullable=False),
        **(options or {}),
    )
