"""Cold start: a fresh interpreter imports ``ddbproj.handlers.stream`` and applies its first batch.

Two ways to run it:

``python -m bench.coldstart FIRST.json SECOND.json`` (``DATABASE_URL`` set) measures in this
interpreter's environment (the dev venv).

``python -m bench.coldstart --zip dist/lambda.zip --python PYTHON`` measures the Lambda zip
itself: it unpacks the zip into a temporary folder, creates a fresh database on the test
server, writes two events of 1,000 User records, and runs ``PYTHON -I -B`` (isolated, no
bytecode written: the function's filesystem is read-only) in another working folder with the
package first on ``sys.path``, as the runtime puts the function's folder. It prints the zip's
sizes and, over several fresh interpreters, the import, the runtime's ``json.loads`` of each
event, the first and the second batch.

The measuring part (``measure``) uses the standard library only, so it runs under the
runtime's Python without the dev venv.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

HEAVY = ("boto3", "botocore", "sqlalchemy", "pymysql", "cattrs",
         "sqlalchemy.dialects.postgresql", "sqlalchemy.dialects.sqlite", "sqlalchemy.orm")


def measure(first_path: str, second_path: str, package: str | None = None,
            modules_out: str | None = None) -> dict[str, Any]:
    """Import the handler, then parse and apply two events as the runtime would."""
    if package:
        sys.path.insert(0, package)
    raws = []
    for path in (first_path, second_path):
        with open(path, encoding="utf-8") as handle:
            raws.append(handle.read())
    began = time.perf_counter()
    import ddbproj.handlers.stream

    imported = time.perf_counter()
    loaded = sorted(name for name in HEAVY if name in sys.modules)
    timings: dict[str, float] = {}
    last = imported
    collections_before = sum(stat["collections"] for stat in gc.get_stats())
    for label, raw in zip(("first", "second"), raws, strict=True):
        event = json.loads(raw)
        parsed = time.perf_counter()
        response = ddbproj.handlers.stream.handler(event, None)
        done = time.perf_counter()
        if response["batchItemFailures"]:
            raise SystemExit(f"cold start: the {label} batch failed")
        timings[f"parse_{label}_ms"] = (parsed - last) * 1000
        timings[f"{label}_batch_ms"] = (done - parsed) * 1000
        last = done
    found: dict[str, Any] = {
        "import_ms": (imported - began) * 1000,
        **timings,
        "collections_after_import": sum(stat["collections"] for stat in gc.get_stats())
        - collections_before,
        "loaded_by_import": loaded,
        "boto3_after_first_batch": "boto3" in sys.modules,
        "python": ".".join(map(str, sys.version_info[:3])),
    }
    if package:
        from_package = _modules_under(package)
        found["modules_from_package"] = len(from_package)
        found["compiled_from_source"] = [
            name for name, path in from_package.items() if not _has_bytecode(path)]
        if modules_out:
            with open(modules_out, "w", encoding="utf-8") as handle:
                handle.write("\n".join(sorted(from_package)) + "\n")
    return found


def _modules_under(folder: str) -> dict[str, str]:
    root = os.path.realpath(folder) + os.sep
    found = {}
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if path and os.path.realpath(path).startswith(root):
            found[name] = path
    return found


def _has_bytecode(path: str) -> bool:
    import importlib.util

    if not path.endswith(".py"):
        return True  # an extension module or a sourceless .pyc
    return os.path.exists(importlib.util.cache_from_source(path))


# ---- measuring a zip (dev venv) ------------------------------------------------------------

def measure_zip(zip_path: Path, python: str, *, runs: int = 7, records: int = 1_000,
                database_url: str | None = None) -> dict[str, Any]:
    """Sizes of the zip, and the medians (and minimums) of ``runs`` fresh cold starts."""
    from bench import workload
    from bench.database import fresh_database

    with zipfile.ZipFile(zip_path) as archive:
        unzipped = sum(info.file_size for info in archive.infolist())
    with tempfile.TemporaryDirectory() as workdir, fresh_database() as fresh:
        url = database_url or fresh
        package = os.path.join(workdir, "task")
        with zipfile.ZipFile(zip_path) as archive:
            archive.extractall(package)
        events = []
        for index in range(2):
            path = os.path.join(workdir, f"event-{index}.json")
            with open(path, "w", encoding="utf-8") as handle:
                json.dump({"Records": list(workload.records(
                    "User", records, start=index * records))}, handle)
            events.append(path)
        elsewhere = os.path.join(workdir, "cwd")
        os.mkdir(elsewhere)
        modules = os.path.join(workdir, "modules.txt")
        samples = []
        for run in range(runs):
            empty_tables(url)
            samples.append(run_isolated(python, package, events, cwd=elsewhere,
                                        env={"DATABASE_URL": url, "PROJECTIONS": "projections"},
                                        modules_out=modules if run == 0 else None))
        with open(modules, encoding="utf-8") as handle:
            imported = handle.read().split()
    keys = [k for k, v in samples[0].items() if k.endswith("_ms") and isinstance(v, float)]
    summary: dict[str, Any] = {
        "zip": str(zip_path), "zipped": zip_path.stat().st_size, "unzipped": unzipped,
        "runs": runs, "records": records, "python": samples[0]["python"],
        "median": {k: statistics.median(s[k] for s in samples) for k in keys},
        "min": {k: min(s[k] for s in samples) for k in keys},
        "loaded_by_import": samples[0]["loaded_by_import"],
        "boto3_after_first_batch": samples[0]["boto3_after_first_batch"],
        "compiled_from_source": sorted({m for s in samples for m in s["compiled_from_source"]}),
        "modules_from_package": imported,
    }
    return summary


def run_isolated(python: str, package: str, events: list[str], *, cwd: str,
                 env: dict[str, str], modules_out: str | None = None) -> dict[str, Any]:
    """One cold start in a fresh ``python -I -B`` (no venv, no bytecode written)."""
    argv = [python, "-I", "-B", os.path.abspath(__file__), "--measure", "--package", package,
            *events]
    if modules_out:
        argv += ["--modules-out", modules_out]
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    done = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=cwd,
                          env={**clean, **env})
    if done.returncode != 0:
        raise RuntimeError(f"cold start from {package} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def empty_tables(url: str) -> None:
    """The projectors' tables, created when missing and emptied, as a deployed function finds
    them (``ddbproj schema --apply`` ran before it): every cold start writes the same rows."""
    from ddbproj.adapters.engine import make_engine
    from ddbproj.adapters.sink import SqlSink
    from ddbproj.core.loading import load_registry

    engine = make_engine(url)
    try:
        SqlSink(engine, load_registry(["projections"])).create_schema()
        with engine.begin() as conn:
            for (name,) in conn.exec_driver_sql("SHOW TABLES").fetchall():
                conn.exec_driver_sql(f"DELETE FROM `{name}`")
    finally:
        engine.dispose()


def report(summary: dict[str, Any]) -> str:
    """The lines ``make package`` prints."""
    median, least = summary["median"], summary["min"]
    mib = 2**20
    lines = [
        f"{summary['zip']}: {summary['zipped'] / mib:.1f} MiB zipped, "
        f"{summary['unzipped'] / mib:.1f} MiB unzipped",
        f"cold start from the unzipped zip (Python {summary['python']} -I -B, "
        f"{summary['runs']} fresh interpreters, median / min; "
        f"{summary['records']:,} User records per batch on the local server):",
        f"  import ddbproj.handlers.stream  {median['import_ms']:6.0f} / "
        f"{least['import_ms']:4.0f} ms",
        f"  json.loads of the first event   {median['parse_first_ms']:6.0f} / "
        f"{least['parse_first_ms']:4.0f} ms  (the runtime's)",
        f"  first batch                     {median['first_batch_ms']:6.0f} / "
        f"{least['first_batch_ms']:4.0f} ms  (registry, engine, connection, tables)",
        f"  second batch                    {median['second_batch_ms']:6.0f} / "
        f"{least['second_batch_ms']:4.0f} ms",
        f"  imported: {', '.join(summary['loaded_by_import'])}; "
        f"{len(summary['modules_from_package'])} modules from the package, "
        f"{len(summary['compiled_from_source'])} compiled from source"
        f"{'' if summary['boto3_after_first_batch'] else '; boto3 not loaded'}",
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.coldstart", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("events", nargs="*", help="FIRST.json SECOND.json")
    parser.add_argument("--zip", type=Path, help="measure this Lambda zip")
    parser.add_argument("--python", default=sys.executable,
                        help="the runtime's Python for --zip (default: this one)")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--package", help=argparse.SUPPRESS)
    parser.add_argument("--modules-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.zip:
        summary = measure_zip(args.zip, args.python, runs=args.runs)
        print(json.dumps(summary) if args.json else report(summary))
        return 0
    if len(args.events) != 2:
        parser.error("give FIRST.json SECOND.json, or --zip")
    print(json.dumps(measure(args.events[0], args.events[1], args.package, args.modules_out)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
