"""ddbproj as a service installs it: the wheel built from this repository, in a fresh virtual
environment (never the development one), used from a project that has its own ``core`` and
``handlers`` packages and its own projectors. The distribution must install one import
package, ``ddbproj``, so nothing of the project is shadowed and none of the repository's
sample projectors (``projections/``) leaks into the project's registry."""

import os
import pathlib
import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
TOP_LEVEL_NAMES = ("core", "adapters", "handlers", "projections")
# variables of this (development) session that must not reach the fresh environment
LEAKING_VARIABLES = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PROJECTIONS", "PYTEST_ADDOPTS",
                     "PYTEST_PLUGINS", "TEST_DATABASE_URL")


@dataclass(frozen=True)
class Installed:
    """A fresh virtual environment with the wheel and its dependencies installed."""

    wheel: pathlib.Path
    prefix: pathlib.Path
    site_packages: pathlib.Path

    @property
    def python(self) -> pathlib.Path:
        return self.prefix / "bin" / "python"


def run(args: list[str | os.PathLike[str]], *, cwd: pathlib.Path | None = None,
        env: Mapping[str, str] | None = None, timeout: float = 600
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                          text=True, check=False, timeout=timeout)


def checked(done: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert done.returncode == 0, f"{done.args}:\n{done.stdout}\n{done.stderr}"
    return done


def copy_source(destination: pathlib.Path) -> pathlib.Path:
    """The files git would hand to a builder (tracked and new, ignored ones left out), copied
    with their symlinks, so building never writes ``build/`` or ``*.egg-info`` into the
    working tree and never packages what only a developer's tree holds."""
    listed = checked(run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         cwd=ROOT)).stdout
    for name in filter(None, listed.split("\0")):
        source, target = ROOT / name, destination / name
        if not os.path.lexists(source):
            continue  # deleted in the working tree, not yet in a commit
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            os.symlink(os.readlink(source), target)
        else:
            shutil.copy2(source, target)
    return destination


def build_wheel(source: pathlib.Path, out: pathlib.Path) -> pathlib.Path:
    checked(run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", out,
                 source]))
    [wheel] = out.glob("ddbproj-*.whl")
    return wheel


def install_fresh(wheel: pathlib.Path, prefix: pathlib.Path) -> Installed:
    """``python -m venv`` and the wheel with its dependencies from the package index (pinned
    by the repository's ``constraints.txt`` when it has one), and pytest to run the project's
    tests with."""
    env = {k: v for k, v in os.environ.items() if k not in LEAKING_VARIABLES}
    checked(run([sys.executable, "-m", "venv", prefix], env=env))
    python = prefix / "bin" / "python"
    constraints = ROOT / "constraints.txt"
    pins = ["--constraint", constraints] if constraints.exists() else []
    checked(run([python, "-m", "pip", "install", "--quiet", *pins, wheel, "pytest"], env=env))
    purelib = checked(run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          env=env)).stdout.strip()
    return Installed(wheel, prefix, pathlib.Path(purelib))


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    work = tmp_path_factory.mktemp("wheel")
    wheel = build_wheel(copy_source(work / "source"), work / "dist")
    return install_fresh(wheel, work / "fresh")


PROJECT_FILES = {
    "core/__init__.py": '''
        """The service's own core, named as ddbproj's used to be."""

        APP = "mine"
    ''',
    "handlers/__init__.py": '''
        """The service's own handlers."""

        APP = "mine"
    ''',
    "shop/__init__.py": "",
    "shop/projectors.py": '''
        from decimal import Decimal

        import attrs

        from ddbproj.core import Projector, column, pascal_case


        @attrs.frozen
        class Item:
            sku: str = attrs.field(metadata=column(length=32))
            name: str
            price: Decimal = attrs.field(metadata=column(precision=10, scale=2))
            quantity: int


        class ItemProjector(Projector[Item]):
            entity_type = "ShopItem"
            model = Item
            table = "shop_items"
            key = ("sku",)
            attribute_names = pascal_case
    ''',
    "tests/test_shop.py": '''
        import pathlib
        import sys
        from decimal import Decimal

        import pytest

        import core
        import handlers
        from ddbproj.core import Projector
        from ddbproj.core.events import insert, modify, remove
        from shop.projectors import Item, ItemProjector

        pytestmark = pytest.mark.mysql

        HERE = pathlib.Path.cwd()
        TEA = Item(sku="TEA-1", name="Sencha", price=Decimal("12.30"), quantity=3)


        def test_ddbproj_comes_from_this_environment_and_the_plugin_is_loaded(pytestconfig):
            import ddbproj

            assert pathlib.Path(ddbproj.__file__).is_relative_to(sys.prefix)
            assert pytestconfig.pluginmanager.has_plugin("ddbproj")
            assert issubclass(ItemProjector, Projector)


        def test_an_item_is_a_row_then_changes_then_goes(projector_runner):
            projector_runner.apply(insert(TEA))
            assert projector_runner.rows("shop_items") == [
                {"sku": "TEA-1", "name": "Sencha", "price": Decimal("12.30"), "quantity": 3}]

            sold = Item("TEA-1", "Sencha", Decimal("12.30"), 1)
            projector_runner.apply(modify(TEA, sold))
            assert projector_runner.rows("shop_items")[0]["quantity"] == 1

            projector_runner.apply(remove(sold))
            assert projector_runner.rows("shop_items") == []


        def test_the_projects_own_core_and_handlers_are_still_its_own(projector_runner):
            projector_runner.apply(insert(TEA))  # ddbproj.core and ddbproj.handlers are in use
            assert (core.APP, handlers.APP) == ("mine", "mine")
            assert sys.modules["core"] is core
            assert pathlib.Path(core.__file__) == HERE / "core" / "__init__.py"
            assert pathlib.Path(handlers.__file__) == HERE / "handlers" / "__init__.py"
    ''',
}


def write_project(directory: pathlib.Path) -> pathlib.Path:
    for name, text in PROJECT_FILES.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return directory


def project_env(**extra: str) -> dict[str, str]:
    """The environment a developer of the project has: none of this session's settings, the
    project's projectors named (``PROJECTIONS``)."""
    env = {k: v for k, v in os.environ.items() if k not in LEAKING_VARIABLES}
    return {**env, "PROJECTIONS": "shop.projectors", **extra}


def test_the_wheel_holds_one_top_level_package_ddbproj(installed):
    with zipfile.ZipFile(installed.wheel) as wheel:
        tops = {name.split("/")[0] for name in wheel.namelist()}
    assert {top for top in tops if not top.endswith(".dist-info")} == {"ddbproj"}
    assert [top for top in tops if top.endswith(".dist-info")] == [
        installed.wheel.name.split("-py")[0] + ".dist-info"]


def test_the_installed_environment_has_no_top_level_core_adapters_handlers_or_projections(
    installed,
):
    present = {path.name for path in installed.site_packages.iterdir()}
    assert "ddbproj" in present
    assert sorted(present & {*TOP_LEVEL_NAMES, *(f"{n}.py" for n in TOP_LEVEL_NAMES)}) == []
    shipped = {path.name for path in (installed.site_packages / "ddbproj").iterdir()}
    assert shipped >= {"__init__.py", "core", "adapters", "handlers"}
    assert "projections" not in shipped


@pytest.mark.mysql
def test_the_projects_tests_pass_with_the_plugin_and_its_own_core(
    installed, tmp_path, mysql_server_url
):
    project = write_project(tmp_path)
    done = run([installed.python, "-m", "pytest", "-p", "no:cacheprovider", "tests"],
               cwd=project, env=project_env(TEST_DATABASE_URL=str(mysql_server_url)))
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert re.search(r"^plugins: .*\bddbproj-\d", done.stdout, re.MULTILINE), output
    assert "ddbproj MySQL: TEST_DATABASE_URL mysql+pymysql://" in done.stdout
    assert re.search(r"^=+ 3 passed in ", done.stdout, re.MULTILINE), output


def test_the_command_lists_only_the_projects_projector(installed, tmp_path):
    project = write_project(tmp_path)
    done = checked(run([installed.prefix / "bin" / "ddbproj", "projectors"], cwd=project,
                       env=project_env()))
    header, *rows = done.stdout.split("\n\n", 1)[1].splitlines()
    assert header.split() == ["entity", "type", "projector", "table", "key", "from"]
    assert [row.split() for row in rows] == [
        ["ShopItem", "shop.projectors.ItemProjector", "shop_items", "sku", "PROJECTIONS:",
         "shop.projectors"]]
    assert "User" not in done.stdout
    assert "Order" not in done.stdout
