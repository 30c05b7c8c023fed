"""The event source mapping's ``FilterCriteria``, generated from the projector registry.

Records an event filter drops are gone for good (the mapping moves past them), so the
filter admits every record some projector claims and may admit a few more; the registry
still decides, record by record. It follows the registry's routing:

* INSERT and MODIFY carry a ``NewImage``: the entity-type attribute, through DynamoDB's
  type wrapper (``{"entity_type": {"S": ["Order", "User"]}}``), must name a projector.
* REMOVE has no ``NewImage``; it is matched on its ``OldImage``. A DynamoDB mapping only
  filters on the ``dynamodb`` key, so ``eventName`` is not used; a MODIFY whose old image
  is claimed passes too and is skipped by the registry when its new type is not.
* A REMOVE without images (a ``KEYS_ONLY`` or ``NEW_IMAGE`` stream) is routed by key
  prefixes: ``{"Keys": {"PK": {"S": [{"prefix": "ORDER#"}]}}}``.

Lambda takes at most five filters per mapping (a quota) and 4096 characters per pattern.
Numeric operators are never used: ``N`` values are strings in the event.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from ddbproj.core.filters import validate_pattern
from ddbproj.core.registry import ProjectorRegistry

__all__ = [
    "MAX_FILTERS",
    "MAX_PATTERN_LENGTH",
    "FilterCriteriaError",
    "filter_criteria",
    "filter_patterns",
    "pattern_text",
]

MAX_FILTERS = 5
MAX_PATTERN_LENGTH = 4096


class FilterCriteriaError(ValueError):
    """The registry's claims do not fit Lambda's filter limits (or there are none)."""


def filter_patterns(
    registry: ProjectorRegistry, *, max_filters: int = MAX_FILTERS
) -> list[dict[str, Any]]:
    """The patterns, most selective first; any one of them admits a record."""
    types = sorted({compiled.entity_type for compiled in registry})
    if not types:
        raise FilterCriteriaError(
            "no projector is registered: a filter would drop every record; check PROJECTIONS"
        )
    attribute = registry.type_attribute
    patterns: list[dict[str, Any]] = []
    for image in ("NewImage", "OldImage"):
        for chunk in _chunks(types, lambda part, i=image: _type_pattern(i, attribute, part)):
            patterns.append(_type_pattern(image, attribute, chunk))
    patterns.extend(_prefix_patterns(registry))
    if len(patterns) > max_filters:
        raise FilterCriteriaError(
            f"the projectors need {len(patterns)} filters but a mapping takes {max_filters}: "
            "use fewer key-prefix routes, shorter entity types, or deploy without a filter"
        )
    for pattern in patterns:
        validate_pattern(pattern)
    return patterns


def filter_criteria(
    registry: ProjectorRegistry, *, max_filters: int = MAX_FILTERS
) -> dict[str, list[dict[str, str]]]:
    """Lambda's shape: ``{"Filters": [{"Pattern": "<JSON text>"}, ...]}``."""
    return {
        "Filters": [
            {"Pattern": pattern_text(p)}
            for p in filter_patterns(registry, max_filters=max_filters)
        ]
    }


def pattern_text(pattern: Mapping[str, Any]) -> str:
    """Compact, key-sorted JSON: the same registry always gives the same text."""
    return json.dumps(pattern, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def _type_pattern(image: str, attribute: str, types: Iterable[str]) -> dict[str, Any]:
    return {"dynamodb": {image: {attribute: {"S": list(types)}}}}


def _chunks(types: list[str], build: Any) -> list[list[str]]:
    """Entity types split so that each pattern stays within Lambda's length limit."""
    chunks: list[list[str]] = []
    current: list[str] = []
    for value in types:
        candidate = [*current, value]
        if len(pattern_text(build(candidate))) <= MAX_PATTERN_LENGTH:
            current = candidate
            continue
        if not current:
            raise FilterCriteriaError(f"entity type {value[:40]!r}... is too long for a filter")
        chunks.append(current)
        current = [value]
    chunks.append(current)
    return chunks


def _prefix_patterns(registry: ProjectorRegistry) -> list[dict[str, Any]]:
    """One pattern per set of key names: prefixes of the same keys share a pattern (a
    superset of the routes, never fewer records)."""
    groups: dict[tuple[str, ...], dict[str, set[str]]] = {}
    for compiled in registry:
        prefixes = compiled.projector.key_prefixes
        if not prefixes:
            continue
        group = groups.setdefault(tuple(sorted(prefixes)), {})
        for name, prefix in prefixes.items():
            group.setdefault(name, set()).add(prefix)
    patterns = []
    for names, by_name in sorted(groups.items()):
        keys = {
            name: {"S": [{"prefix": p} for p in _shortest_prefixes(by_name[name])]}
            for name in names
        }
        patterns.append({"dynamodb": {"Keys": keys}})
    return patterns


def _shortest_prefixes(prefixes: set[str]) -> list[str]:
    """Drop a prefix another one already covers (``ORDER#`` covers ``ORDER#LINE#``)."""
    return sorted(p for p in prefixes if not any(p != q and p.startswith(q) for q in prefixes))
