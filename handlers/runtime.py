"""Building the processor from settings: registry, engine, sink — once per process."""

from __future__ import annotations

from adapters.engine import make_engine
from adapters.sink import SqlSink
from core.loading import load_registry
from handlers.processor import BatchProcessor
from handlers.settings import Settings

__all__ = ["build_processor"]


def build_processor(settings: Settings, *, database_url: str | None = None) -> BatchProcessor:
    """A processor for ``settings``; ``database_url`` overrides the configured database."""
    registry = load_registry(settings.projections, type_attribute=settings.entity_type_attribute)
    url = database_url or settings.resolved_database_url()
    return BatchProcessor(registry, SqlSink(make_engine(url), registry))
