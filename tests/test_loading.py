"""Projectors from PROJECTIONS modules and from installed packages' entry points."""

import uuid

import pytest

from core import RegistryError, load_registry
from core.loading import ENTRY_POINT_GROUP, discover_projectors

GIZMOS = '''
import attrs
from core import Projector

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

