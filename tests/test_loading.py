"""Projectors from PROJECTIONS modules and from installed packages' entry points."""

import datetime
import importlib
import pathlib
import sys
import uuid

import attrs
import pytest

from ddbproj.core import Projector, ProjectorRegistry, RegistryError, column, load_registry
from ddbproj.core.errors import ProjectorError
from ddbproj.core.loading import (
    DEFAULT_PROJECTIONS,
    ENTRY_POINT_GROUP,
    ProjectorModuleFailed,
    discover_projectors,
)

GIZMOS = '''
import attrs
from ddbproj.core import Projector

@attrs.frozen
class Gizmo:
    id: int
    label: str

class GizmoProjector(Projector[Gizmo]):
    entity_type = "{entity_type}"
    model = Gizmo
    table = "gizmos"
    key = ("id",)
'''


@pytest.fixture
def install(tmp_path, monkeypatch):
    """Install a distribution (a package and its dist-info) on sys.path, as pip would."""

    def install(entry_points, *, entity_type="Gizmo"):
        package = f"shared_{uuid.uuid4().hex[:8]}"
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text('"""Shared projectors."""\n')
        (tmp_path / package / "gizmos.py").write_text(GIZMOS.format(entity_type=entity_type))
        info = tmp_path / f"{package}-1.2.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 1.2\n")
        lines = "\n".join(f"{name} = {value.format(package=package)}"
                          for name, value in entry_points.items())
        (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{lines}\n")
        monkeypatch.syspath_prepend(str(tmp_path))
        return package

    return install


def test_an_installed_package_contributes_its_projectors(install):
    package = install({"gizmos": "{package}"})
    registry = load_registry(["projections"])
    assert sorted(p.entity_type for p in registry) == ["Gizmo", "Order", "User"]
    origins = {s.projector.__name__: (s.origin, s.module)
               for s in discover_projectors(["projections"])}
    assert origins["GizmoProjector"] == (f"entry point gizmos ({package} 1.2)",
                                         f"{package}.gizmos")
    assert origins["UserProjector"] == ("PROJECTIONS", "projections.users")


def test_an_entry_point_may_name_one_projector_class(install):
    install({"one": "{package}.gizmos:GizmoProjector"})
    assert [p.entity_type for p in load_registry([])] == ["Gizmo"]


def test_entry_points_can_be_left_out(install):
    install({"gizmos": "{package}"})
    assert sorted(p.entity_type for p in load_registry(["projections"], entry_points=False)) == [
        "Order", "User"]


def test_a_projector_named_twice_is_registered_once(install):
    package = install({"gizmos": "{package}.gizmos"})
    sources = discover_projectors([f"{package}.gizmos"])
    assert [(s.projector.__name__, s.origin) for s in sources] == [
        ("GizmoProjector", "PROJECTIONS")]


def test_an_entry_point_claiming_a_taken_entity_type_fails_at_start_up(install):
    install({"gizmos": "{package}"}, entity_type="User")
    with pytest.raises(RegistryError, match=r"entity type 'User' is claimed by both "
                       r"projections\.users\.UserProjector and shared_\w+\.gizmos\.GizmoProjector"):
        load_registry(["projections"])


def test_an_entry_point_that_cannot_be_imported_is_named(install):
    install({"broken": "{package}_missing"})
    with pytest.raises(ImportError, match=r"entry point broken \(shared_\w+ 1\.2\) names "
                       r"'shared_\w+_missing', which cannot be imported"):
        load_registry([])


def test_an_entry_point_naming_something_else_says_what_it_must_name(install):
    install({"odd": "{package}.gizmos:Gizmo"})
    with pytest.raises(TypeError, match=r"names 'shared_\w+\.gizmos:Gizmo', a type; it must "
                       r"name a module or package of projectors, or a Projector subclass"):
        load_registry([])


def test_a_package_in_projections_means_each_of_its_modules(install):
    package = install({})
    assert [s.module for s in discover_projectors([package])] == [f"{package}.gizmos"]



# -- checks at registration: each message says what to write instead -------------------


def projector_for(model, **settings):
    attributes = {"entity_type": "Thing", "model": model, "table": "things", "key": ("id",),
                  **settings}
    return type(f"{model.__name__}Projector", (Projector,), attributes)


def refusal(projector, registry=None):
    with pytest.raises(TypeError) as caught:
        (registry or ProjectorRegistry()).register(projector)
    return str(caught.value)


@attrs.frozen
class Thing:
    id: int
    name: str


def test_a_union_annotation_says_to_choose_one_type():
    @attrs.frozen
    class Loose:
        id: int
        size: int | str

    assert refusal(projector_for(Loose)) == (
        "Loose.size: no column type for annotation int | str; a column holds one type: choose "
        "one of int, str (with '| None' when the attribute may be absent), or store it as JSON "
        "with typing.Any")


def test_a_time_annotation_says_what_to_write_instead():
    @attrs.frozen
    class Opening:
        id: int
        opens: datetime.time

    assert refusal(projector_for(Opening)) == (
        "Opening.opens: no column type for annotation time; DynamoDB has no time type: "
        "annotate it 'opens: str' (ISO text) instead")


def test_a_misspelt_key_gets_the_close_field_suggested():
    assert refusal(projector_for(Thing, key=("ids",))) == (
        "ThingProjector.key: 'ids' is not a field of Thing; did you mean key = ('id',)? "
        "key must name fields among ['id', 'name']")


def test_two_fields_on_one_column_and_the_reserved_column_are_refused():
    @attrs.frozen
    class Twice:
        id: int
        label: str = attrs.field(metadata=column(name="name"))
        name: str = ""

    @attrs.frozen
    class Reserved:
        id: int
        ddbproj_seq: int

    assert refusal(projector_for(Twice)) == (
        "Twice: fields 'label' and 'name' both map to the column 'name'; give one "
        "attrs.field(metadata=column(name=...)) another name")
    assert refusal(projector_for(Reserved)).startswith(
        "Reserved.ddbproj_seq: the column name 'ddbproj_seq' is ddbproj's own")


def test_a_shared_table_with_other_columns_lists_the_differences():
    @attrs.frozen
    class Slim:
        id: int
        name: str | None

    registry = ProjectorRegistry()
    registry.register(projector_for(Thing))
    other = projector_for(Slim, entity_type="Slim")
    assert refusal(other, registry) == (
        "table 'things' is written by test_loading.ThingProjector and "
        "test_loading.SlimProjector with different columns (name: text in ThingProjector, "
        "text nullable in SlimProjector); give SlimProjector its own table "
        "(table = 'things_slim') or the same model")


def test_entity_type_table_and_key_must_be_usable_names():
    assert refusal(projector_for(Thing, entity_type="")).startswith(
        "ThingProjector.entity_type must be the non-empty string the items carry")
    assert refusal(projector_for(Thing, table="x" * 52)) == (
        f"ThingProjector.table {'x' * 52!r} has 52 characters; use at most 51, so that its "
        "tombstone table 'ddbproj_tomb_xxxxxxxx...' fits MySQL's 64")
    assert refusal(projector_for(Thing, table="ddbproj_things")).endswith(
        "names starting with 'ddbproj_' are ddbproj's own tables; choose another name")
    assert refusal(projector_for(Thing, key=())) == (
        "ThingProjector.key is empty; name the fields of the row key, e.g. key = (\"id\",)")


# -- a project without the default projections package ----------------------------------


@pytest.fixture
def without_projections(monkeypatch):
    """sys.path and sys.modules as in a service that has no ``projections`` package."""
    def is_project(name):
        return name == DEFAULT_PROJECTIONS or name.startswith(DEFAULT_PROJECTIONS + ".")

    saved = {name: module for name, module in sys.modules.items() if is_project(name)}
    for name in saved:
        del sys.modules[name]
    monkeypatch.setattr(sys, "path", [
        entry for entry in sys.path
        if not (pathlib.Path(entry or ".") / DEFAULT_PROJECTIONS).exists()])
    importlib.invalidate_caches()
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module(DEFAULT_PROJECTIONS)
    yield
    for name in [name for name in sys.modules if is_project(name)]:
        del sys.modules[name]
    sys.modules.update(saved)


def test_the_default_package_is_projections():
    assert DEFAULT_PROJECTIONS == "projections"


def test_without_a_projections_package_the_entry_points_are_the_projectors(
        without_projections, install):
    package = install({"gizmos": "{package}"})
    assert [p.entity_type for p in load_registry([DEFAULT_PROJECTIONS])] == ["Gizmo"]
    assert [(s.origin, s.module) for s in discover_projectors([DEFAULT_PROJECTIONS])] == [
        (f"entry point gizmos ({package} 1.2)", f"{package}.gizmos")]


def test_no_projector_anywhere_is_an_error_saying_where_to_add_one(without_projections):
    with pytest.raises(RegistryError) as caught:
        load_registry([DEFAULT_PROJECTIONS])
    assert str(caught.value) == (
        "no projectors found in PROJECTIONS=projections nor in the 'ddbproj.projections' "
        "entry points: add a module with a Projector subclass to projections/ or set "
        "PROJECTIONS")


def test_no_projector_without_reading_the_entry_points_says_so(without_projections, install):
    install({"gizmos": "{package}"})
    with pytest.raises(RegistryError) as caught:
        load_registry([DEFAULT_PROJECTIONS], entry_points=False)
    assert str(caught.value) == (
        "no projectors found in PROJECTIONS=projections (the entry points were not read): "
        "add a module with a Projector subclass to projections/ or set PROJECTIONS")


def test_a_projections_package_importing_a_missing_module_is_an_error(
        without_projections, install, tmp_path):
    install({"gizmos": "{package}"})
    (tmp_path / DEFAULT_PROJECTIONS).mkdir()
    (tmp_path / DEFAULT_PROJECTIONS / "__init__.py").write_text("import no_such_dependency\n")
    with pytest.raises(ModuleNotFoundError) as caught:
        load_registry([DEFAULT_PROJECTIONS])
    assert caught.value.name == "no_such_dependency"


def test_a_projections_module_importing_a_missing_one_is_an_error(
        without_projections, install, tmp_path):
    install({"gizmos": "{package}"})
    (tmp_path / DEFAULT_PROJECTIONS).mkdir()
    (tmp_path / DEFAULT_PROJECTIONS / "__init__.py").write_text("")
    (tmp_path / DEFAULT_PROJECTIONS / "users.py").write_text("import projections.helpers\n")
    with pytest.raises(ModuleNotFoundError) as caught:
        load_registry([DEFAULT_PROJECTIONS])
    assert caught.value.name == "projections.helpers"


def test_any_other_missing_module_stays_an_error(without_projections, install):
    install({"gizmos": "{package}"})
    with pytest.raises(ModuleNotFoundError) as caught:
        load_registry(["projectionz"])
    assert caught.value.name == "projectionz"


@pytest.mark.parametrize(("source", "raised", "line"), [
    ("X = 1\nraise RuntimeError('no config')\n", "RuntimeError: no config", 2),
    ("def broken(:\n", "SyntaxError", 1),
    ("import attrs\nLIMIT = int('ten')\n", "ValueError: invalid literal", 2),
])
def test_a_projector_module_that_raises_names_the_module_the_error_and_the_line(
        tmp_path, monkeypatch, source, raised, line):
    package = f"failing_{uuid.uuid4().hex[:8]}"
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / package / "widgets.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ProjectorModuleFailed) as caught:
        load_registry([package], entry_points=False)
    message = str(caught.value)
    assert message.startswith(f"importing the projector module {package}.widgets raised {raised}")
    assert message.endswith(f"(at {tmp_path / package / 'widgets.py'}:{line}); fix that module")
    assert isinstance(caught.value, ProjectorError)  # every command reports it in one line


def test_a_definition_error_raised_while_importing_stays_itself(tmp_path, monkeypatch):
    package = f"misdefined_{uuid.uuid4().hex[:8]}"
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text(GIZMOS.format(entity_type="Gizmo").replace(
        'key = ("id",)', 'key = ("ids",)'))
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ProjectorError) as caught:
        load_registry([package], entry_points=False)
    assert not isinstance(caught.value, ProjectorModuleFailed)
    assert "'ids' is not a field of Gizmo" in str(caught.value)
