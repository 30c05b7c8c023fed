"""``python -m bench [--quick]``: every path on the same events, interleaved, in one process.

Prints Markdown: per workload a table of medians, records/s, peak RSS and the ratio to
ddbproj on MariaDB; then the targets, the memory runs (each in a fresh interpreter) and
the cold start.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import attrs

from bench import coldstart, rss, workload
from bench.database import fresh_database
from bench.paths import (
    BenchPath,
    DdbprojPath,
    HandWrittenPath,
    NaivePath,
    UsualLibrariesPath,
)

MYSQL = "ddbproj (MariaDB)"
SQLITE = "ddbproj (SQLite)"
HAND = "hand-written"
USUAL = "usual libraries"
NAIVE = "naive"


@attrs.define
class Case:
    entity: str
    size: str
    records: int
    payload: int
    times: dict[str, list[float]] = attrs.Factory(dict)
    run_records: dict[str, int] = attrs.Factory(dict)
    peaks: dict[str, list[float]] = attrs.Factory(dict)

    def median(self, path: str) -> float:
        return statistics.median(self.times[path])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="1k and full batches only, 3 rounds, one memory run (~1 minute)")
    parser.add_argument("--entities", default="User,Order", help="default: User,Order")
    parser.add_argument("--rounds", type=int, default=0, help="override rounds per workload")
    parser.add_argument("--naive-sample", type=int, default=500,
                        help="records the naive path runs per batch; its time is scaled "
                        "(default 500)")
    parser.add_argument("--no-memory", action="store_true", help="skip memory and cold start")
    parser.add_argument("--zip", default="",
                        help="also measure the cold start from this Lambda zip (make bench: "
                        "dist/lambda.zip)")
    parser.add_argument("--zip-python", default=sys.executable,
                        help="the runtime's Python for --zip (make bench: LAMBDA_PYTHON)")
    parser.add_argument("--order-100k", action="store_true",
                        help="also time 100k Order records as one event (~1 GiB of event "
                        "dicts; adds ~3 minutes)")
    args = parser.parse_args(argv)

    sizes = [("1k", 1_000, 7), ("full 6 MB", 0, 5), ("10k", 10_000, 5), ("100k", 100_000, 3)]
    if args.quick:
        sizes = [("1k", 1_000, 3), ("full 6 MB", 0, 3)]
    entities = [e.strip() for e in args.entities.split(",") if e.strip()]

    print(f"# ddbproj benchmark — {datetime.date.today().isoformat()}\n")
    print(_machine() + "\n")
    began = time.perf_counter()
    with fresh_database() as url, tempfile.TemporaryDirectory() as workdir:
        paths: list[BenchPath] = [
            DdbprojPath(url, name=MYSQL, label="ddbproj handler path on MariaDB"),
            DdbprojPath(f"sqlite:///{workdir}/bench.db", name=SQLITE,
                        label="ddbproj handler path on SQLite (file, WAL)"),
            HandWrittenPath(url),
            UsualLibrariesPath(url),
            NaivePath(url, sample=args.naive_sample),
        ]
        try:
            cases = []
            for entity in entities:
                for size, wanted, rounds in sizes:
                    if entity == "Order" and wanted == 100_000 and not args.order_100k:
                        continue
                    count = wanted or workload.full_batch_size(entity)
                    cases.append(_run_case(paths, entity, size, count,
                                           args.rounds or rounds))
                    _print_case(cases[-1])
            _print_targets(cases)
            if not args.no_memory:
                for path in paths:
                    path.reset()
                _memory(url, entities, workdir, quick=args.quick)
                for path in paths:
                    path.reset()
                _cold_start(url, workdir, args.zip, args.zip_python)
        finally:
            for path in paths:
                path.close()
    print(f"\n_total run time {time.perf_counter() - began:.0f} s_")
    return 0


def _run_case(paths: list[BenchPath], entity: str, size: str, count: int, rounds: int) -> Case:
    event = workload.event(entity, count)
    case = Case(entity, size, count, workload.payload_bytes(event))
    print(f"_running {entity} x {count:,} ({rounds} rounds)…_", file=sys.stderr, flush=True)
    for round_index in range(rounds):
        shift = round_index % len(paths)
        for path in paths[shift:] + paths[:shift]:
            path.reset()
            gc.collect()
            rss.reset_peak()
            started = time.perf_counter()
            done = path.run(entity, event)
            seconds = time.perf_counter() - started
            peak = rss.peak_mib()
            case.times.setdefault(path.name, []).append(seconds * count / done)
            case.run_records[path.name] = done
            case.peaks.setdefault(path.name, []).append(peak)
    del event
    gc.collect()
    return case


def _print_case(case: Case) -> None:
    base = case.median(MYSQL)
    print(f"\n### {case.entity} x {case.records:,} records ({case.size}; "
          f"payload {case.payload / 1024 / 1024:.1f} MiB)\n")
    print("| path | records run | median ms | min ms | records/s | peak RSS MiB (process) "
          "| x ddbproj (MariaDB) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, times in case.times.items():
        median = statistics.median(times)
        peak = max(case.peaks[name])
        ran = case.run_records[name]
        note = f"{ran:,} (scaled)" if ran != case.records else f"{ran:,}"
        print(f"| {name} | {note} | {median * 1000:,.0f} | {min(times) * 1000:,.0f} "
              f"| {case.records / median:,.0f} | {peak:,.0f} "
              f"| {median / base:.2f} |")
    sys.stdout.flush()


def _print_targets(cases: list[Case]) -> None:
    print("\n### Targets (ratios of medians from the same interleaved run)\n")
    print("| workload | ddbproj / hand-written (≤ 1.15) | usual / ddbproj (≥ 2.5) "
          "| naive / ddbproj (≥ 15) |")
    print("|---|---:|---:|---:|")
    for case in cases:
        ddb = case.median(MYSQL)
        print(f"| {case.entity} x {case.records:,} | {ddb / case.median(HAND):.2f} "
              f"| {case.median(USUAL) / ddb:.2f} | {case.median(NAIVE) / ddb:.1f} |")
    by_key = {(c.entity, c.records): c for c in cases}
    lines = []
    for entity in dict.fromkeys(c.entity for c in cases):
        small, large = by_key.get((entity, 10_000)), by_key.get((entity, 100_000))
        if small and large:
            for name in (MYSQL, HAND):
                ratio = (large.median(name) / large.records) / (small.median(name) / small.records)
                lines.append(f"| {entity} | {name} | {ratio:.2f} |")
    if lines:
        print("\n| entity | path | cost per record at 100k / at 10k (≤ 1.2) |")
        print("|---|---|---:|")
        print("\n".join(lines))
    sys.stdout.flush()


def _subprocess(module: str, argv: list[str], env: dict[str, str] | None = None) -> Any:
    done = subprocess.run(
        [sys.executable, "-m", module, *argv], capture_output=True, text=True, check=False,
        env={**os.environ, **(env or {})},
    )
    if done.returncode != 0:
        raise RuntimeError(f"{module} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _memory(url: str, entities: list[str], workdir: str, *, quick: bool) -> None:
    print("\n### Memory (each run in a fresh interpreter; RSS in MiB)\n")
    print("| run | records | RSS at start | after json.loads | peak | peak - start | s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    runs: list[tuple[str, str, str, int, int]] = []
    for entity in entities if not quick else entities[-1:]:
        count = workload.full_batch_size(entity)
        path = os.path.join(workdir, f"{entity.lower()}-full.json")
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(workload.event(entity, count), handle)
        runs.append((f"ddbproj, {entity} full 6 MB batch", "event", path, 0, count))
        runs.append((f"hand-written, {entity} full 6 MB batch", "hand-written", path, 0, count))
    if not quick:
        entity = entities[-1]
        lines = os.path.join(workdir, f"{entity.lower()}-100k.jsonl")
        whole = os.path.join(workdir, f"{entity.lower()}-100k.json")
        with open(lines, "w", encoding="utf-8") as handle:
            for record in workload.records(entity, 100_000):
                handle.write(json.dumps(record) + "\n")
        with open(whole, "w", encoding="utf-8") as handle:
            json.dump(workload.event(entity, 100_000), handle)
        runs.append((f"ddbproj, {entity} 100k streamed in chunks of 10k", "lines", lines,
                     10_000, 100_000))
        runs.append((f"ddbproj, {entity} 100k loaded whole, applied in chunks of 10k",
                     "event", whole, 10_000, 100_000))
    for label, mode, path, chunk, count in runs:
        found = _subprocess("bench.memory", [url, mode, path, str(chunk)])
        if found["records"] != count:
            raise RuntimeError(f"{label}: {found['records']} of {count} records")
        print(f"| {label} | {count:,} | {found['started_mib']:.0f} | {found['loaded_mib']:.0f} "
              f"| {found['peak_mib']:.0f} | {found['peak_mib'] - found['started_mib']:.0f} "
              f"| {found['seconds']:.1f} |")
        sys.stdout.flush()


def _cold_start(url: str, workdir: str, zip_path: str = "", zip_python: str = "") -> None:
    files = []
    for index in range(2):
        path = os.path.join(workdir, f"cold-{index}.json")
        with open(path, "w", encoding="utf-8") as handle:
            json.dump({"Records": list(workload.records("User", 1_000, start=index * 1_000))},
                      handle)
        files.append(path)
    found = _subprocess("bench.coldstart", files,
                        env={"DATABASE_URL": url, "PROJECTIONS": "projections"})
    print("\n### Cold start (fresh interpreter, DATABASE_URL = the bench database)\n")
    print("| import ddbproj.handlers.stream | first batch (1,000 User records, incl. registry, "
          "engine, connection) | second batch (1,000) | imported by ddbproj.handlers.stream |")
    print("|---:|---:|---:|---|")
    print(f"| {found['import_ms']:.0f} ms | {found['first_batch_ms']:.0f} ms "
          f"| {found['second_batch_ms']:.0f} ms | {', '.join(found['loaded_by_import'])}"
          f"{'' if found['boto3_after_first_batch'] else ' (boto3 not loaded)'} |")
    if zip_path:
        print(f"\n### Cold start from the Lambda zip ({zip_path})\n")
        print("```")
        print(coldstart.report(coldstart.measure_zip(Path(zip_path), zip_python, runs=7)))
        print("```")


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (f"_{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} CPUs, "
            f"Python {platform.python_version()}_")
