"""``ddbproj schema``: the DDL of the registered projectors; ``--apply`` creates what is
missing; ``--check`` compares with a live database and exits 1 on drift, so a deploy
pipeline stops before a projector change meets an old schema."""

from __future__ import annotations

import argparse
from typing import Any

import sqlalchemy as sa
from sqlalchemy.schema import CreateTable

from ddbproj.adapters.schema import build_metadata, key_collation
from ddbproj.adapters.schema_check import check_schema
from ddbproj.adapters.sink import SqlSink
from ddbproj.handlers.commands.common import (
    CommandError,
    add_database_options,
    open_engine,
    open_registry,
)

_DIALECTS = {
    "mysql": "sqlalchemy.dialects.mysql",
    "mariadb": "sqlalchemy.dialects.mysql",
    "sqlite": "sqlalchemy.dialects.sqlite",
    "postgresql": "sqlalchemy.dialects.postgresql",
}


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "schema", help="print, --apply or --check the SQL tables of the projectors",
        description="Print the CREATE TABLE statements derived from the registered projectors; "
        "--apply creates the missing tables; --check compares them with the database and "
        "exits 1 when they differ.",
    )
    parser.add_argument("--dialect", choices=sorted(_DIALECTS), default="mysql",
                        help="SQL dialect of the printed DDL (default mysql)")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--apply", action="store_true",
                        help="create the missing tables in --database-url")
    action.add_argument("--check", action="store_true",
                        help="report drift between the projectors and --database-url "
                        "(missing tables or columns, other types); exit 1 when any")
    add_database_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    registry = open_registry(args)
    if args.apply:
        sink = SqlSink(open_engine(args), registry)
        shown = sink.engine.url.set(query={}).render_as_string(hide_password=True)
        created = _on_database(sink.create_schema, shown)
        print("created: " + (", ".join(created) if created else "nothing (all tables exist)"))
        return 0
    if args.check:
        return _check(registry, open_engine(args))
    dialect = _dialect(args.dialect)
    collation = "utf8mb4_0900_bin" if args.dialect == "mysql" else (
        "utf8mb4_nopad_bin" if args.dialect == "mariadb" else None)
    metadata = build_metadata(registry, collation=collation)
    for table in metadata.sorted_tables:
        print(str(CreateTable(table).compile(dialect=dialect)).strip() + ";\n")
    return 0


def _check(registry: Any, engine: sa.Engine) -> int:
    shown = engine.url.set(query={}).render_as_string(hide_password=True)

    def compare() -> tuple[int, list[Any]]:
        with engine.connect() as conn:
            metadata = build_metadata(registry, collation=key_collation(conn))
            return len(metadata.tables), check_schema(conn, metadata)

    try:
        tables, drift = _on_database(compare, shown)
    finally:
        engine.dispose()
    if not drift:
        print(f"{shown}: the {tables} tables match the registered projectors")
        return 0
    print(f"{shown}: {len(drift)} difference{'s' if len(drift) > 1 else ''} from the "
          "registered projectors")
    for item in drift:
        print(f"  {item}")
    missing = any(d.problem == "table is missing" for d in drift)
    print("\n" + ("'ddbproj schema --apply' creates the missing tables; " if missing else "")
          + "change existing tables with a migration (infra/alembic shows how)")
    return 1


def _on_database(work: Any, where: str) -> Any:
    """Run ``work``; a database that cannot be reached is one line, not a traceback."""
    try:
        return work()
    except sa.exc.SQLAlchemyError as error:
        orig = getattr(error, "orig", None) or error
        raise CommandError(f"cannot read the schema of {where}: "
                           f"{type(orig).__name__}: {orig}") from error


def _dialect(name: str) -> sa.Dialect:
    import importlib

    module = importlib.import_module(_DIALECTS[name])
    dialect: sa.Dialect = module.dialect()
    if name == "mariadb":
        dialect.is_mariadb = True  # type: ignore[attr-defined]
    return dialect
