"""Peak RSS of one projection run, in a fresh interpreter so that peaks are not shared.

``python -m bench.memory URL MODE FILE [CHUNK]``, MODE one of

- ``event``: FILE is one Lambda event (JSON); it is parsed as the Lambda runtime does and
  applied in transactions of CHUNK records (default: all at once);
- ``lines``: FILE has one stream record per line; it is read and applied CHUNK records at
  a time, so no more than one chunk is ever in memory;
- ``hand-written``: as ``event``, through the hand-written baseline.

Prints one JSON object: RSS after start-up, after loading, and the peak.
"""

from __future__ import annotations

import itertools
import json
import sys
import time

from bench import rss


def main(argv: list[str]) -> int:
    url, mode, path = argv[:3]
    chunk = int(argv[3]) if len(argv) > 3 else 0
    from bench.paths import DdbprojPath, HandWrittenPath

    if mode == "hand-written":
        runner = HandWrittenPath(url)
    else:
        runner = DdbprojPath(url, name="ddbproj", label="")
    runner.reset()
    entity = "Order" if "order" in path.lower() else "User"
    started_mib = rss.current_mib()
    loaded_mib = started_mib
    records = 0
    began = time.perf_counter()
    if mode == "lines":
        with open(path, encoding="utf-8") as handle:
            while batch := [json.loads(line) for line in itertools.islice(handle, chunk)]:
                records += runner.run(entity, {"Records": batch})
                del batch
    else:
        with open(path, encoding="utf-8") as handle:
            event = json.loads(handle.read())
        loaded_mib = rss.current_mib()
        all_records = event["Records"]
        size = chunk or len(all_records)
        for start in range(0, len(all_records), size):
            records += runner.run(entity, {"Records": all_records[start:start + size]})
    seconds = time.perf_counter() - began
    runner.close()
    print(json.dumps({"records": records, "started_mib": started_mib, "loaded_mib": loaded_mib,
                      "peak_mib": rss.peak_mib(), "seconds": seconds}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
