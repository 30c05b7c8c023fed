"""The projector registry: entity-type value -> compiled projector, and routing.

Routing mirrors cattrs' tagged unions: the entity-type attribute of an item is the tag
that selects the structuring function. Records no projector claims are skipped, with a
reason, never failed.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from typing import Any, TypeVar

import cattrs

from ddbproj.core.converter import make_converter
from ddbproj.core.errors import ProjectorError
from ddbproj.core.projector import (
    CompiledProjector,
    Projector,
    check_options,
    compile_projector,
)
from ddbproj.core.records import ChangeRecord

__all__ = ["DEFAULT_TYPE_ATTRIBUTE", "ProjectorRegistry", "RegistryError", "SkipReason",
           "entity_type_of"]

DEFAULT_TYPE_ATTRIBUTE = "entity_type"

#: MySQL names end at 64 characters, and each table has a tombstone table named
#: ``ddbproj_tomb_<table>``: the table name must leave room for that prefix.
MAX_TABLE_NAME = 64 - len("ddbproj_tomb_")

P = TypeVar("P", bound=type[Projector[Any]])


class RegistryError(ProjectorError):
    """Two projectors that cannot live together; raised when the second is registered."""


class SkipReason(enum.Enum):
    NO_ENTITY_TYPE = "no_entity_type"
    UNCLAIMED_TYPE = "unclaimed_type"
    UNROUTABLE_REMOVE = "unroutable_remove"
    EXPIRED_KEPT = "expired_kept"


class ProjectorRegistry:
    """Projectors keyed by the value of ``type_attribute`` in each item."""

    def __init__(
        self,
        *,
        type_attribute: str = DEFAULT_TYPE_ATTRIBUTE,
        converter: cattrs.Converter | None = None,
    ) -> None:
        self.type_attribute = type_attribute
        # a converter of the caller's own (make_converter plus hooks) structures every image:
        # its copy without detailed validation on the hot path, itself for error messages
        self._own_converter = converter is not None
        self._fast = (converter.copy(detailed_validation=False) if converter is not None
                      else make_converter(detailed_validation=False))
        self._detailed = converter or make_converter(detailed_validation=True)
        self._by_type: dict[str, CompiledProjector] = {}
        self._by_table: dict[str, CompiledProjector] = {}
        self._prefix_routes: list[CompiledProjector] = []

    def register(self, projector: P) -> P:
        """Add ``projector``; returns it unchanged, so it works as a class decorator.

        Everything that would otherwise fail later — in DDL, on the first record, or by
        silently mixing two entities — fails here, with the fix in the message. A misspelt
        option is looked for first: it explains a required attribute said to be missing."""
        check_options(projector)
        _check_names(projector)
        compiled = compile_projector(projector, fast=self._fast, detailed=self._detailed,
                                     read_in_place=not self._own_converter)
        existing = self._by_type.get(compiled.entity_type)
        if existing is not None:
            if existing.projector is projector:
                return projector
            raise RegistryError(
                f"entity type {compiled.entity_type!r} is claimed by both {existing.name} and "
                f"{compiled.name}; give one of them another entity_type, or register only "
                "one (check PROJECTIONS and the installed 'ddbproj.projections' entry points)"
            )
        same_table = self._by_table.get(compiled.table)
        if same_table is not None and same_table.columns != compiled.columns:
            raise RegistryError(
                f"table {compiled.table!r} is written by {same_table.name} and {compiled.name} "
                f"with different columns ({_column_differences(same_table, compiled)}); give "
                f"{compiled.projector.__qualname__} its own table (table = "
                f"{compiled.table + '_' + compiled.entity_type.lower()!r}) or the same model"
            )
        self._by_type[compiled.entity_type] = compiled
        self._by_table.setdefault(compiled.table, compiled)
        if projector.key_prefixes:
            self._prefix_routes.append(compiled)
        return projector

    def __iter__(self) -> Iterator[CompiledProjector]:
        return iter(self._by_type.values())

    def __len__(self) -> int:
        return len(self._by_type)

    def get(self, entity_type: str) -> CompiledProjector | None:
        return self._by_type.get(entity_type)

    def tables(self) -> dict[str, CompiledProjector]:
        """Table name -> the projector that defines its columns."""
        return dict(self._by_table)

    def route(self, record: ChangeRecord) -> CompiledProjector | SkipReason:
        """The projector that claims ``record``, or why none does."""
        image = record.routing_image
        if image is None:
            return self._route_by_keys(record)
        value = entity_type_of(image.get(self.type_attribute))
        if value is None:
            return SkipReason.NO_ENTITY_TYPE
        compiled = self._by_type.get(value)
        return compiled if compiled is not None else SkipReason.UNCLAIMED_TYPE

    def _route_by_keys(self, record: ChangeRecord) -> CompiledProjector | SkipReason:
        for compiled in self._prefix_routes:
            prefixes = compiled.projector.key_prefixes
            if all(
                isinstance(record.keys.get(name), str) and record.keys[name].startswith(prefix)
                for name, prefix in prefixes.items()
            ):
                return compiled
        return SkipReason.UNROUTABLE_REMOVE


def entity_type_of(tagged: Any) -> str | None:
    """The entity type an attribute value names: the text of an ``S`` value (alone, or with
    the other tags null, as some SDKs write it); None for any other shape (``{"N": "1"}``,
    ``{"S": 5}``, a list, not a map), which no projector claims."""
    if tagged.__class__ is dict and len(tagged) == 1:
        value = tagged.get("S")
        return value if value.__class__ is str else None
    if not isinstance(tagged, Mapping):
        return None
    try:
        present = [(tag, val) for tag, val in tagged.items() if val is not None]
    except Exception:
        return None
    if len(present) == 1 and present[0][0] == "S" and present[0][1].__class__ is str:
        text: str = present[0][1]
        return text
    return None


def _check_names(projector: type[Projector[Any]]) -> None:
    name = projector.__qualname__
    entity_type = getattr(projector, "entity_type", None)
    if entity_type is not None and (not isinstance(entity_type, str) or not entity_type):
        raise RegistryError(
            f"{name}.entity_type must be the non-empty string the items carry in their "
            f"entity-type attribute, e.g. entity_type = \"User\"; got {entity_type!r}"
        )
    table = getattr(projector, "table", None)
    if table is not None and (not isinstance(table, str) or not table):
        raise RegistryError(f"{name}.table must be a table name, e.g. table = \"users\"; "
                            f"got {table!r}")
    if isinstance(table, str) and len(table) > MAX_TABLE_NAME:
        raise RegistryError(
            f"{name}.table {table!r} has {len(table)} characters; use at most "
            f"{MAX_TABLE_NAME}, so that its tombstone table 'ddbproj_tomb_{table[:8]}...' "
            "fits MySQL's 64"
        )
    if isinstance(table, str) and table.lower().startswith("ddbproj_"):
        raise RegistryError(f"{name}.table {table!r}: names starting with 'ddbproj_' are "
                            "ddbproj's own tables; choose another name")
    key = getattr(projector, "key", None)
    if key is not None and not isinstance(key, str) and len(tuple(key)) == 0:
        raise RegistryError(f"{name}.key is empty; name the fields of the row key, "
                            "e.g. key = (\"id\",)")


def _column_differences(first: CompiledProjector, second: CompiledProjector) -> str:
    """``age: BIGINT in UserProjector, missing in Other`` for each differing column."""
    a = {c.name: c for c in first.columns}
    b = {c.name: c for c in second.columns}
    one, two = first.projector.__qualname__, second.projector.__qualname__
    notes = []
    for column in [*a, *(n for n in b if n not in a)]:
        left, right = a.get(column), b.get(column)
        if left == right:
            continue
        notes.append(f"{column}: {_spec(left)} in {one}, {_spec(right)} in {two}")
    return "; ".join(notes)


def _spec(column: Any) -> str:
    if column is None:
        return "missing"
    text: str = column.describe()
    if column.primary_key:
        text += " key"
    if column.nullable:
        text += " nullable"
    return text
