"""A projector defined wrongly fails when it is registered, with one ProjectorError whose
message names the class, the attribute or field path, and what to write instead."""

import datetime
import uuid
from decimal import Decimal
from typing import Any

import attrs
import pytest
from cattrs.strategies import configure_union_passthrough

from ddbproj.core import (
    Projector,
    ProjectorError,
    ProjectorRegistry,
    make_converter,
    pascal_case,
)
from ddbproj.core.dynamodb_json import encode_image
from ddbproj.core.projector import PROJECTOR_OPTIONS


@attrs.frozen
class Member:
    id: int
    email: str
    display_name: str
    updated_at: datetime.datetime | None = None


def projector(model: type = Member, *, name: str = "MemberProjector", **attributes: Any) -> type:
    """A projector class of ``model`` with ``attributes`` set in its body."""
    body = {"entity_type": "Member", "model": model, "table": "members", "key": ("id",),
            **attributes}
    return type(name, (Projector,), body)


def refusal(projector_class: type, registry: ProjectorRegistry | None = None) -> str:
    """The message of the ProjectorError raised by registering ``projector_class``."""
    with pytest.raises(ProjectorError) as caught:
        (registry or ProjectorRegistry()).register(projector_class)
    return str(caught.value)


# -- misspelt projector options -----------------------------------------------------------

OPTION_LIST = ("['attribute_names', 'entity_type', 'keep_expired', 'key', "
               "'key_from_item_keys', 'key_prefixes', 'model', 'renames', 'soft_delete', "
               "'table', 'version']")


def test_the_options_are_those_the_projector_base_class_declares():
    assert sorted(PROJECTOR_OPTIONS) == [
        "attribute_names", "entity_type", "keep_expired", "key", "key_from_item_keys",
        "key_prefixes", "model", "renames", "soft_delete", "table", "version"]


def test_a_misspelt_option_is_named_with_the_option_meant():
    assert refusal(projector(soft_deletes=True)) == (
        "MemberProjector: class attribute 'soft_deletes' is not a Projector option; "
        "did you mean 'soft_delete'? Projector options are " + OPTION_LIST + " (a helper of "
        "your own needs a name further from them, or a leading underscore)")


@pytest.mark.parametrize(("written", "meant", "value"), [
    ("atribute_names", "attribute_names", pascal_case),
    ("soft_deletes", "soft_delete", True),
    ("keep_expire", "keep_expired", True),
    ("key_prefix", "key_prefixes", {"PK": "MEMBER#"}),
    ("rename", "renames", {"email": "Email"}),
    ("keys", "key", ("id",)),
    ("entityType", "entity_type", "Member"),
    ("Table", "table", "members"),
    ("versoin", "version", "updated_at"),
])
def test_each_common_misspelling_is_refused_with_the_option_meant(written, meant, value):
    message = refusal(projector(**{written: value}))
    assert message.startswith(f"MemberProjector: class attribute {written!r} is not a "
                              f"Projector option; did you mean {meant!r}? ")


def single_edits(word: str) -> set[str]:
    """Every name one slip of the keyboard from ``word``: a letter dropped, two neighbours
    swapped, a letter doubled, an 's' added at the end."""
    edits = {word[:i] + word[i + 1:] for i in range(len(word))}
    edits |= {word[:i] + word[i + 1] + word[i] + word[i + 2:] for i in range(len(word) - 1)}
    edits |= {word[:i] + word[i] + word[i:] for i in range(len(word))}
    edits.add(word + "s")
    return {e for e in edits if e != word and e not in PROJECTOR_OPTIONS and e.isidentifier()
            and not e.startswith("_")}


SLIPS = sorted((option, slip) for option in PROJECTOR_OPTIONS for slip in single_edits(option))


def test_the_sweep_covers_every_option_with_many_slips():
    assert {option for option, _ in SLIPS} == set(PROJECTOR_OPTIONS)
    assert len(SLIPS) > 250


@pytest.mark.parametrize(("option", "slip"), SLIPS, ids=[slip for _, slip in SLIPS])
def test_every_single_slip_of_every_option_is_caught(option, slip):
    message = refusal(projector(**{slip: 1}))
    assert message.startswith(f"MemberProjector: class attribute {slip!r} is not a Projector "
                              f"option; did you mean {option!r}? ")


class Keyed(Projector[Member]):
    entity_type = "Member"
    model = Member
    table = "members"
    key = ("id",)

    @classmethod
    def key_from_item_key(cls, keys: Any) -> dict[str, Any] | None:
        return None


def test_a_misspelt_method_override_is_refused():
    assert refusal(Keyed) == (
        "Keyed: method 'key_from_item_key' overrides no Projector method; did you mean "
        "'key_from_item_keys'? Projector options are " + OPTION_LIST + " (a helper of your "
        "own needs a name further from them, or a leading underscore)")


def test_a_lambda_is_a_value_so_a_misspelt_attribute_names_is_caught():
    assert "did you mean 'attribute_names'?" in refusal(
        projector(attribute_name=lambda field: field.upper()))


class Base(Projector[Member]):
    soft_deletes = True


class Concrete(Base):
    entity_type = "Member"
    model = Member
    table = "members"
    key = ("id",)


def test_a_misspelling_in_a_base_projector_is_caught_on_its_subclass():
    assert refusal(Concrete).startswith(
        "Concrete: class attribute 'soft_deletes' is not a Projector option; did you mean "
        "'soft_delete'?")


def test_a_misspelt_required_option_says_the_misspelling_not_only_that_it_is_missing():
    Keys = type("Keys", (Projector,), {"entity_type": "Member", "model": Member,
                                       "table": "members", "keys": ("id",)})
    assert refusal(Keys).startswith(
        "Keys: class attribute 'keys' is not a Projector option; did you mean 'key'?")


class Labels:
    """A mixin that is not a projector: its attributes are not checked."""

    tables = ("a", "b")


def test_helpers_far_from_every_option_private_names_methods_and_mixins_are_kept():
    class Helpful(Labels, Projector[Member]):
        entity_type = "Member"
        model = Member
        table = "members"
        key = ("id",)
        label = "Members"
        description = "people who signed up"
        batch_size = 100
        table_comment = "one row per member"
        entity_name = "member"
        _soft_deletes = True
        __private_keys = ("x",)

        def soft_deletes(self) -> bool:
            return False

        @property
        def keys(self) -> tuple[str, ...]:
            return ("id",)

        @classmethod
        def tables_of(cls) -> list[str]:
            return [cls.table]

        @staticmethod
        def renamed(name: str) -> str:
            return name

        class Model:
            """A nested class of the projector's own."""

    registry = ProjectorRegistry()
    assert registry.register(Helpful) is Helpful
    assert registry.get("Member").table == "members"


# -- options that name model fields -------------------------------------------------------


def test_renames_naming_a_misspelt_field_suggests_the_field():
    assert refusal(projector(renames={"emial": "Email"})) == (
        "MemberProjector.renames: 'emial' is not a field of Member; did you mean 'email'? "
        "renames maps field names to DynamoDB attribute names, among the fields "
        "['display_name', 'email', 'id', 'updated_at']")


def test_renames_naming_nothing_near_lists_the_fields():
    assert refusal(projector(renames={"zzz": "Z"})) == (
        "MemberProjector.renames: 'zzz' is not a field of Member; renames maps field names "
        "to DynamoDB attribute names, among the fields "
        "['display_name', 'email', 'id', 'updated_at']")


def test_renames_written_the_wrong_way_round_says_so():
    assert refusal(projector(renames={"Email": "email"})) == (
        "MemberProjector.renames: 'Email' is not a field of Member, but 'email' is: renames "
        "maps field names to DynamoDB attribute names; write renames = {'email': 'Email'}")


def test_renames_must_be_a_mapping_of_names():
    assert refusal(projector(renames=("email", "Email"))) == (
        "MemberProjector.renames must map field names to DynamoDB attribute names, e.g. "
        "renames = {'id': 'Id'}; got ('email', 'Email')")
    assert refusal(projector(renames={"email": ""})) == (
        "MemberProjector.renames['email'] must be a non-empty DynamoDB attribute name; got ''")


def test_a_misspelt_key_field_names_the_projector_and_suggests_the_field():
    assert refusal(projector(key=("ids",))) == (
        "MemberProjector.key: 'ids' is not a field of Member; did you mean key = ('id',)? "
        "key must name fields among ['display_name', 'email', 'id', 'updated_at']")
    assert refusal(projector(key=("id", "mail"))) == (
        "MemberProjector.key: 'mail' is not a field of Member; did you mean "
        "key = ('id', 'email')? key must name fields among "
        "['display_name', 'email', 'id', 'updated_at']")


def test_a_misspelt_version_field_suggests_the_field():
    assert refusal(projector(version="updated")) == (
        "MemberProjector.version: 'updated' is not a field of Member; did you mean "
        "version = 'updated_at'? version must name a field among "
        "['display_name', 'email', 'id', 'updated_at']")
    assert refusal(projector(version="zzz")) == (
        "MemberProjector.version: 'zzz' is not a field of Member; version must name a field "
        "among ['display_name', 'email', 'id', 'updated_at']")


def test_attribute_names_must_derive_a_name_from_each_field():
    assert refusal(projector(attribute_names="pascal")) == (
        "MemberProjector.attribute_names must be a function from a field name to a DynamoDB "
        "attribute name, e.g. attribute_names = pascal_case; got 'pascal'")
    assert refusal(projector(attribute_names=lambda field: None)) == (
        "MemberProjector.attribute_names gave None for the field 'id'; it must return a "
        "non-empty DynamoDB attribute name")


def test_key_prefixes_must_map_key_attributes_to_text():
    assert refusal(projector(key_prefixes="MEMBER#")) == (
        "MemberProjector.key_prefixes must map DynamoDB key attributes to the prefix of their "
        "value, e.g. key_prefixes = {'PK': 'MEMBER#'}; got 'MEMBER#'")


def test_flags_must_be_booleans():
    assert refusal(projector(soft_delete="yes")) == (
        "MemberProjector.soft_delete must be True or False; got 'yes'")
    assert refusal(projector(keep_expired=1)) == (
        "MemberProjector.keep_expired must be True or False; got 1")


# -- annotations cattrs cannot structure --------------------------------------------------

UNION_ADVICE = (
    "use a single type, a tagged union or a union passthrough "
    "(cattrs.strategies.configure_tagged_union, configure_union_passthrough), or register a "
    "structure hook for int | str; on a converter from ddbproj.core.make_converter(), given "
    "as ProjectorRegistry(converter=...)")


@attrs.frozen
class Line:
    sku: str
    code: list[int | str]


@attrs.frozen
class Order:
    id: int
    lines: list[Line]


@attrs.frozen
class WithCodes:
    id: int
    codes: list[int | str]


@attrs.frozen
class Shipment:
    id: int
    line: Line


@attrs.frozen
class MaybeShipment:
    id: int
    line: Line | None = None


@attrs.frozen
class Tagged:
    id: int
    tags: tuple[int | str, ...] = ()


@attrs.frozen
class Crate:
    id: int
    shipments: dict[str, list[Shipment]]


@attrs.frozen
class Badge:
    serial: uuid.UUID


@attrs.frozen
class Holder:
    id: int
    badge: Badge


@pytest.mark.parametrize(("model", "path"), [
    (WithCodes, "WithCodes.codes: list[int | str]"),
    (Shipment, "Shipment.line.code: list[int | str]"),
    (Order, "Order.lines[].code: list[int | str]"),
    (MaybeShipment, "MaybeShipment.line.code: list[int | str]"),
    (Tagged, "Tagged.tags: tuple[int | str, ...]"),
    (Crate, "Crate.shipments{}[].line.code: list[int | str]"),
], ids=lambda v: v if isinstance(v, str) else v.__name__)
def test_a_union_cattrs_cannot_structure_fails_at_registration_with_its_path(model, path):
    assert refusal(projector(model, name=f"{model.__name__}Projector")) == (
        f"{model.__name__}Projector: {path} cannot be structured: cattrs has no strategy for "
        f"the union int | str; {UNION_ADVICE}")


def test_a_type_without_a_structure_hook_says_to_annotate_or_register_one():
    assert refusal(projector(Holder, name="HolderProjector")) == (
        "HolderProjector: Holder.badge.serial: UUID cannot be structured: cattrs has no "
        "structure hook for UUID; annotate it with a type DynamoDB holds (str, int, Decimal, "
        "float, bool, bytes, datetime, date, an Enum, or a list, dict, set, tuple or attrs "
        "class of them), or register a structure hook for UUID; on a converter from "
        "ddbproj.core.make_converter(), given as ProjectorRegistry(converter=...)")


def test_attrs_classes_cattrs_cannot_tell_apart_are_named():
    @attrs.frozen
    class Cash:
        amount: Decimal

    @attrs.frozen
    class Card:
        amount: Decimal

    @attrs.frozen
    class Payment:
        id: int
        methods: list[Cash | Card]

    message = refusal(projector(Payment, name="PaymentProjector"))
    assert message.startswith(
        "PaymentProjector: Payment.methods: list[Cash | Card] cannot be structured: cattrs "
        "cannot tell the union Cash | Card apart (")
    assert message.endswith("use a single type, a tagged union or a union passthrough "
                            "(cattrs.strategies.configure_tagged_union, "
                            "configure_union_passthrough), or register a structure hook for "
                            "Cash | Card; on a converter from ddbproj.core.make_converter(), "
                            "given as ProjectorRegistry(converter=...)")


@attrs.frozen
class Node:
    name: str
    children: "list[Node]" = attrs.Factory(list)


@attrs.frozen
class Tree:
    id: int
    root: Node


@attrs.frozen
class Branch:
    name: str
    children: list["Branch"] = attrs.Factory(list)


@attrs.frozen
class Bush:
    id: int
    root: Branch


def test_a_quoted_name_inside_an_annotation_says_to_quote_the_whole_annotation():
    assert refusal(projector(Bush, name="BushProjector")) == (
        "BushProjector: Bush.root.children: list['Branch'] cannot be structured: cattrs does "
        "not resolve the forward reference 'Branch'; quote the whole annotation "
        "(\"list[Node]\", not list[\"Node\"]) or add 'from __future__ import annotations' to "
        "the model's module")


def test_a_recursive_model_registers():
    registry = ProjectorRegistry()
    registry.register(projector(Tree, name="TreeProjector"))
    image = encode_image({"id": 1, "root": {"name": "a", "children": [{"name": "b"}]}})
    tree = registry.get("Member").structure_image(image)
    assert tree.root.children[0].name == "b"


def test_a_converter_with_a_union_strategy_structures_the_union():
    converter = make_converter()
    configure_union_passthrough(int | str, converter)
    registry = ProjectorRegistry(converter=converter)
    registry.register(projector(Order, name="OrderProjector"))
    image = encode_image({"id": 1, "lines": [{"sku": "a", "code": [7, "x"]}]})
    order = registry.get("Member").structure_image(image)
    assert order.lines[0].code == [7, "x"]


def test_a_converter_with_a_hook_of_its_own_structures_the_type():
    converter = make_converter()
    converter.register_structure_hook(uuid.UUID, lambda value, _: uuid.UUID(value))
    registry = ProjectorRegistry(converter=converter)
    registry.register(projector(Holder, name="HolderProjector"))
    serial = uuid.UUID(int=5)
    holder = registry.get("Member").structure_image(
        encode_image({"id": 1, "badge": {"serial": str(serial)}}))
    assert holder.badge.serial == serial
