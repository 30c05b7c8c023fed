"""``ddbproj schema``: the DDL of the registered projectors; ``--apply`` creates it."""

from __future__ import annotations

import argparse
from typing import Any

import sqlalchemy as sa
from sqlalchemy.schema import CreateTable

from adapters.engine import make_engine
from adapters.schema import build_metadata
from adapters.sink import SqlSink
from handlers.commands.common import add_database_options, database_url, open_registry

_DIALECTS = {
    "mysql": "sqlalchemy.dialects.mysql",
    "mariadb": "sqlalchemy.dialects.mysql",
    "sqlite": "sqlalchemy.dialects.sqlite",
    "postgresql": "sqlalchemy.dialects.postgresql",
}


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "schema", help="print (or --apply) the SQL tables of the projectors",
        description="Print the CREATE TABLE statements derived from the registered projectors.",
    )
    parser.add_argument("--dialect", choices=sorted(_DIALECTS), default="mysql",
                        help="SQL dialect of the printed DDL (default mysql)")
    parser.add_argument("--apply", action="store_true",
                        help="create the missing tables in --database-url")
    add_database_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    registry = open_registry(args)
    if args.apply:
        sink = SqlSink(make_engine(database_url(args)), registry)
        created = sink.create_schema()
        print("created: " + (", ".join(created) if created else "nothing (all tables exist)"))
        return 0
    dialect = _dialect(args.dialect)
    collation = "utf8mb4_0900_bin" if args.dialect == "mysql" else (
        "utf8mb4_nopad_bin" if args.dialect == "mariadb" else None)
    metadata = build_metadata(registry, collation=collation)
    for table in metadata.sorted_tables:
        print(str(CreateTable(table).compile(dialect=dialect)).strip() + ";\n")
    return 0


def _dialect(name: str) -> sa.Dialect:
    import importlib

    module = importlib.import_module(_DIALECTS[name])
    dialect: sa.Dialect = module.dialect()
    if name == "mariadb":
        dialect.is_mariadb = True  # type: ignore[attr-defined]
    return dialect
