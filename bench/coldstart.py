"""Cold start: a fresh interpreter imports ``ddbproj.handlers.stream`` and applies its first batch.

``python -m bench.coldstart FIRST.json SECOND.json`` with ``DATABASE_URL`` set; prints one
JSON object with the import time, the first and the second batch, and which heavy
libraries the import pulled in.
"""

from __future__ import annotations

import json
import sys
import time


def main(argv: list[str]) -> int:
    events = []
    for path in argv[:2]:
        with open(path, encoding="utf-8") as handle:
            events.append(json.load(handle))
    began = time.perf_counter()
    import ddbproj.handlers.stream

    imported = time.perf_counter()
    loaded = sorted(name for name in ("boto3", "botocore", "sqlalchemy", "pymysql", "cattrs")
                    if name in sys.modules)
    first = ddbproj.handlers.stream.handler(events[0], None)
    first_done = time.perf_counter()
    second = ddbproj.handlers.stream.handler(events[1], None)
    second_done = time.perf_counter()
    if first["batchItemFailures"] or second["batchItemFailures"]:
        raise SystemExit("cold start: a batch failed")
    print(json.dumps({
        "import_ms": (imported - began) * 1000,
        "first_batch_ms": (first_done - imported) * 1000,
        "second_batch_ms": (second_done - first_done) * 1000,
        "loaded_by_import": loaded,
        "boto3_after_first_batch": "boto3" in sys.modules,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
