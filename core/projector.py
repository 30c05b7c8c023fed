"""The projector base class: what a user writes, one small class per entity.

A projector names the entity-type value it claims, its attrs model, its table and key,
and the DynamoDB attribute names where they differ from the field names. It never opens
a connection; ``compile_projector`` turns it once into the fast functions a batch uses.
"""

from __future__ import annotations

import datetime
import functools
import inspect
import operator
import types
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, ClassVar, Generic, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, override

from ddbproj.core.codegen import compile_function
from ddbproj.core.columns import Column, columns_of, fit_checker
from ddbproj.core.converter import (
    describe_error,
    find_unstructurable,
    make_converter,
    make_typed_converter,
)
from ddbproj.core.dynamodb_json import decode_attributes
from ddbproj.core.errors import ProjectorError, closest

__all__ = [
    "PROJECTOR_OPTIONS",
    "SOFT_DELETE_COLUMN",
    "CompiledProjector",
    "Projector",
    "check_options",
    "compile_projector",
    "pascal_case",
    "version_number",
]

#: The column a ``soft_delete`` projector's table gets: when the item was removed, or NULL.
SOFT_DELETE_COLUMN = "deleted_at"

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)

M = TypeVar("M")


class Projector(Generic[M]):
    """Base class of every projector. Subclasses set the class attributes below.

    ``renames`` maps field names to DynamoDB attribute names (``{"id": "Id"}``);
    ``attribute_names`` is a shortcut that derives every name (``pascal_case``).
    ``key_prefixes`` routes REMOVE records that carry only ``Keys`` (no ``OldImage``):
    ``{"SK": "USER#"}`` claims keys whose SK starts with ``USER#``.
    ``keep_expired`` keeps rows whose items DynamoDB's TTL deleted (archive tables).
    ``soft_delete`` marks removed rows (a ``deleted_at`` column) instead of deleting them.
    ``version`` names a field (an integer the writers increment, or a timestamp) that
    orders an item's changes instead of the stream sequence number: use it when changes of
    one item can arrive from different shards (README, "Delivery guarantees").
    """

    entity_type: ClassVar[str]
    model: ClassVar[type[Any]]
    table: ClassVar[str]
    key: ClassVar[tuple[str, ...]]
    renames: ClassVar[Mapping[str, str]] = {}
    attribute_names: ClassVar[Callable[[str], str] | None] = None
    key_prefixes: ClassVar[Mapping[str, str]] = {}
    keep_expired: ClassVar[bool] = False
    soft_delete: ClassVar[bool] = False
    version: ClassVar[str | None] = None

    @classmethod
    def key_from_item_keys(cls, keys: Mapping[str, Any]) -> dict[str, Any] | None:
        """Field values of the row key, from the item's DynamoDB key (for bare REMOVEs).

        The default takes key fields that are themselves DynamoDB key attributes;
        override it to parse composite keys (``PK = "USER#42"`` -> ``{"id": 42}``).
        """
        names = dynamodb_names(cls)
        if all(names[field] in keys for field in cls.key):
            return {field: keys[names[field]] for field in cls.key}
        return None


#: The methods a subclass may override.
PROJECTOR_METHODS: tuple[str, ...] = tuple(
    name for name, value in vars(Projector).items()
    if not name.startswith("_")
    and isinstance(value, classmethod | staticmethod | types.FunctionType)
)
#: Everything a subclass may set: the class attributes ``Projector`` declares, and its methods.
PROJECTOR_OPTIONS: tuple[str, ...] = (*Projector.__annotations__, *PROJECTOR_METHODS)


def check_options(projector: type[Projector[Any]]) -> None:
    """Refuse a class attribute one slip of the keyboard from a projector option.

    A misspelt option (``soft_deletes = True``) is otherwise an attribute nobody reads: the
    projector registers and silently does the default. The rule, for the attributes of the
    class and of its bases that are projectors (not of mixins): a name starting with ``_``
    is the author's own; a method, property or class defined in the class body is compared
    with the methods only (``key_from_item_key``); any other value (a lambda and a function
    defined elsewhere too) with every option. Names are compared in lower case without
    underscores (``entityType`` is ``entity_type``), and are a slip when at most one edit
    (a letter dropped, added, changed, or two neighbours swapped) from an option, two for
    options of 8 letters or more (``key_prefix`` for ``key_prefixes``)."""
    for klass in projector.__mro__:
        if klass is Projector or not issubclass(klass, Projector):
            continue
        for name, value in vars(klass).items():
            if name.startswith("_") or name in PROJECTOR_OPTIONS:
                continue
            method = _defined_in_body(klass, value)
            meant = _slip_of(name, PROJECTOR_METHODS if method else PROJECTOR_OPTIONS)
            if meant is None:
                continue
            what = (f"method {name!r} overrides no Projector method" if method
                    else f"class attribute {name!r} is not a Projector option")
            raise ProjectorError(
                f"{projector.__qualname__}: {what}; did you mean {meant!r}? Projector options "
                f"are {sorted(PROJECTOR_OPTIONS)} (a helper of your own needs a name further "
                "from them, or a leading underscore)"
            )


def _defined_in_body(klass: type, value: Any) -> bool:
    """Whether ``value`` is a method, property or class written in ``klass``'s body."""
    if isinstance(value, property | functools.cached_property):
        return True
    if isinstance(value, classmethod | staticmethod):
        value = value.__func__
    if isinstance(value, types.FunctionType) and value.__name__ == "<lambda>":
        return False
    if isinstance(value, types.FunctionType) or inspect.isclass(value):
        return str(value.__qualname__).startswith(klass.__qualname__ + ".")
    return False


def _slip_of(name: str, options: tuple[str, ...]) -> str | None:
    """The option ``name`` is a slip of (see ``check_options``), the nearest; or None."""
    written = name.lower().replace("_", "")
    best: tuple[int, str] | None = None
    for option in options:
        target = option.replace("_", "")
        distance = _edit_distance(written, target)
        if distance <= (1 if len(target) < 8 else 2) and (best is None or distance < best[0]):
            best = (distance, option)
    return best[1] if best else None


def _edit_distance(a: str, b: str) -> int:
    """Letters dropped, added or changed, and neighbours swapped, turning ``a`` into ``b``
    (optimal string alignment distance)."""
    previous: list[int] = []
    row = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        before, previous, row = previous, row, [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], before[j - 2] + 1)
    return row[len(b)]


def pascal_case(name: str) -> str:
    """``unit_price`` -> ``UnitPrice``; ``id`` -> ``Id``."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def dynamodb_names(projector: type[Projector[Any]]) -> dict[str, str]:
    """Field name -> DynamoDB attribute name for every field of the model."""
    derive = projector.attribute_names
    names = {}
    for field in attrs.fields(projector.model):
        default = derive(field.name) if derive else field.name
        names[field.name] = projector.renames.get(field.name, default)
    return names


@attrs.frozen
class CompiledProjector:
    """A projector turned into the functions a batch calls for every record."""

    projector: type[Projector[Any]]
    columns: tuple[Column, ...]
    key_indexes: tuple[int, ...]
    attribute_names: dict[str, str]
    _fast: Callable[[Mapping[str, Any], Any], Any] = attrs.field(repr=False)
    _detailed: Callable[[Mapping[str, Any], Any], Any] = attrs.field(repr=False)
    _typed: Callable[[Mapping[str, Any], Any], Any] = attrs.field(repr=False)
    _converter: cattrs.Converter = attrs.field(repr=False)
    row_of: Callable[[Any], tuple[Any, ...]] = attrs.field(repr=False)
    check_row: Callable[[tuple[Any, ...]], str | None] = attrs.field(repr=False)
    #: DynamoDB attributes that say which row an image is and how it ranks (key, version):
    #: all of an old image a MODIFY or REMOVE needs to decode.
    identity_attributes: tuple[str, ...] = ()
    #: Every DynamoDB attribute the model reads: all of a new image worth decoding.
    image_attributes: tuple[str, ...] = ()
    #: The DynamoDB attributes of the row key.
    key_attributes: tuple[str, ...] = ()
    #: The projector's SQL table.
    table: str = ""
    #: The projector's ``version`` field, if any.
    version: str | None = None
    #: Row -> its key tuple (the key columns' values).
    key_of_row: Callable[[tuple[Any, ...]], tuple[Any, ...]] = attrs.field(
        default=tuple, repr=False)
    _check_key: Callable[[tuple[Any, ...]], str | None] | None = attrs.field(
        default=None, repr=False)

    def check_key(self, key: tuple[Any, ...]) -> str | None:
        """Why the key columns cannot store ``key`` exactly (a string longer than the
        column, an int beyond 64 bits, a decimal that would round, a wrong type), naming
        the column; None when they can. For keys that did not come from a checked row: a
        key the database would round or cut could delete another item's row."""
        check = self._check_key or fit_checker(
            tuple(self.columns[i] for i in self.key_indexes), about=f"{self.name} key")
        return check(key)

    @property
    def name(self) -> str:
        return f"{self.projector.__module__}.{self.projector.__qualname__}"

    @property
    def entity_type(self) -> str:
        return self.projector.entity_type

    @property
    def model(self) -> type[Any]:
        return self.projector.model

    def structure_image(self, raw_image: Mapping[str, Any], path: str = "NewImage") -> Any:
        """A raw image (DynamoDB JSON) -> model, read in place when it is well formed;
        otherwise decoded and structured again, for the error naming the attribute path."""
        try:
            return self._typed(raw_image, self.model)
        except Exception:
            pass
        return self.structure(decode_attributes(raw_image, self.image_attributes, path))

    def structure(self, image: Mapping[str, Any]) -> Any:
        """Image -> model; raises ``ValueError`` naming every bad attribute path."""
        try:
            return self._fast(image, self.model)
        except Exception:
            pass
        try:
            return self._detailed(image, self.model)
        except Exception as error:
            raise ValueError(describe_error(error, self.attribute_names)) from None

    @property
    def soft_delete(self) -> bool:
        return bool(self.projector.soft_delete)

    def upsert_rank(self, sequence_number: int, model: Any) -> int:
        """Where an image ranks among its item's changes: its sequence number, or, with a
        version field, twice the version (a delete of that version ranks one above)."""
        field = self.version
        if field is None:
            return _rank(sequence_number, "the sequence number")
        return _rank(2 * version_number(getattr(model, field), self.attribute_names[field]),
                     f"version attribute {self.attribute_names[field]!r}")

    def delete_rank(self, sequence_number: int, old_image: Mapping[str, Any] | None) -> int:
        """Where a delete ranks: its sequence number, or just above the version it removed,
        read from the old image (so the item re-created with a higher version wins)."""
        field = self.version
        if field is None:
            return _rank(sequence_number, "the sequence number")
        name = self.attribute_names[field]
        if old_image is None or old_image.get(name) is None:
            raise ValueError(
                f"the REMOVE has no OldImage with the version attribute {name!r}: a projector "
                "with a version needs the NEW_AND_OLD_IMAGES stream view"
            )
        annotation: Any = attrs.fields_dict(self.model)[field].type
        try:
            value = self._converter.structure(old_image[name], annotation)
        except Exception as error:
            raise ValueError(describe_error(error, self.attribute_names)) from None
        return _rank(2 * version_number(value, name) + 1, f"version attribute {name!r}")

    def key_of(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        """Row key (SQL-ready) from field values given by field name."""
        fields = attrs.fields_dict(self.model)
        key = []
        for index in self.key_indexes:
            column = self.columns[index]
            annotation: Any = fields[column.field].type
            value = self._converter.structure(values[column.field], annotation)
            key.append(column.to_sql(value) if column.to_sql else value)
        return tuple(key)

    def key_of_image(self, image: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """Row key read from a decoded image, or None when it lacks a key attribute."""
        names = self.attribute_names
        try:
            return self.key_of({self.columns[i].field: image[names[self.columns[i].field]]
                                for i in self.key_indexes})
        except Exception:
            return None

    def key_of_item_keys(self, keys: Mapping[str, Any]) -> tuple[Any, ...] | None:
        values = self.projector.key_from_item_keys(keys)
        if values is None:
            return None
        try:
            return self.key_of(values)
        except Exception:
            return None


def compile_projector(
    projector: type[Projector[Any]],
    *,
    fast: cattrs.Converter | None = None,
    detailed: cattrs.Converter | None = None,
    read_in_place: bool = True,
) -> CompiledProjector:
    """Check a projector class and build its structuring and row functions once.

    ``read_in_place`` structures well-formed images straight from DynamoDB JSON with the
    hooks of ``make_converter``; turn it off when ``fast`` has hooks of its own, so that
    every image is decoded and structured by ``fast``.
    """
    check_options(projector)
    name = projector.__qualname__
    for attribute in ("entity_type", "model", "table", "key"):
        if not hasattr(projector, attribute):
            raise ProjectorError(f"{name} must set the class attribute {attribute!r}")
    if isinstance(projector.key, str):
        raise ProjectorError(f"{name}.key must be a tuple of field names, "
                             f"e.g. key = ({projector.key!r},)")
    _check_option_values(projector)
    if attrs.has(projector.model):
        _check_field_names(projector)
    columns = columns_of(projector.model, tuple(projector.key))
    if projector.soft_delete and SOFT_DELETE_COLUMN in [c.name for c in columns]:
        raise ProjectorError(f"{name}: soft_delete adds the column {SOFT_DELETE_COLUMN!r}, "
                             "which the model already has; rename the field")
    field_names = [c.field for c in columns]
    names = _attribute_names(projector)
    fast = fast or make_converter(detailed_validation=False)
    detailed = detailed or make_converter(detailed_validation=True)
    unstructurable = find_unstructurable(projector.model, fast)
    if unstructurable is not None:
        raise ProjectorError(f"{name}: {unstructurable.describe()}")
    overrides = {field: override(rename=attribute)
                 for field, attribute in names.items() if attribute != field}
    try:
        structure_fast = make_dict_structure_fn(
            projector.model, fast, **overrides)  # type: ignore[arg-type]
        structure_detailed = make_dict_structure_fn(
            projector.model, detailed, _cattrs_detailed_validation=True,
            **overrides,  # type: ignore[arg-type]
        )
        structure_typed = make_dict_structure_fn(
            projector.model, make_typed_converter(fast), **overrides,  # type: ignore[arg-type]
        ) if read_in_place else _decode_first
    except Exception as error:  # what find_unstructurable does not foresee, still named
        raise ProjectorError(
            f"{name}: cattrs cannot build the structuring function of "
            f"{projector.model.__qualname__} ({type(error).__name__}: {error}); register a "
            "structure hook for the type it names, on a converter from "
            "ddbproj.core.make_converter(), given as ProjectorRegistry(converter=...)"
        ) from error
    return CompiledProjector(
        projector=projector,
        columns=columns,
        key_indexes=tuple(field_names.index(name) for name in projector.key),
        attribute_names=names,
        fast=structure_fast,
        detailed=structure_detailed,
        typed=structure_typed,
        converter=fast,
        row_of=_row_builder(columns, projector.__qualname__),
        check_row=fit_checker(columns, about=projector.__qualname__),
        check_key=fit_checker(tuple(columns[field_names.index(name)] for name in projector.key),
                              about=f"{projector.__qualname__} key"),
        image_attributes=tuple(names.values()),
        key_attributes=tuple(names[field] for field in projector.key),
        table=projector.table,
        version=projector.version,
        key_of_row=_key_getter(tuple(field_names.index(name) for name in projector.key)),
        identity_attributes=tuple(
            names[field] for field in (*projector.key, *filter(None, [projector.version]))),
    )


def _check_option_values(projector: type[Projector[Any]]) -> None:
    """The optional attributes hold what they must: a mapping of names, a function, a flag."""
    name = projector.__qualname__
    renames = projector.renames
    if not isinstance(renames, Mapping):
        raise ProjectorError(f"{name}.renames must map field names to DynamoDB attribute "
                             f"names, e.g. renames = {{'id': 'Id'}}; got {renames!r}")
    for field, attribute in renames.items():
        if not isinstance(attribute, str) or not attribute:
            raise ProjectorError(f"{name}.renames[{field!r}] must be a non-empty DynamoDB "
                                 f"attribute name; got {attribute!r}")
    derive = projector.attribute_names
    if derive is not None and not callable(derive):
        raise ProjectorError(
            f"{name}.attribute_names must be a function from a field name to a DynamoDB "
            f"attribute name, e.g. attribute_names = pascal_case; got {derive!r}")
    prefixes = projector.key_prefixes
    if not isinstance(prefixes, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in prefixes.items()):
        raise ProjectorError(
            f"{name}.key_prefixes must map DynamoDB key attributes to the prefix of their "
            f"value, e.g. key_prefixes = {{'PK': 'MEMBER#'}}; got {prefixes!r}")
    for flag in ("soft_delete", "keep_expired"):
        value = getattr(projector, flag)
        if not isinstance(value, bool):
            raise ProjectorError(f"{name}.{flag} must be True or False; got {value!r}")


def _check_field_names(projector: type[Projector[Any]]) -> None:
    """``key``, ``renames`` and ``version`` name fields of the model; a name that is none
    gets the nearest field suggested, else the fields listed."""
    name, model = projector.__qualname__, projector.model
    fields = sorted(f.name for f in attrs.fields(model))
    key = tuple(projector.key)
    for field in key:
        if field not in fields:
            near = closest(field, fields)
            hint = (f"did you mean key = {tuple(near if f == field else f for f in key)!r}? "
                    if near else "")
            raise ProjectorError(f"{name}.key: {field!r} is not a field of {model.__qualname__}; "
                                 f"{hint}key must name fields among {fields}")
    for field in sorted(projector.renames, key=str):
        if field in fields:
            continue
        attribute = projector.renames[field]
        if attribute in fields:
            raise ProjectorError(
                f"{name}.renames: {field!r} is not a field of {model.__qualname__}, but "
                f"{attribute!r} is: renames maps field names to DynamoDB attribute names; "
                f"write renames = {{{attribute!r}: {field!r}}}")
        near = closest(str(field), fields)
        hint = f"did you mean {near!r}? " if near else ""
        raise ProjectorError(
            f"{name}.renames: {field!r} is not a field of {model.__qualname__}; {hint}renames "
            f"maps field names to DynamoDB attribute names, among the fields {fields}")
    version = projector.version
    if version is not None and version not in fields:
        near = closest(str(version), fields)
        hint = f"did you mean version = {near!r}? " if near else ""
        raise ProjectorError(
            f"{name}.version: {version!r} is not a field of {model.__qualname__}; {hint}version "
            f"must name a field among {fields}")


def _attribute_names(projector: type[Projector[Any]]) -> dict[str, str]:
    """``dynamodb_names``, with a derivation that fails or gives no name refused."""
    derive = projector.attribute_names
    if derive is not None:
        for field in attrs.fields(projector.model):
            try:
                derived = derive(field.name)
            except Exception as error:
                raise ProjectorError(
                    f"{projector.__qualname__}.attribute_names raised {type(error).__name__} "
                    f"({error}) for the field {field.name!r}") from error
            if not isinstance(derived, str) or not derived:
                raise ProjectorError(
                    f"{projector.__qualname__}.attribute_names gave {derived!r} for the field "
                    f"{field.name!r}; it must return a non-empty DynamoDB attribute name")
    return dynamodb_names(projector)


def version_number(value: Any, name: str = "version") -> int:
    """A version as a non-negative integer that orders the same way: an integer as it is, a
    timestamp (datetime or ISO-8601 text) as microseconds since 1970 UTC."""
    if isinstance(value, str):
        try:
            value = datetime.datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"version attribute {name!r}: {value!r} is not an integer or an "
                             "ISO-8601 timestamp") from None
    if isinstance(value, datetime.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=datetime.UTC)
        delta = moment - _EPOCH
        number = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        number = int(value)
    else:
        raise ValueError(f"version attribute {name!r}: {value!r} is not an integer or an "
                         "ISO-8601 timestamp")
    if number < 0:
        raise ValueError(f"version attribute {name!r}: {value!r} is negative")
    return number


#: Ranks are stored as DECIMAL(40, 0): at most 40 digits.
MAX_RANK = 10**40 - 1


def _rank(rank: int, what: str) -> int:
    """``rank``, if the rank column holds it; raises ``ValueError`` otherwise."""
    if 0 <= rank <= MAX_RANK:
        return rank
    shown = rank if -10**60 < rank < 10**60 else f"{rank:.3E}"
    raise ValueError(f"{what} ranks the change as {shown}, outside 0 to 10**40 - 1: "
                     "the rank column is DECIMAL(40, 0)")


def _decode_first(raw_image: Mapping[str, Any], model: Any) -> Any:
    """The typed path of a projector whose converter has hooks of its own: always declined,
    so the image is decoded and structured by that converter."""
    raise LookupError("decode first")


def _key_getter(indexes: tuple[int, ...]) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    if len(indexes) == 1:
        (only,) = indexes
        return lambda row: (row[only],)
    getter: Callable[[tuple[Any, ...]], tuple[Any, ...]] = operator.itemgetter(*indexes)
    return getter


def _row_builder(columns: tuple[Column, ...], about: str) -> Callable[[Any], tuple[Any, ...]]:
    """obj -> its row tuple, generated: each column's attribute, adapted (JSON text, UTC
    time, enum value) unless it is None."""
    namespace: dict[str, Any] = {}
    values = []
    for index, column in enumerate(columns):
        if column.to_sql is None:
            values.append(f"obj.{column.field}")
            continue
        namespace[f"adapt_{index}"] = column.to_sql
        values.append(f"None if (v_{index} := obj.{column.field}) is None "
                      f"else adapt_{index}(v_{index})")
    source = "def row_of(obj):\n    return (" + "".join(f"\n        {v}," for v in values) + ")\n"
    return compile_function("row_of", source, namespace, about=about)
