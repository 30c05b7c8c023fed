"""Alembic environment whose target is the projectors' tables (``build_metadata``).

Autogenerate compares the database with the tables the registered projectors need and
writes the migration; ``ddbproj schema --check`` then confirms nothing is left. Tables
that no projector owns are never touched.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import context

from adapters.engine import make_engine
from adapters.schema import build_metadata, key_collation
from core.loading import load_registry
from handlers.settings import Settings

#: Collation for --sql (offline) scripts, which have no server to ask: MySQL 8 / Aurora 3.
OFFLINE_COLLATION = "utf8mb4_0900_bin"

settings = Settings.from_environ()
registry = load_registry(settings.projections, type_attribute=settings.entity_type_attribute)
url = context.config.get_main_option("sqlalchemy.url") or settings.resolved_database_url()


def owned_by_projectors(metadata: sa.MetaData) -> Any:
    """Alembic's ``include_name`` hook: only the projectors' tables are compared."""

    def include_name(name: str | None, type_: str, _parents: Any) -> bool:
        return type_ != "table" or name in metadata.tables

    return include_name


def run_offline() -> None:
    metadata = build_metadata(registry, collation=OFFLINE_COLLATION)
    context.configure(url=url, target_metadata=metadata, literal_binds=True,
                      include_name=owned_by_projectors(metadata))
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    engine = make_engine(url)
    try:
        with engine.connect() as probe:  # its own connection: Alembic commits only
            collation = key_collation(probe)  # a transaction it began itself
        with engine.connect() as conn:
            metadata = build_metadata(registry, collation=collation)
            context.configure(connection=conn, target_metadata=metadata, compare_type=True,
                              include_name=owned_by_projectors(metadata))
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
