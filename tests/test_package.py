"""The Lambda zip: what infra/package.py keeps and removes, the runtime-version rule, bytecode
the runtime reads without its source, and the handler imported (and a batch applied) from the
unzipped zip in an isolated interpreter of the template's Python.

The assembly steps run on small fake trees (no network). The full build runs once per session
(pip needs the package registry; its cache makes a rebuild take seconds) and is skipped only
when no interpreter of the template's runtime Python is installed.
"""

import importlib
import importlib.metadata
import importlib.util
import json
import os
import py_compile
import subprocess
import sys
import types
import zipfile
from pathlib import Path

import pytest

from ddbproj.core.events import StreamEventBuilder
from ddbproj.handlers import stream

REPO = Path(__file__).resolve().parent.parent


def _load_build_script() -> types.ModuleType:
    """infra/package.py is a script, not part of the distribution: loaded by its path."""
    spec = importlib.util.spec_from_file_location("ddbproj_infra_package",
                                                  REPO / "infra" / "package.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


package = _load_build_script()

RUNTIME = package.template_runtime()


def write(root: Path, relative: str, text: str = "") -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, "utf-8")
    return path


# ---- the runtime rule ----------------------------------------------------------------------

def test_the_runtime_is_read_from_the_functions_runtime_line(tmp_path):
    from cfnlint.decode import decode

    decoded, problems = decode(str(package.TEMPLATE))
    assert not problems
    runtime = decoded["Resources"]["Function"]["Properties"]["Runtime"]
    assert runtime == f"python{RUNTIME[0]}.{RUNTIME[1]}"

    two = write(tmp_path, "two.yaml", "  Runtime: python3.12\n  Runtime: python3.11\n")
    with pytest.raises(package.PackageError, match=r"found python3\.11, python3\.12"):
        package.template_runtime(two)


def test_a_build_interpreter_of_another_version_fails_with_one_line(tmp_path):
    other = "3.11.7" if RUNTIME != (3, 11) else "3.12.1"
    with pytest.raises(package.PackageError) as raised:
        package.check_runtime(RUNTIME, other, "/usr/bin/pythonX")
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"infra/template.yaml says Runtime: python{RUNTIME[0]}.{RUNTIME[1]} "
                              f"but the build interpreter /usr/bin/pythonX is Python {other}")
    package.check_runtime(RUNTIME, f"{RUNTIME[0]}.{RUNTIME[1]}.9", "/usr/bin/pythonY")


@pytest.mark.skipif(sys.version_info[:2] == RUNTIME, reason="the venv is the runtime's Python")
def test_make_package_with_the_venvs_python_stops_before_installing(tmp_path):
    done = subprocess.run(
        [sys.executable, str(REPO / "infra" / "package.py"), "--python", sys.executable,
         "--zip", str(tmp_path / "lambda.zip"), "--work", str(tmp_path / "build")],
        capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith("package: error: infra/template.yaml says Runtime: python")
    assert f"is Python {'.'.join(map(str, sys.version_info[:3]))}: build with a Python" in line
    assert not (tmp_path / "build").exists()
    assert not (tmp_path / "lambda.zip").exists()


def test_snapstart_needs_python_3_12(tmp_path):
    with pytest.raises(package.PackageError, match="SnapStart=PublishedVersions needs Runtime"):
        package.check_snapstart((3, 11), "PublishedVersions")
    package.check_snapstart((3, 12), "PublishedVersions")
    package.check_snapstart((3, 11), "None")
    assert package.snapstart_setting() == "None"
    config = write(tmp_path, "samconfig.toml",
                   '# "SnapStart=Commented" is not a setting\n[default.deploy.parameters]\n'
                   'parameter_overrides = "BatchSize=10 SnapStart=PublishedVersions"\n')
    assert package.snapstart_setting(package.TEMPLATE, config) == "PublishedVersions"


def test_the_runtime_provides_boto3_so_the_zip_does_not_carry_it():
    names = [r.split(">")[0].split("=")[0].strip().lower() for r in package.runtime_requirements()]
    assert "boto3" not in names
    assert {"sqlalchemy", "pymysql", "attrs", "cattrs", "aws-lambda-powertools"} <= set(names)


def test_constraints_pin_every_runtime_dependency_the_venv_has():
    pins = {}
    for line in package.CONSTRAINTS.read_text("utf-8").splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[name.lower().replace("_", "-")] = version
    assert "ddbproj" not in pins
    for name in ("sqlalchemy", "pymysql", "attrs", "cattrs", "aws-lambda-powertools",
                 "typing-extensions", "jmespath", "boto3", "pytest"):
        assert pins[name] == importlib.metadata.version(name), name


# ---- assembly on a fake tree ---------------------------------------------------------------

def fake_site(root: Path) -> Path:
    write(root, "sqlalchemy/__init__.py")
    write(root, "sqlalchemy/testing/__init__.py")
    write(root, "sqlalchemy/testing/provision.py")
    write(root, "sqlalchemy/dialects/mysql/__init__.py")
    write(root, "sqlalchemy/dialects/mysql/provision.py", "from sqlalchemy.testing import x\n")
    write(root, "sqlalchemy/sql/_util_cy.pxd")
    write(root, "attr/__init__.pyi")
    write(root, "attr/__init__.py")
    write(root, "jmespath/tests/test_x.py")
    write(root, "bin/jp.py")
    write(root, "ddbproj/handlers/pytest_plugin.py")
    write(root, "ddbproj/handlers/stream.py")
    write(root, "lib-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: lib\nVersion: 1.0\n")
    write(root, "lib-1.0.dist-info/RECORD", "lib/__init__.py,,\n")
    write(root, "lib-1.0.dist-info/INSTALLER", "pip\n")
    write(root, "lib-1.0.dist-info/REQUESTED")
    write(root, "lib-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\n")
    write(root, "lib-1.0.dist-info/top_level.txt", "lib\n")
    write(root, "lib-1.0.dist-info/entry_points.txt",
          "[ddbproj.projections]\nshop = lib.shop\n")
    write(root, "lib-1.0.dist-info/licenses/LICENSE", "MIT\n")
    return root


def test_prune_removes_what_the_handler_never_imports(tmp_path):
    root = fake_site(tmp_path / "site")
    removed = package.prune(root)
    assert removed == [
        "attr/__init__.pyi", "bin", "ddbproj/handlers/pytest_plugin.py",
        "jmespath/tests", "sqlalchemy/dialects/mysql/provision.py",
        "sqlalchemy/sql/_util_cy.pxd", "sqlalchemy/testing",
    ]
    assert (root / "sqlalchemy/dialects/mysql/__init__.py").exists()
    assert (root / "ddbproj/handlers/stream.py").exists()
    assert package.imports_of_removed(root, package._removed_modules(removed)) == []


def test_unused_modules_go_unless_something_kept_imports_them(tmp_path):
    root = tmp_path / "site"
    write(root, "lib/__init__.py", "from lib import a\n")
    write(root, "lib/a.py")
    write(root, "lib/b.py", "def f():\n    import lib.c\n")
    write(root, "lib/c.py")
    write(root, "lib/d/__init__.py")
    write(root, "lib/e.py", "from typing import TYPE_CHECKING\n"
          "if TYPE_CHECKING:\n    import lib.b\n"
          "def g():\n    from lib.d import x\n")
    removed, kept = package.prune_unreferenced(root, ["lib/[abcd]*"])
    assert removed == ["lib/b.py", "lib/c.py"]
    assert kept == ["lib/a.py", "lib/d"]
    assert sorted(p.name for p in (root / "lib").iterdir()) == ["__init__.py", "a.py", "d", "e.py"]


def test_dist_info_keeps_what_importlib_metadata_reads(tmp_path):
    root = fake_site(tmp_path / "site")
    removed = package.trim_dist_info(root)
    assert removed == [f"lib-1.0.dist-info/{name}" for name in
                       ("INSTALLER", "RECORD", "REQUESTED", "WHEEL", "top_level.txt")]
    [dist] = importlib.metadata.distributions(path=[str(root)])
    assert dist.version == "1.0"
    assert [(e.name, e.value) for e in dist.entry_points.select(group="ddbproj.projections")] == [
        ("shop", "lib.shop")]
    assert (root / "lib-1.0.dist-info/licenses/LICENSE").read_text("utf-8") == "MIT\n"


def test_a_kept_module_importing_a_removed_one_is_found_lazily_or_not(tmp_path):
    root = tmp_path / "site"
    write(root, "lib/__init__.py")
    write(root, "lib/lazy.py", "def f():\n    from lib import gone\n    return gone\n")
    write(root, "lib/typed.py", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
          "    import lib.gone\nelse:\n    import json\n")
    write(root, "lib/relative.py", "from .gone import thing\n")
    assert package.imports_of_removed(root, ["lib.gone"]) == [
        "lib/lazy.py: lib.gone", "lib/relative.py: lib.gone", "lib/relative.py: lib.gone.thing"]


def test_bytecode_the_runtime_reads_without_checking_its_source(tmp_path):
    root = tmp_path / "site"
    write(root, "lib/__init__.py", "VALUE = 1\n")
    write(root, "lib/mod.py", "VALUE = 2\n")
    magic, tag = importlib.util.MAGIC_NUMBER, sys.implementation.cache_tag
    assert package.missing_bytecode(root, magic, tag) == ["lib/__init__.py", "lib/mod.py"]

    package.compile_bytecode(root, sys.executable)
    assert package.missing_bytecode(root, magic, tag) == []
    assert package.missing_bytecode(root, b"\x00\x00\r\n", tag) == ["lib/__init__.py",
                                                                   "lib/mod.py"]
    # a timestamp pyc (the default) would be compared with the source, so it does not count
    py_compile.compile(str(root / "lib/mod.py"), cfile=importlib.util.cache_from_source(
        str(root / "lib/mod.py")), invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP)
    assert package.missing_bytecode(root, magic, tag) == ["lib/mod.py"]


def test_the_zip_is_reproducible(tmp_path):
    root = fake_site(tmp_path / "site")
    package.write_zip(root, tmp_path / "a.zip")
    os.utime(root / "attr/__init__.py", (0, 0))
    package.write_zip(root, tmp_path / "b.zip")
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    zipped, unzipped = package.zip_sizes(tmp_path / "a.zip")
    assert zipped == (tmp_path / "a.zip").stat().st_size
    assert unzipped == sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


# ---- start-up and SnapStart (in this process) -----------------------------------------------

def test_import_leaves_the_collector_on_and_the_start_up_heap_frozen():
    done = subprocess.run(
        [sys.executable, "-c", "import gc, ddbproj.handlers.stream as s; "
         "print(gc.isenabled(), gc.get_freeze_count() > 10000)"],
        capture_output=True, text=True, check=True, cwd=REPO)
    assert done.stdout.split() == ["True", "True"]


@pytest.fixture
def snapstart(monkeypatch, tmp_path):
    """A SnapStart initialisation with a stand-in for the runtime's snapshot_restore_py."""
    hooks: dict[str, list] = {"before": [], "after": []}
    fake = types.ModuleType("snapshot_restore_py")
    fake.register_before_snapshot = hooks["before"].append
    fake.register_after_restore = hooks["after"].append
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", fake)
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "snap-start")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'snap.db'}")
    monkeypatch.setenv("PROJECTIONS", "projections")
    stream.reset()
    yield hooks
    stream.reset()


def test_snapstart_builds_the_registry_before_the_snapshot_and_no_engine(snapstart):
    stream._register_snapstart_hooks()
    assert snapstart == {"before": [stream.before_snapshot], "after": [stream.after_restore]}
    snapstart["before"][0]()
    assert stream._processor is None
    registry = stream._registry
    assert sorted(registry.tables()) == ["orders", "users"]
    snapstart["after"][0]()
    assert stream._get_processor().registry is registry


def test_before_snapshot_imports_boto3_only_when_the_connection_needs_it(snapstart,
                                                                           monkeypatch):
    imported = []
    real_import = importlib.import_module

    def recording(name, *args):
        imported.append(name)
        return real_import(name, *args)

    monkeypatch.setattr(importlib, "import_module", recording)
    stream.before_snapshot()
    assert "boto3" not in imported
    assert "sqlalchemy.dialects.mysql.pymysql" in imported

    stream.reset()
    monkeypatch.setenv("DATABASE_SECRET_ARN", "arn:aws:secretsmanager:eu-west-1:1:secret:db")
    monkeypatch.setenv("DATABASE_HOST", "proxy.example")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.delenv("DATABASE_URL")
    stream.before_snapshot()
    assert imported.count("boto3") == 1


def test_after_restore_drops_an_engine_built_before_the_snapshot(snapstart):
    stream._register_snapstart_hooks()
    snapstart["before"][0]()
    processor = stream._get_processor()
    engine = processor.sink.engine
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT 1").scalar() == 1
    assert engine.pool.checkedin() == 1

    snapstart["after"][0]()
    assert engine.pool.checkedin() == 0
    restored = stream._get_processor()
    assert restored is not processor
    assert restored.sink.engine is not engine
    assert restored.registry is processor.registry
    with restored.sink.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT 2").scalar() == 2


def test_no_hooks_outside_a_snapstart_initialisation(snapstart, monkeypatch):
    monkeypatch.delenv("AWS_LAMBDA_INITIALIZATION_TYPE")
    stream._register_snapstart_hooks()
    assert snapstart == {"before": [], "after": []}


# ---- the real zip ----------------------------------------------------------------------------

@pytest.fixture(scope="session")
def built(tmp_path_factory):
    """infra/package.py run once for the session, with the template's runtime Python."""
    python = package.find_python(RUNTIME)
    if subprocess.run([python, "-c", ""], capture_output=True, check=False).returncode:
        pytest.skip(f"no Python {RUNTIME[0]}.{RUNTIME[1]} interpreter to build with")
    work = tmp_path_factory.mktemp("package")
    summary = package.build(python, work / "lambda.zip", work / "build")
    unzipped = work / "task"
    with zipfile.ZipFile(work / "lambda.zip") as archive:
        names = archive.namelist()
        archive.extractall(unzipped)
    info = package.interpreter(python)
    return types.SimpleNamespace(python=python, zip=work / "lambda.zip", names=names,
                                 root=unzipped, info=info, summary=summary, work=work)


def test_the_zip_leaves_out_what_the_function_never_imports(built):
    for gone in ("sqlalchemy/orm/", "sqlalchemy/ext/", "sqlalchemy/dialects/mssql/",
                 "ddbproj/handlers/commands/", "ddbproj/handlers/cli.py",
                 "aws_lambda_powertools/utilities/parser/"):
        assert not [n for n in built.names if n.startswith(gone)], gone
    assert "sqlalchemy/dialects/mysql/pymysql.py" in built.names
    zipped, unzipped = package.zip_sizes(built.zip)
    assert zipped < 8 * 2**20
    assert unzipped < 24 * 2**20


def test_the_zip_holds_no_test_code_and_no_pytest_plugin(built):
    assert not [n for n in built.names if n.startswith("sqlalchemy/testing/")]
    assert not [n for n in built.names if "/tests/" in n or n.startswith("tests/")]
    assert not [n for n in built.names if "pytest_plugin" in n]
    assert not [n for n in built.names if n.endswith((".pyi", ".so", "/RECORD", "/INSTALLER"))]
    assert not [n for n in built.names if n.startswith(("boto3/", "botocore/"))]
    assert "ddbproj/handlers/stream.py" in built.names


def test_the_zip_ships_projections_as_the_repository_has_them(built):
    shipped = {n.removeprefix("projections/") for n in built.names
               if n.startswith("projections/") and "__pycache__" not in n}
    expected = {p.name for p in (REPO / "projections").glob("*.py")}
    assert shipped == expected
    assert {"users.py", "orders.py", "__init__.py"} <= shipped
    for name in expected:
        assert (built.root / "projections" / name).read_bytes() == (
            REPO / "projections" / name).read_bytes()


def test_dist_info_holds_metadata_entry_points_and_licenses_only(built):
    extra = [n for n in built.names if ".dist-info/" in n
             and not n.split(".dist-info/")[1].startswith(("METADATA", "entry_points.txt",
                                                          "licenses/", "LICENSE"))]
    assert extra == []
    versions = {d.metadata["Name"].lower(): d.version
                for d in importlib.metadata.distributions(path=[str(built.root)])}
    assert versions["sqlalchemy"] == importlib.metadata.version("sqlalchemy")
    assert versions["pymysql"] == importlib.metadata.version("pymysql")


def test_every_module_has_bytecode_of_the_runtimes_python(built):
    assert built.info["version"].startswith(f"{RUNTIME[0]}.{RUNTIME[1]}.")
    sources = [n for n in built.names if n.endswith(".py")]
    assert len(sources) > 200
    magic = bytes.fromhex(built.info["magic"])
    assert package.missing_bytecode(built.root, magic, built.info["cache_tag"]) == []


def isolated(built, code, *, env=None, cwd):
    """Run ``code`` in ``python -I -B`` of the runtime with the unzipped zip first on the path."""
    prelude = f"import sys; sys.path.insert(0, {str(built.root)!r}); "
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    return subprocess.run([built.python, "-I", "-B", "-c", prelude + code], capture_output=True,
                          text=True, check=False, cwd=cwd, env={**clean, **(env or {})})


def test_the_handler_imports_from_the_unzipped_zip_in_an_isolated_interpreter(built, tmp_path):
    done = isolated(built, (
        "import json, os, ddbproj.handlers.stream as s, sqlalchemy, pymysql, cattrs; "
        "print(json.dumps({'handler': callable(s.handler), "
        "'files': [m.__file__ for m in (s, sqlalchemy, pymysql, cattrs)], "
        "'postgresql': 'sqlalchemy.dialects.postgresql' in sys.modules, "
        "'boto3': 'boto3' in sys.modules, 'cwd': os.getcwd()}))"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["handler"] is True
    root = str(built.root.resolve())
    assert all(os.path.realpath(f).startswith(root + os.sep) for f in found["files"]), found
    assert found["postgresql"] is False
    assert found["boto3"] is False
    assert found["cwd"] == str(tmp_path)


def test_the_runtime_reads_the_bytecode_not_the_source(built, tmp_path):
    """Unchecked hash-based bytecode: a changed source is not even read (as on Lambda's
    read-only filesystem, nothing is compiled or written)."""
    broken = tmp_path / "task"
    import shutil

    shutil.copytree(built.root, broken)
    for relative in ("ddbproj/handlers/stream.py", "sqlalchemy/engine/base.py"):
        with (broken / relative).open("a", encoding="utf-8") as handle:
            handle.write("\nraise RuntimeError('the source was compiled')\n")
    copy = types.SimpleNamespace(python=built.python, root=broken)
    done = isolated(copy, "import ddbproj.handlers.stream; print('imported')", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "imported"
    assert not list((broken / "ddbproj/handlers/__pycache__").glob("*.opt-*.pyc"))


@pytest.mark.mysql
def test_a_batch_from_the_unzipped_zip_writes_rows_and_a_dead_letter(built, tmp_path,
                                                                      projection_db, mysql_url):
    builder = StreamEventBuilder()
    event = builder.event([
        builder.insert({"PK": "USER#1", "SK": "PROFILE", "entity_type": "User", "Id": 1,
                        "Name": "Ada", "Age": 36, "Height": 170, "Weight": 60}),
        builder.insert({"PK": "USER#2", "SK": "PROFILE", "entity_type": "User", "Id": 2,
                        "Name": "Bob", "Age": "old", "Height": 180, "Weight": 80}),
    ])
    (tmp_path / "event.json").write_text(json.dumps(event), "utf-8")
    done = isolated(built, (
        "import json, ddbproj.handlers.stream as s; "
        "print(json.dumps(s.handler(json.load(open('event.json')), None)))"),
        env={"DATABASE_URL": mysql_url, "PROJECTIONS": "projections"}, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"batchItemFailures": []}
    with projection_db.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT id, name FROM users").fetchall() == [(1, "Ada")]
        letters = conn.exec_driver_sql("SELECT error FROM ddbproj_dead_letters").fetchall()
    assert len(letters) == 1
    assert "attribute 'Age': expected a number" in letters[0][0]
