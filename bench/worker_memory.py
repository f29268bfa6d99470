"""Issue 21, target 4's memory: worker RSS when the same server first pages a large catalogue (the offer-list
benchmark's 10 000-offer club, c=8) and then serves the mixed traffic, for each value of one setting of the
workers in turn (one fresh server each): by default the cyclic GC's gen-0 threshold
(GUNICORN_GC_GEN0_THRESHOLD), or the C heap's trim (GUNICORN_MALLOC_TRIM_EVERY, kit.memory).

.venv/bin/python bench/worker_memory.py [--setting GUNICORN_GC_GEN0_THRESHOLD] [--values 50000,10000,50000,10000]
    [--reuse]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import mixed, offer_list
from bench.harness import Gunicorn, Row, prepared, print_table, rss_mb, settle


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--setting", default="GUNICORN_GC_GEN0_THRESHOLD", help="the variable that varies")
    parser.add_argument("--values", default="50000,10000,50000,10000", help="its value for each server, in order")
    parser.add_argument("--reuse", action="store_true", help="keep the database of the previous run")
    args = parser.parse_args()
    url, env, data = prepared("loyalty_bench_all", "use", "list", "status", "mixed", reuse=args.reuse)
    rows = []
    for value in args.values.split(","):
        with Gunicorn({**env, args.setting: value}) as server:
            offer_list.measure(server, data["list"], duration=8, connections=8)
            after_list = max(rss_mb(pid) for pid in server.worker_pids())
            settle(url)
            result = mixed.measure(server, data["mixed"], duration=15, connections=16)
        label = f"{args.setting}={value}"
        rows.append(Row(f"{label}: max worker RSS after the list, MB", after_list, None, "info", True))
        rows.append(
            Row(
                f"{label}: max worker RSS after the mixed run, MB",
                max(result["rss"]),
                None,
                f"< {mixed.TARGET_RSS_MB}",
                max(result["rss"]) < mixed.TARGET_RSS_MB,
            )
        )
        rows.append(Row(f"{label}: mixed req/s", result["load"].rps, None, "info", True))
        rows.append(Row(f"{label}: worker CPU ms per mixed request", result["cpu_ms"], None, "info", True))
    print_table(rows, "Worker memory after a large catalogue's pages, then mixed traffic")


if __name__ == "__main__":
    main()
