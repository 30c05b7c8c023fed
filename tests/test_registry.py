import attrs
import pytest

from ddbproj.core import (
    ProjectorError,
    ProjectorRegistry,
    RegistryError,
    SkipReason,
    StructureError,
    UnmappableField,
    load_registry,
    make_converter,
    parse_record,
)
from ddbproj.core.dynamodb_json import encode_image
from ddbproj.core.events import StreamEventBuilder
from ddbproj.core.projector import Projector
from projections.users import UserProjector


@attrs.frozen
class Gadget:
    id: int


class GadgetProjector(Projector[Gadget]):
    entity_type = "User"
    model = Gadget
    table = "gadgets"
    key = ("id",)


def test_default_projections_package_loads_every_module():
    registry = load_registry(["projections"])
    assert sorted(p.entity_type for p in registry) == ["Order", "User"]


def test_register_returns_the_class_unchanged():
    registry = ProjectorRegistry()
    assert registry.register(UserProjector) is UserProjector


def test_two_projectors_for_one_entity_type_fail_when_registered():
    registry = ProjectorRegistry()
    registry.register(UserProjector)
    with pytest.raises(RegistryError, match="entity type 'User' is claimed by both"):
        registry.register(GadgetProjector)


def test_table_shared_with_different_columns_is_refused():
    class Other(Projector[Gadget]):
        entity_type = "Other"
        model = Gadget
        table = "users"
        key = ("id",)

    registry = ProjectorRegistry()
    registry.register(UserProjector)
    with pytest.raises(RegistryError, match="table 'users' is written by"):
        registry.register(Other)


def test_key_that_is_not_a_field_is_refused_with_advice():
    class Bad(Projector[Gadget]):
        entity_type = "Bad"
        model = Gadget
        table = "bad"
        key = ("gadget_id",)

    with pytest.raises(ProjectorError, match=r"Bad\.key: 'gadget_id' is not a field of Gadget; "
                       r"key must name fields among \['id'\]"):
        ProjectorRegistry().register(Bad)


def test_unmappable_annotation_is_refused_with_advice():
    @attrs.frozen
    class Weird:
        id: int
        handle: complex

    class Bad(Projector[Weird]):
        entity_type = "Weird"
        model = Weird
        table = "weird"
        key = ("id",)

    with pytest.raises(UnmappableField, match=r"Weird.handle: no column type for annotation"):
        ProjectorRegistry().register(Bad)


def test_routing_by_entity_type_and_skip_reasons():
    registry = ProjectorRegistry()
    registry.register(UserProjector)
    events = StreamEventBuilder()
    user = parse_record(events.insert({"PK": "U#1", "SK": "P", "entity_type": "User", "Id": 1}))
    meta = parse_record(events.insert({"PK": "META", "SK": "v", "version": 3}))
    other = parse_record(events.insert({"PK": "X", "SK": "x", "entity_type": "Invoice"}))
    bare = parse_record(events.remove({"PK": "U#1", "SK": "P"}))
    assert registry.route(user).projector is UserProjector
    assert registry.route(meta) is SkipReason.NO_ENTITY_TYPE
    assert registry.route(other) is SkipReason.UNCLAIMED_TYPE
    assert registry.route(bare) is SkipReason.UNROUTABLE_REMOVE


def test_type_attribute_is_configurable():
    registry = ProjectorRegistry(type_attribute="_type")
    registry.register(UserProjector)
    record = parse_record(StreamEventBuilder().insert({"PK": "a", "SK": "b", "_type": "User"}))
    assert registry.route(record).projector is UserProjector


def test_a_converter_of_your_own_structures_every_image_and_explains_its_failures():
    converter = make_converter()

    def trimmed(value, _):
        if not isinstance(value, str):
            raise StructureError(f"expected a string, got {type(value).__name__}")
        return value.strip()

    converter.register_structure_hook(str, trimmed)
    registry = ProjectorRegistry(converter=converter)
    registry.register(UserProjector)
    compiled = registry.get("User")
    image = encode_image({"Id": 1, "Name": "  yuu  ", "Age": 17, "Height": 170, "Weight": 50})

    assert compiled.structure_image(image).name == "yuu"
    image["Name"] = {"N": "5"}
    with pytest.raises(ValueError, match="attribute 'Name': expected a string, got int"):
        compiled.structure_image(image)
    # without it, the name is kept as written
    plain = ProjectorRegistry()
    plain.register(UserProjector)
    kept = plain.get("User").structure_image(
        encode_image({"Id": 1, "Name": "  yuu  ", "Age": 17, "Height": 170, "Weight": 50}))
    assert kept.name == "  yuu  "
