"""Issue 21, target 4's memory: worker RSS when the same server first pages a large catalogue (the offer-list
benchmark's 10 000-offer club, c=8) and then serves the mixed traffic, with the C heap trimmed every N
requests (GUNICORN_MALLOC_TRIM_EVERY, kit.memory) and without (0), alternately, one fresh server each.

.venv/bin/python bench/worker_memory.py [--every 0,500,0,500] [--reuse]
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
    parser.add_argument("--every", default="0,500,0,500", help="GUNICORN_MALLOC_TRIM_EVERY of each server, in order")
    parser.add_argument("--reuse", action="store_true", help="keep the database of the previous run")
    args = parser.parse_args()
    url, env, data = prepared("loyalty_bench_all", "use", "list", "status", "mixed", reuse=args.reuse)
    rows = []
    for every in args.every.split(","):
        with Gunicorn({**env, "GUNICORN_MALLOC_TRIM_EVERY": every}) as server:
            offer_list.measure(server, data["list"], duration=8, connections=8)
            after_list = max(rss_mb(pid) for pid in server.worker_pids())
            settle(url)
            result = mixed.measure(server, data["mixed"], duration=15, connections=16)
        label = f"trim every {every} requests" if every != "0" else "no trim"
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
    print_table(rows, "Worker memory after a large catalogue's pages, then mixed traffic")


if __name__ == "__main__":
    main()
