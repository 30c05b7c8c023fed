"""Alembic environment whose target is the projectors' tables (``build_metadata``).

Autogenerate compares the database with the tables the registered projectors need and
writes the migration; ``ddbproj schema --check`` then confirms nothing is left. Tables
that no projector owns are never touched.

The database is ``sqlalchemy.url`` when the ini file sets one, else the one the Lambda
function connects to, resolved by the same code (``DATABASE_URL``, ``DATABASE_SECRET_ARN``
or IAM authentication). Migrations never hold the key collation as text: MariaDB's
``utf8mb4_nopad_bin`` does not exist on MySQL 8 / Aurora MySQL 3 (``utf8mb4_0900_bin``),
so autogenerate writes ``key_collation(op.get_bind())``, asked of the server the migration
runs on.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from alembic import context
from alembic.operations import ops

from ddbproj.adapters.engine import make_engine
from ddbproj.adapters.schema import build_metadata, key_collation
from ddbproj.core.loading import load_registry
from ddbproj.handlers.runtime import build_engine
from ddbproj.handlers.settings import Settings

#: Collation for --sql (offline) scripts, which have no server to ask: MySQL 8 / Aurora 3.
OFFLINE_COLLATION = "utf8mb4_0900_bin"
#: Table options that name the key collation, and the code a migration computes it with.
COLLATION_OPTIONS = ("mysql_collate", "mariadb_collate")
COLLATION_CODE = "key_collation(op.get_bind())"
COLLATION_IMPORT = "from ddbproj.adapters.schema import key_collation"

#: Top-level packages whose column types a migration may name.
_OWN_PACKAGES = frozenset({"adapters", "core", "projections", "ddbproj"})

settings = Settings.from_environ()
registry = load_registry(settings.projections, type_attribute=settings.entity_type_attribute)
configured_url = context.config.get_main_option("sqlalchemy.url")


class _Code:
    """A value Alembic writes into the migration as this Python expression (it renders
    table options with ``repr``)."""

    def __init__(self, code: str) -> None:
        self.code = code

    def __repr__(self) -> str:
        return self.code


def import_own_types(type_: str, obj: Any, autogen_context: Any) -> Any:
    """Alembic's ``render_item`` hook: a column type defined in this project is written
    as ``module.Class()``; the migration then needs that module imported."""
    module = type(obj).__module__
    if type_ == "type" and module.split(".")[0] in _OWN_PACKAGES:
        autogen_context.imports.add(f"import {module}")
    return False  # Alembic renders the item itself


def owned_by_projectors(metadata: sa.MetaData) -> Any:
    """Alembic's ``include_name`` hook: only the projectors' tables are compared."""

    def include_name(name: str | None, type_: str, _parents: Any) -> bool:
        return type_ != "table" or name in metadata.tables

    return include_name


def portable_collation(_context: Any, _revision: Any, directives: list[Any]) -> None:
    """``process_revision_directives``: each created table's collation becomes a call that
    asks the server at upgrade time, instead of the name this server gave."""
    script: ops.MigrationScript = directives[0]
    found = False
    for container in [*script.upgrade_ops_list, *script.downgrade_ops_list]:
        for op in _walk(container.ops):
            if isinstance(op, ops.CreateTableOp):
                for option in COLLATION_OPTIONS:
                    if op.kw.get(option):
                        op.kw[option] = _Code(COLLATION_CODE)
                        found = True
    if found:
        script.imports.add(COLLATION_IMPORT)


def _walk(items: Iterable[ops.MigrateOperation]) -> Iterable[ops.MigrateOperation]:
    for item in items:
        yield item
        if isinstance(item, ops.OpContainer):
            yield from _walk(item.ops)


def open_engine() -> sa.Engine:
    """``sqlalchemy.url``; else the database as the Lambda function resolves it."""
    if configured_url:
        return make_engine(configured_url)
    return build_engine(settings)


def run_offline() -> None:
    metadata = build_metadata(registry, collation=OFFLINE_COLLATION)
    url = configured_url or settings.database_url
    target: dict[str, Any] = {"url": url} if url else {"dialect_name": "mysql"}
    context.configure(**target, target_metadata=metadata, literal_binds=True,
                      include_name=owned_by_projectors(metadata))
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    engine = open_engine()
    try:
        with engine.connect() as probe:  # its own connection: Alembic commits only
            collation = key_collation(probe)  # a transaction it began itself
        with engine.connect() as conn:
            metadata = build_metadata(registry, collation=collation)
            context.configure(connection=conn, target_metadata=metadata, compare_type=True,
                              include_name=owned_by_projectors(metadata),
                              render_item=import_own_types,
                              process_revision_directives=portable_collation)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
