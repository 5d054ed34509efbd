"""Redis export and reader: load rate for N rows, bytes per row, lookup latency p50/p99.

Starts its own redis-server on a free loopback port, publishes a synthetic partition of N
rows of K=30 entries, exports it with the real job (DirectRunner), then times the reader.
Prints one JSON line per measurement; measured, never asserted.

    .venv/pipeline/bin/python benchmarks/redis_export.py --rows 100000 --repeats 3
"""
from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    from online.reader import HintQReader
    from jobs.export_redis import run as export
    from pipelines.core.serving import list_key
    from online.store import connect
    from datasets.published import published_partition, u2q_rows

    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--lookups", type=int, default=5000)
    args = parser.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    work = Path(tempfile.mkdtemp(prefix="hintq-bench-"))
    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no", "--dir", str(work)], stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    time.sleep(0.5)
    try:
        rows = u2q_rows(args.rows, tag="running shoes for women", k=30)
        rates = []
        for r in range(args.repeats):
            published_partition(work / "wh", "2026-11-01", rows, f"bench{r}")
            report = export([f"--dt=2026-11-01", f"--warehouse={work / 'wh'}", f"--redis={url}"])
            rates.append(report["rows_per_s"])
        client = connect(url)
        version = report["version"]
        sizes = [client.memory_usage(list_key("hintq", "u2q", version, rows[i]["user_id"]))
                 for i in range(0, args.rows, max(1, args.rows // 1000))]
        value_bytes = [len(client.get(list_key("hintq", "u2q", version, rows[i]["user_id"])))
                       for i in range(0, args.rows, max(1, args.rows // 1000))]
        print(json.dumps({"bench": "export_load", "rows": args.rows, "entries_per_row": 30,
                          "rows_per_s_runs": rates, "rows_per_s_median": statistics.median(rates)}))
        print(json.dumps({"bench": "bytes_per_row", "value_bytes_mean": round(statistics.mean(value_bytes), 1),
                          "redis_memory_usage_mean": round(statistics.mean(sizes), 1)}))
        reader = HintQReader(url)
        ids = [rows[i]["user_id"] for i in range(0, args.rows, max(1, args.rows // args.lookups))]
        for name, batch in (("single", 1), ("batched_32", 32)):
            latencies = []
            for i in range(0, len(ids), batch):
                t = time.perf_counter()
                if batch == 1:
                    reader.lookup_user(ids[i])
                else:
                    reader.lookup_users(ids[i:i + batch])
                latencies.append((time.perf_counter() - t) * 1000)
            latencies.sort()
            print(json.dumps({"bench": f"reader_{name}", "calls": len(latencies),
                              "p50_ms": round(latencies[len(latencies) // 2], 3),
                              "p99_ms": round(latencies[int(len(latencies) * 0.99)], 3),
                              "note": "pointer read + GET/MGET, no pointer cache"}))
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
