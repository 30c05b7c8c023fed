"""Build the Lambda zip (dist/lambda.zip): one that starts fast and holds what the tests ran.

``python infra/package.py --python PYTHON`` (``make package`` runs it):

1. reads the function's ``Runtime`` from infra/template.yaml and refuses, in one line, a
   build interpreter of another Python version: bytecode is only read by the Python that
   wrote it;
2. installs the runtime dependencies of pyproject.toml (not boto3: the runtime has it) at the
   versions of constraints.txt, as pure-Python wheels, so the zip is the same on arm64 and
   x86_64 and the zip measured here is the zip deployed;
3. copies ``ddbproj`` and the application's ``projections/`` as they are;
4. removes what the handler never imports (tests, SQLAlchemy's testing package, the pytest
   plugin, stubs, scripts; SQLAlchemy's ORM, unused dialects and Powertools utilities unless
   a kept module imports them) and the parts of ``*.dist-info`` that ``importlib.metadata``
   does not read;
5. compiles every module with that interpreter into ``__pycache__`` with
   ``--invalidation-mode unchecked-hash``: the runtime reads the bytecode without comparing
   it with the source and never needs to write (the function's filesystem is read-only).
   The sources stay beside it, so a traceback shows the line, not only its number;
6. writes a reproducible zip (sorted entries, fixed times) and prints its sizes.
"""

from __future__ import annotations

import argparse
import ast
import fnmatch
import json
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TEMPLATE = REPO / "infra" / "template.yaml"
SAMCONFIG = REPO / "infra" / "samconfig.toml"
CONSTRAINTS = REPO / "constraints.txt"
PYPROJECT = REPO / "pyproject.toml"

#: Distributions the Lambda Python runtime already provides (and keeps patched).
PROVIDED_BY_RUNTIME = ("boto3", "botocore", "s3transfer")

#: The application's code copied beside the dependencies: ``ddbproj`` (its subpackages are
#: links to core/, adapters/, handlers/, followed) and the application's projectors.
APPLICATION = ("ddbproj", "projections")

#: Paths (relative to the package root, shell patterns matched against every path) the
#: handler never imports. Directories match as a whole.
NEVER_IMPORTED = (
    "bin",
    "*/__pycache__",
    "__pycache__",
    "*/tests",
    "*/test",
    "sqlalchemy/testing",
    "sqlalchemy/dialects/*/provision.py",
    "ddbproj/handlers/pytest_plugin.py",
    "*.pyi",
    "*.pxd",
    "*.pyx",
)

#: Modules and packages a cold start and its batches never import (measured: the modules a
#: cold start and two batches load from the zip; tests/test_package.py runs a batch with a
#: dead letter from it). Each is removed
#: only while no kept module imports it, even lazily inside a function (``if TYPE_CHECKING``
#: blocks aside): what something kept could import stays. The MySQL dialect is the one the
#: function uses; SQLite stays (its driver is the standard library's).
UNUSED_BY_THE_FUNCTION = (
    "sqlalchemy/orm",
    "sqlalchemy/ext",
    "sqlalchemy/dialects/mssql",
    "sqlalchemy/dialects/oracle",
    "sqlalchemy/dialects/postgresql",
    "aws_lambda_powertools/event_handler/*",
    "aws_lambda_powertools/utilities/*",
    "ddbproj/handlers/cli.py",
    "ddbproj/handlers/commands",
)

#: What ``importlib.metadata`` reads in a ``*.dist-info``: METADATA (name, version),
#: entry_points.txt (ddbproj reads the ``ddbproj.projections`` group); the licenses stay
#: because the packages' licenses ask that their notice travel with every copy.
DIST_INFO_KEPT = ("METADATA", "entry_points.txt", "licenses", "LICENSE*", "COPYING*", "NOTICE*",
                  "AUTHORS*")

#: The fixed time of every zip entry, so that the same inputs give the same zip.
ZIP_TIME = (1980, 1, 1, 0, 0, 0)


class PackageError(Exception):
    """A build that must stop; the message is one line saying what to do."""


# ---- the runtime rule ----------------------------------------------------------------------

_RUNTIME_LINE = re.compile(r"^\s*Runtime:\s*[\"']?python(\d+)\.(\d+)[\"']?\s*(#.*)?$")


def template_runtime(template: Path = TEMPLATE) -> tuple[int, int]:
    """The Python version of the template's ``Runtime: pythonX.Y`` (exactly one may be set)."""
    found = {(int(m[1]), int(m[2]))
             for m in map(_RUNTIME_LINE.match, template.read_text("utf-8").splitlines()) if m}
    if len(found) != 1:
        versions = ", ".join(f"python{a}.{b}" for a, b in sorted(found)) or "none"
        raise PackageError(f"{template}: expected one Runtime: pythonX.Y, found {versions}")
    return found.pop()


def interpreter(python: str) -> dict[str, str]:
    """Version, bytecode magic number and cache tag of the interpreter at ``python``."""
    probe = ("import importlib.util, json, sys; print(json.dumps({"
             "'version': '.'.join(map(str, sys.version_info[:3])), "
             "'magic': importlib.util.MAGIC_NUMBER.hex(), "
             "'cache_tag': sys.implementation.cache_tag, 'executable': sys.executable}))")
    try:
        done = subprocess.run([python, "-I", "-c", probe], capture_output=True, text=True,
                              check=True)
    except (OSError, subprocess.CalledProcessError) as error:
        raise PackageError(f"build interpreter {python!r} does not run ({error}); give one "
                           "with --python (make package LAMBDA_PYTHON=...)") from None
    found: dict[str, str] = json.loads(done.stdout)
    return found


def find_python(runtime: tuple[int, int], home: Path | None = None) -> str:
    """An interpreter of the runtime's Python: ``pythonX.Y`` on the PATH when it runs, else
    one installed by pyenv; else the bare name (the build then says it does not run)."""
    name = f"python{runtime[0]}.{runtime[1]}"
    candidates: list[str] = []
    on_path = shutil.which(name)
    if on_path:
        candidates.append(on_path)
    pyenv = (home or Path.home()) / ".pyenv" / "versions"
    candidates += [str(p) for p in sorted(pyenv.glob(f"{runtime[0]}.{runtime[1]}.*/bin/{name}"),
                                          reverse=True)]
    for candidate in candidates:
        done = subprocess.run([candidate, "-I", "-c", ""], capture_output=True, check=False)
        if done.returncode == 0:
            return candidate
    return name


def check_runtime(runtime: tuple[int, int], version: str, python: str) -> None:
    """Raise unless the build interpreter is the runtime's Python (major.minor)."""
    built = tuple(int(part) for part in version.split(".")[:2])
    if built != runtime:
        wanted = f"{runtime[0]}.{runtime[1]}"
        raise PackageError(
            f"infra/template.yaml says Runtime: python{wanted} but the build interpreter "
            f"{python} is Python {version}: build with a Python {wanted} "
            f"(make package LAMBDA_PYTHON=/path/to/python{wanted}) or change Runtime")


def snapstart_setting(template: Path = TEMPLATE, samconfig: Path = SAMCONFIG) -> str:
    """The SnapStart value a deploy uses: samconfig's override, else the template default."""
    value = "None"
    lines = template.read_text("utf-8").splitlines()
    for index, line in enumerate(lines):
        if line.strip() == "SnapStart:" and index + 1 < len(lines) and "Type:" in lines[index + 1]:
            for following in lines[index + 1:index + 8]:
                default = re.match(r"^\s*Default:\s*[\"']?(\w+)", following)
                if default:
                    value = default[1]
                    break
    if samconfig.exists():
        with samconfig.open("rb") as handle:
            config = tomllib.load(handle)
        for environment in config.values():
            if not isinstance(environment, dict):
                continue
            overrides = environment.get("deploy", {}).get("parameters", {}).get(
                "parameter_overrides", "")
            text = " ".join(overrides) if isinstance(overrides, list) else str(overrides)
            found = re.search(r"(?:^|\s)SnapStart=[\"']?(\w+)", text)
            if found:
                value = found[1]
    return value


def check_snapstart(runtime: tuple[int, int], setting: str) -> None:
    """SnapStart for Python needs python3.12 or later."""
    if setting != "None" and runtime < (3, 12):
        raise PackageError(
            f"SnapStart={setting} needs Runtime python3.12 or later; the template says "
            f"python{runtime[0]}.{runtime[1]}")


# ---- dependencies --------------------------------------------------------------------------

def runtime_requirements(pyproject: Path = PYPROJECT) -> list[str]:
    """pyproject's dependencies less those the Lambda runtime provides."""
    with pyproject.open("rb") as handle:
        dependencies: list[str] = tomllib.load(handle)["project"]["dependencies"]
    return [d for d in dependencies
            if re.split(r"[\s<>=!~;\[]", d, maxsplit=1)[0].lower() not in PROVIDED_BY_RUNTIME]


def install_dependencies(root: Path, requirements: Sequence[str], runtime: tuple[int, int],
                         constraints: Path = CONSTRAINTS) -> None:
    """Pure-Python wheels for the runtime's Python at the pinned versions, without bytecode
    (this interpreter's bytecode would be of the wrong version)."""
    if not constraints.exists():
        raise PackageError(f"{constraints} is missing: run make lock")
    listed = root.parent / "requirements.txt"
    listed.write_text("\n".join(requirements) + "\n", "utf-8")
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
               "--no-compile", "--target", str(root), "--only-binary=:all:",
               "--platform", "any", "--implementation", "py",
               "--python-version", f"{runtime[0]}.{runtime[1]}",
               "-c", str(constraints), "-r", str(listed)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines()
                 if line.strip() and "is ignored: it is neither a file nor a directory" not in line]
        raise PackageError("pip could not install the pinned pure-Python wheels: "
                           + " | ".join(lines[-4:]))


def copy_application(root: Path, repo: Path = REPO) -> None:
    """``ddbproj`` (links followed) and ``projections/`` exactly as the repository has them."""
    for name in APPLICATION:
        shutil.copytree(repo / name, root / name, symlinks=False,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


# ---- what the function never reads --------------------------------------------------------

def _relative_paths(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        yield path.relative_to(root)


def prune(root: Path, patterns: Iterable[str] = NEVER_IMPORTED) -> list[str]:
    """Remove every path matching one of ``patterns``; the removed paths, sorted."""
    patterns = tuple(patterns)
    removed = []
    for relative in list(_relative_paths(root)):
        path = root / relative
        if not path.exists() and not path.is_symlink():
            continue  # inside a directory removed already
        text = relative.as_posix()
        if any(fnmatch.fnmatchcase(text, pattern) for pattern in patterns):
            removed.append(text)
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
    return removed


def prune_unreferenced(root: Path, candidates: Iterable[str] = UNUSED_BY_THE_FUNCTION
                       ) -> tuple[list[str], list[str]]:
    """Remove the candidates (shell patterns of module files or package folders) that no
    kept module imports; the removed paths and the candidates kept because something kept
    imports them, both sorted."""
    paths = sorted({relative.as_posix() for pattern in candidates
                    for relative in (p.relative_to(root) for p in root.glob(pattern))
                    if (relative.suffix == ".py" and relative.name != "__init__.py")
                    or (root / relative).is_dir()})
    module_of = {path: path.removesuffix(".py").replace("/", ".") for path in paths}
    doomed = set(paths)
    while True:
        gone = [module_of[path] for path in doomed]
        referenced = {line.split(": ", 1)[1] for line in
                      imports_of_removed(root, gone, skip=[root / p for p in doomed])}
        saved = {path for path in doomed
                 if any(r == module_of[path] or r.startswith(module_of[path] + ".")
                        for r in referenced)}
        if not saved:
            break
        doomed -= saved
    for path in sorted(doomed):
        target = root / path
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink()
    return sorted(doomed), sorted(set(paths) - doomed)


def trim_dist_info(root: Path, kept: Iterable[str] = DIST_INFO_KEPT) -> list[str]:
    """Keep in each ``*.dist-info`` only what ``importlib.metadata`` reads, and licenses."""
    kept = tuple(kept)
    removed = []
    for info in sorted(root.glob("*.dist-info")):
        for entry in sorted(info.iterdir()):
            if not any(fnmatch.fnmatchcase(entry.name, pattern) for pattern in kept):
                removed.append(entry.relative_to(root).as_posix())
                if entry.is_dir():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
    return removed


def imports_of_removed(root: Path, removed_modules: Iterable[str],
                       skip: Iterable[Path] = ()) -> list[str]:
    """``file: module`` for every import statement of a kept module (at any depth, lazy
    imports included) that names a removed module: what would fail at run time. Sources
    under ``skip`` count as removed already."""
    gone = tuple(removed_modules)
    skipped = tuple(skip)
    found = []
    for source in sorted(root.rglob("*.py")):
        if any(source == s or s in source.parents for s in skipped):
            continue
        module = ".".join(source.relative_to(root).with_suffix("").parts)
        if module.endswith(".__init__"):
            module = module.removesuffix(".__init__")
        try:
            tree = ast.parse(source.read_bytes())
        except SyntaxError:
            continue
        for node in _runtime_nodes(tree):
            for name in _imported_names(node, module, source.name == "__init__.py"):
                if any(name == g or name.startswith(g + ".") for g in gone):
                    found.append(f"{source.relative_to(root).as_posix()}: {name}")
    return found


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node except those under ``if TYPE_CHECKING:`` (never run)."""
    pending = [tree]
    while pending:
        node = pending.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                pending.extend(child.orelse)
                continue
            pending.append(child)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imported_names(node: ast.AST, module: str, is_package: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        if node.level:
            parts = module.split(".")
            base = parts if is_package else parts[:-1]
            base = base[:len(base) - node.level + 1]
            prefix = ".".join([*base, node.module] if node.module else base)
        else:
            prefix = node.module or ""
        return [prefix, *(f"{prefix}.{alias.name}" for alias in node.names)]
    return []


# ---- bytecode ------------------------------------------------------------------------------

def compile_bytecode(root: Path, python: str) -> None:
    """Every module compiled by the runtime's Python, read without checking its source."""
    done = subprocess.run(
        [python, "-I", "-m", "compileall", "-q", "-j", "0", "--invalidation-mode",
         "unchecked-hash", str(root)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise PackageError("compileall failed: " + (done.stdout + done.stderr).strip()[-400:])


def missing_bytecode(root: Path, magic: bytes, cache_tag: str) -> list[str]:
    """Sources without a ``__pycache__/NAME.CACHE_TAG.pyc`` that the interpreter of ``magic``
    reads as is: its magic number, and the flags of an unchecked hash-based pyc (PEP 552)."""
    missing = []
    for source in sorted(root.rglob("*.py")):
        cached = source.parent / "__pycache__" / f"{source.stem}.{cache_tag}.pyc"
        header = cached.read_bytes()[:8] if cached.exists() else b""
        if header[:4] != magic or int.from_bytes(header[4:8], "little") != 0b01:
            missing.append(source.relative_to(root).as_posix())
    return missing


# ---- the zip -------------------------------------------------------------------------------

def write_zip(root: Path, target: Path) -> None:
    """Every file under ``root``, sorted, with fixed times and modes: same inputs, same bytes."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".zip.partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for relative in _relative_paths(root):
            path = root / relative
            if path.is_dir():
                continue
            info = zipfile.ZipInfo(relative.as_posix(), date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 3  # Unix, so the mode above is read
            zf.writestr(info, path.read_bytes(), compresslevel=9)
    partial.replace(target)


def zip_sizes(target: Path) -> tuple[int, int]:
    """Bytes of the zip and of what it unpacks to."""
    with zipfile.ZipFile(target) as zf:
        return target.stat().st_size, sum(info.file_size for info in zf.infolist())


def mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


# ---- the build -----------------------------------------------------------------------------

def build(python: str, target: Path, work: Path, *, template: Path = TEMPLATE,
          repo: Path = REPO, constraints: Path = CONSTRAINTS) -> dict[str, object]:
    """The whole build; what it found and did, for the summary."""
    runtime = template_runtime(template)
    found = interpreter(python)
    check_runtime(runtime, found["version"], python)
    check_snapstart(runtime, snapstart_setting(template))
    root = work / "lambda"
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    install_dependencies(root, runtime_requirements(repo / "pyproject.toml"), runtime,
                         constraints)
    copy_application(root, repo)
    removed = prune(root)
    unused, kept = prune_unreferenced(root)
    removed += unused + trim_dist_info(root)
    broken = imports_of_removed(root, _removed_modules(removed))
    if broken:
        raise PackageError("kept modules import removed ones: " + "; ".join(broken[:5]))
    compile_bytecode(root, python)
    missing = missing_bytecode(root, bytes.fromhex(found["magic"]), found["cache_tag"])
    if missing:
        raise PackageError(f"{len(missing)} modules have no usable bytecode: {missing[:3]}")
    write_zip(root, target)
    zipped, unzipped = zip_sizes(target)
    return {"runtime": f"python{runtime[0]}.{runtime[1]}", "python": found["executable"],
            "version": found["version"], "zip": str(target), "zipped": zipped,
            "unzipped": unzipped, "removed": len(removed), "unused_removed": unused,
            "unused_kept": kept, "root": str(root)}


def _removed_modules(removed: Iterable[str]) -> list[str]:
    """Module names of removed sources and packages (not caches, stubs, metadata)."""
    modules = []
    for path in removed:
        if "__pycache__" in path or ".dist-info" in path or path == "bin":
            continue
        if path.endswith((".pyi", ".pxd", ".pyx")):
            continue
        modules.append(path.removesuffix(".py").replace("/", "."))
    return modules


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python infra/package.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--python", default=sys.executable,
                        help="the build interpreter: the template's runtime Python "
                        "(default: this one)")
    parser.add_argument("--zip", type=Path, default=REPO / "dist" / "lambda.zip")
    parser.add_argument("--work", type=Path, default=REPO / "build")
    parser.add_argument("--find-python", action="store_true",
                        help="print an interpreter of the template's runtime Python and exit")
    args = parser.parse_args(argv)
    try:
        if args.find_python:
            print(find_python(template_runtime()))
            return 0
        summary = build(args.python, args.zip, args.work)
    except PackageError as error:
        print(f"package: error: {error}", file=sys.stderr)
        return 2
    print(f"package: {summary['zip']} for {summary['runtime']} (bytecode by Python "
          f"{summary['version']}, {summary['python']}): {mib(int(str(summary['zipped'])))} "
          f"zipped, {mib(int(str(summary['unzipped'])))} unzipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
