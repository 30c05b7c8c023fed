"""``python -m bench.profile ENTITY COUNT [--cprofile]``: where the handler path spends a batch.

Times each stage of ``BatchProcessor.process_event`` separately on MariaDB (GC paused, as
in the processor) — parse, plan, and the sink's statements — and optionally prints the top
of a cProfile of the whole path.
"""

from __future__ import annotations

import cProfile
import gc
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from bench import workload
from bench.database import fresh_database
from bench.paths import DdbprojPath
from ddbproj.core.plan import plan_batch
from ddbproj.core.records import parse_event


def _median_ms(work: Callable[[], Any], reset: Callable[[], None], rounds: int = 5) -> float:
    times = []
    for _ in range(rounds):
        reset()
        gc.collect()
        gc.disable()
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
        gc.enable()
    return statistics.median(times) * 1000


def main(argv: list[str]) -> int:
    entity, count = argv[0], int(argv[1])
    if "--sink" in argv:
        sink_breakdown(entity, count)
        return 0
    event = workload.event(entity, count)
    with fresh_database() as url:
        path = DdbprojPath(url, name="ddbproj", label="")
        registry, sink = path.processor.registry, path.sink
        batch = parse_event(event)
        plan = plan_batch(batch, registry)

        def nothing() -> None:
            return None

        stages = {
            "parse_event": lambda: parse_event(event),
            "plan_batch": lambda: list(plan_batch(batch, registry).chunks()),
            "sink.commit": lambda: sink.commit(plan),
            "process_event (all)": lambda: path.processor.process_event(event),
        }
        resets = {"sink.commit": path.reset, "process_event (all)": path.reset}
        for name, work in stages.items():
            ms = _median_ms(work, resets.get(name, nothing))
            print(f"{name:24} {ms:8.1f} ms  {ms * 1000 / count:6.1f} µs/record")
        if "--cprofile" in argv:
            path.reset()
            profiler = cProfile.Profile()
            profiler.runcall(path.processor.process_event, event)
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        path.close()
    return 0



def sink_breakdown(entity: str, count: int, rounds: int = 5) -> None:
    """Each statement the sink runs for one table, timed inside one transaction, beside
    the alternatives the proposals in bench/README.md name."""
    from ddbproj.adapters import literals
    from ddbproj.adapters.transaction import KEY_CHUNK, _chunks, _flatten
    from ddbproj.core.names import tombstone_table_name

    event = workload.event(entity, count)
    with fresh_database() as url:
        path = DdbprojPath(url, name="ddbproj", label="")
        plan = plan_batch(parse_event(event), path.processor.registry)
        (chunk,) = plan.chunks(count)
        (changes,) = chunk.tables.values()
        stmts = path.sink._statements_for(changes)
        rows = stmts.upsert_params(changes)
        touched = [stmts.key_params(key) for key in changes.written_keys()]
        table = changes.projector.table
        names = [c.name for c in changes.projector.columns]
        plain = (f"INSERT INTO `{table}` ({', '.join(f'`{n}`' for n in [*names, 'ddbproj_seq'])}) "
                 f"VALUES ({', '.join(['%s'] * (len(names) + 1))}) ON DUPLICATE KEY UPDATE "
                 + ", ".join(f"`{n}` = VALUES(`{n}`)" for n in [*names[1:], "ddbproj_seq"]))
        key = names[changes.projector.key_indexes[0]]
        timings: dict[str, list[float]] = {}

        def timed(name: str, conn: Any, sql: str, params: Any, many: bool) -> None:
            cursor = conn.connection.dbapi_connection.cursor()
            started = time.perf_counter()
            if many:
                cursor.executemany(sql, params)
            else:
                cursor.execute(sql, params)
            timings.setdefault(name, []).append(time.perf_counter() - started)

        for _ in range(rounds):
            for variant in ("sink", "plain"):
                path.reset()
                gc.collect()
                gc.disable()
                with path.engine.begin() as conn:
                    began = time.perf_counter()
                    if variant == "plain":
                        timed("plain upsert executemany (no guard)", conn, plain, rows, True)
                        continue
                    timed("guarded upsert executemany", conn, stmts.row_upsert.sql, rows, True)
                    conn.exec_driver_sql(f"DELETE FROM `{table}`")
                    driver = conn.connection.driver_connection
                    started = time.perf_counter()
                    upsert = stmts.row_upsert
                    for text in literals.statements(upsert.head, rows, upsert.tail,
                                                    driver.escape):
                        driver.cursor().execute(text)
                    timings.setdefault("guarded upsert, rendered (adapters.literals)", []).append(
                        time.perf_counter() - started)
                    for chunk in _chunks(touched, KEY_CHUNK):
                        timed("purge DELETE … IN (500) … EXISTS", conn,
                              stmts.purge(len(chunk)), tuple(_flatten(chunk)), False)
                    for chunk in _chunks(touched, KEY_CHUNK):
                        timed("clear DELETE … IN (500) … EXISTS", conn,
                              stmts.clear(len(chunk)), tuple(_flatten(chunk)), False)
                    tomb = tombstone_table_name(table)
                    for chunk in _chunks(touched, 5000):
                        marks = ", ".join(["%s"] * len(chunk))
                        timed("alt: purge DELETE … JOIN, IN (5000)", conn,
                              f"DELETE r FROM `{table}` r JOIN `{tomb}` b ON b.`{key}` = "
                              f"r.`{key}` AND b.ddbproj_seq >= r.ddbproj_seq "
                              f"WHERE b.`{key}` IN ({marks})", tuple(_flatten(chunk)), False)
                        timed("alt: clear DELETE … JOIN, IN (5000)", conn,
                              f"DELETE b FROM `{tomb}` b JOIN `{table}` r ON r.`{key}` = "
                              f"b.`{key}` AND r.ddbproj_seq > b.ddbproj_seq "
                              f"WHERE b.`{key}` IN ({marks})", tuple(_flatten(chunk)), False)
                        timed("alt: SELECT tombstone keys, IN (5000)", conn,
                              f"SELECT `{key}`, ddbproj_seq FROM `{tomb}` WHERE `{key}` IN "
                              f"({marks})", tuple(_flatten(chunk)), False)
                    timings.setdefault("all of the above (sum)", []).append(
                        time.perf_counter() - began)
                gc.enable()
        timings["alt: LOAD DATA LOCAL INFILE to staging + INSERT … SELECT (guarded)"] = [
            _load_data_upsert(url, path, table, names, rows) for _ in range(rounds)]
        for name, values in timings.items():
            per = len(values) // rounds
            total = statistics.median(
                [sum(values[i * per:(i + 1) * per]) for i in range(rounds)])
            print(f"{name:40} {total * 1000:8.1f} ms  ({per} statement(s))")
        path.close()


def _load_data_upsert(url: str, path: DdbprojPath, table: str, names: list[str],
                      rows: list[tuple[Any, ...]]) -> float:
    """The staging alternative, timed from the rows to the commit: rows written as TSV,
    ``LOAD DATA LOCAL INFILE`` into a temporary table, one guarded ``INSERT … SELECT``."""
    import os
    import tempfile

    from bench.paths import pymysql_connection

    path.reset()
    conn = pymysql_connection(url, local_infile=True)
    columns = [*names, "ddbproj_seq"]
    newer = f"VALUES(ddbproj_seq) > `{table}`.ddbproj_seq"
    sets = ", ".join(f"`{c}` = IF({newer}, VALUES(`{c}`), `{table}`.`{c}`)"
                     for c in [*columns[1:-1], "ddbproj_seq"])

    def field(value: Any) -> str:
        if value is None:
            return "\\N"
        text = str(value)
        return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")

    with tempfile.TemporaryDirectory() as folder:
        file = os.path.join(folder, "rows.tsv")
        gc.collect()
        gc.disable()
        started = time.perf_counter()
        with open(file, "w", encoding="utf-8") as out:
            out.write("\n".join("\t".join(map(field, row)) for row in rows))
        with conn.cursor() as cursor:
            cursor.execute(f"CREATE TEMPORARY TABLE staging LIKE `{table}`")
            cursor.execute(f"LOAD DATA LOCAL INFILE %s INTO TABLE staging CHARACTER SET utf8mb4 "
                           f"({', '.join(f'`{c}`' for c in columns)})", (file,))
            cursor.execute(f"INSERT INTO `{table}` SELECT * FROM staging "
                           f"ON DUPLICATE KEY UPDATE {sets}")
        conn.commit()
        elapsed = time.perf_counter() - started
        gc.enable()
    conn.close()
    return elapsed


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
