"""Lambda event filtering, evaluated locally: what AWS drops, ``replay`` drops too.

An event source mapping's ``FilterCriteria`` holds up to five JSON patterns. A record is
delivered when any pattern matches (OR across filters). Within a pattern every named field
must match (AND across fields) and a field matches when any entry of its value list does
(OR within a list). A record must contain every field the pattern names, except for
``{"exists": false}``. Strings match exactly; ``numeric`` only matches JSON numbers, so it
never matches DynamoDB ``N`` values (they are strings). Operators: ``prefix``, ``suffix``,
``equals-ignore-case``, ``anything-but``, ``numeric``, ``exists``, plus ``null``, the empty
string and ``$or``. Standard library only: ``core`` runs anywhere.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

__all__ = ["EventFilter", "FilterPatternError", "matches", "validate_pattern"]


class FilterPatternError(ValueError):
    """A pattern Lambda would reject; the message names the field path."""


class _Missing:
    """The value of a field the record does not have (distinct from JSON null)."""

    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()

_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_OPERATORS = frozenset(
    {"prefix", "suffix", "equals-ignore-case", "anything-but", "numeric", "exists"}
)


def matches(pattern: Mapping[str, Any], record: Any) -> bool:
    """True when ``record`` (a parsed JSON object) matches one filter ``pattern``."""
    return _match_object(pattern, record)


def validate_pattern(pattern: Any, path: str = "$") -> None:
    """Raise ``FilterPatternError`` for a pattern Lambda would not accept."""
    if not isinstance(pattern, Mapping) or not pattern:
        raise FilterPatternError(f"{path}: a pattern is a non-empty JSON object")
    for name, value in pattern.items():
        where = f"{path}.{name}"
        if name == "$or":
            if not isinstance(value, list) or len(value) < 2:
                raise FilterPatternError(f"{where}: $or takes a list of at least two patterns")
            for index, branch in enumerate(value):
                validate_pattern(branch, f"{where}[{index}]")
        elif isinstance(value, Mapping):
            validate_pattern(value, where)
        elif isinstance(value, list):
            if not value:
                raise FilterPatternError(f"{where}: an empty list matches nothing")
            for entry in value:
                _validate_entry(entry, where)
        else:
            raise FilterPatternError(
                f"{where}: expected an object or a list of values, got {type(value).__name__}"
            )


def _validate_entry(entry: Any, where: str) -> None:
    if entry is None or isinstance(entry, str | int | float | bool):
        return
    if not isinstance(entry, Mapping) or len(entry) != 1:
        raise FilterPatternError(f"{where}: expected a value or a one-key operator object")
    (name, argument), = entry.items()
    if name not in _OPERATORS:
        raise FilterPatternError(f"{where}: unknown operator {name!r}")
    if name in ("prefix", "suffix", "equals-ignore-case") and not isinstance(argument, str):
        raise FilterPatternError(f"{where}: {name} takes a string")
    if name == "exists" and not isinstance(argument, bool):
        raise FilterPatternError(f"{where}: exists takes true or false")
    if name == "numeric":
        _numeric_terms(argument, where)
    if name == "anything-but" and not (
        isinstance(argument, str | int | float | list)
        or (isinstance(argument, Mapping) and set(argument) <= {"prefix", "suffix"})
    ):
        raise FilterPatternError(f"{where}: anything-but takes a value, a list or a prefix")


def _numeric_terms(argument: Any, where: str) -> list[tuple[str, float]]:
    if not isinstance(argument, list) or not argument or len(argument) % 2:
        raise FilterPatternError(f"{where}: numeric takes [op, number, ...]")
    terms = []
    for op, bound in zip(argument[::2], argument[1::2], strict=True):
        if op not in _COMPARISONS or not _is_number(bound):
            raise FilterPatternError(f"{where}: numeric term {op!r} {bound!r} is not valid")
        terms.append((op, bound))
    return terms


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _match_object(pattern: Mapping[str, Any], value: Any) -> bool:
    for name, expected in pattern.items():
        if name == "$or":
            if not any(_match_object(branch, value) for branch in expected):
                return False
            continue
        field = value.get(name, MISSING) if isinstance(value, Mapping) else MISSING
        if not _match_field(expected, field):
            return False
    return True


def _match_field(expected: Any, field: Any) -> bool:
    if isinstance(expected, Mapping):
        if isinstance(field, list):
            return any(_match_object(expected, element) for element in field)
        return _match_object(expected, field if isinstance(field, Mapping) else MISSING)
    return any(_match_leaf(entry, field) for entry in expected)


def _match_leaf(entry: Any, field: Any) -> bool:
    if isinstance(entry, Mapping):
        (name, argument), = entry.items()
        if name == "exists":
            present = field is not MISSING and not isinstance(field, Mapping)
            return present if argument else field is MISSING
        if field is MISSING or isinstance(field, Mapping):
            return False
        values: Sequence[Any] = field if isinstance(field, list) else [field]
        return any(_OPERATOR_MATCHERS[name](argument, value) for value in values)
    if field is MISSING or isinstance(field, Mapping):
        return False
    if isinstance(field, list):
        return any(_equals(entry, value) for value in field)
    return _equals(entry, field)


def _equals(expected: Any, value: Any) -> bool:
    if expected is None or value is None:
        return expected is None and value is None
    if isinstance(expected, bool) or isinstance(value, bool):
        return isinstance(expected, bool) and isinstance(value, bool) and expected is value
    if _is_number(expected):
        return _is_number(value) and bool(expected == value)
    return isinstance(value, str) and expected == value


def _prefix(argument: Any, value: Any) -> bool:
    return isinstance(value, str) and value.startswith(argument)


def _suffix(argument: Any, value: Any) -> bool:
    return isinstance(value, str) and value.endswith(argument)


def _equals_ignore_case(argument: Any, value: Any) -> bool:
    return isinstance(value, str) and value.casefold() == str(argument).casefold()


def _anything_but(argument: Any, value: Any) -> bool:
    if isinstance(argument, Mapping):
        if "prefix" in argument:
            return isinstance(value, str) and not value.startswith(argument["prefix"])
        return isinstance(value, str) and not value.endswith(argument["suffix"])
    excluded = argument if isinstance(argument, list) else [argument]
    return not any(_equals(item, value) for item in excluded)


def _numeric(argument: Any, value: Any) -> bool:
    if not _is_number(value):
        return False
    return all(_COMPARISONS[op](value, bound) for op, bound in _numeric_terms(argument, "$"))


_OPERATOR_MATCHERS: dict[str, Callable[[Any, Any], bool]] = {
    "prefix": _prefix,
    "suffix": _suffix,
    "equals-ignore-case": _equals_ignore_case,
    "anything-but": _anything_but,
    "numeric": _numeric,
}


class EventFilter:
    """The patterns of one ``FilterCriteria``; a record passes when any pattern matches.

    An empty filter admits everything, as a mapping without ``FilterCriteria`` does.
    """

    def __init__(self, patterns: Iterable[Mapping[str, Any]] = ()) -> None:
        self.patterns = tuple(patterns)
        for index, pattern in enumerate(self.patterns):
            validate_pattern(pattern, f"Filters[{index}]")

    @classmethod
    def from_criteria(cls, criteria: Mapping[str, Any]) -> EventFilter:
        """From Lambda's shape: ``{"Filters": [{"Pattern": "<JSON text>"}, ...]}``."""
        filters = criteria.get("Filters")
        if not isinstance(filters, list):
            raise FilterPatternError("FilterCriteria has no 'Filters' list")
        patterns = []
        for index, entry in enumerate(filters):
            text = entry.get("Pattern") if isinstance(entry, Mapping) else None
            if not isinstance(text, str):
                raise FilterPatternError(f"Filters[{index}] has no 'Pattern' string")
            try:
                patterns.append(json.loads(text))
            except json.JSONDecodeError as error:
                raise FilterPatternError(f"Filters[{index}].Pattern is not JSON: {error}") from None
        return cls(patterns)

    def admits(self, record: Any) -> bool:
        return not self.patterns or any(matches(p, record) for p in self.patterns)

    def split(self, records: Iterable[Any]) -> tuple[list[Any], list[Any]]:
        """(admitted, dropped), each in the original order."""
        admitted: list[Any] = []
        dropped: list[Any] = []
        for record in records:
            (admitted if self.admits(record) else dropped).append(record)
        return admitted, dropped
