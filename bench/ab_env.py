"""A/B of a setting: the mixed traffic of targets 6 and 7 against two servers on the same data, one with the
environment as it is (A) and one with `--set NAME=VALUE` added (B), in alternating slices so that load from
elsewhere hits both alike. Prints throughput, p99 and the CPU per request of each, and B's ratio to A.

.venv/bin/python bench/ab_env.py --set DATABASE_SERVER_SIDE_BINDING=1 [--slices 4] [--slice-seconds 8]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import Gunicorn, combine, prepared, settle
from bench.mixed import measure


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="B's extra environment")
    parser.add_argument("--slices", type=int, default=4)
    parser.add_argument("--slice-seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--reuse", action="store_true", help="keep the database of the previous run")
    args = parser.parse_args()
    extra = dict(item.split("=", 1) for item in args.set)
    url, env, data = prepared("loyalty_bench_mixed", "mixed", reuse=args.reuse)
    results: dict[str, list[dict]] = {"A": [], "B": []}
    with Gunicorn(env) as a, Gunicorn({**env, **extra}) as b:
        for server in (a, b):  # warm up: imports, connections, caches, prepared statements
            measure(server, data["mixed"], duration=3, connections=args.connections)
        settle(url)  # the warm-up's writes analyzed: no plan cached for an empty table (see bench/offer_use.py)
        for _ in range(args.slices):
            for name, server in (("A", a), ("B", b)):
                results[name].append(
                    measure(server, data["mixed"], duration=args.slice_seconds, connections=args.connections)
                )
    summary = {}
    for name, slices in results.items():
        load = combine([s["load"] for s in slices])
        requests = [s["load"].requests for s in slices]
        cpu = sum(s["cpu_ms"] * n for s, n in zip(slices, requests, strict=True)) / sum(requests)
        pg = sum(s["pg_cpu_ms"] * n for s, n in zip(slices, requests, strict=True)) / sum(requests)
        errors = load.requests - load.statuses["2xx"] + load.socket_errors
        summary[name] = (load.rps, load.p99_ms, cpu, pg, errors)
    print(f"B = A + {extra}")
    print(f"{'':3} {'req/s':>8} {'p99 ms':>8} {'worker CPU ms/req':>18} {'PG CPU ms/req':>14} {'errors':>7}")
    for name, (rps, p99, cpu, pg, errors) in summary.items():
        print(f"{name:3} {rps:8.1f} {p99:8.1f} {cpu:18.2f} {pg:14.2f} {errors:7d}")
    (ra, pa, ca, ga, _), (rb, pb, cb, gb, _) = summary["A"], summary["B"]
    print(f"B/A {rb / ra:8.2f} {pb / pa:8.2f} {cb / ca:18.2f} {gb / ga:14.2f}")


if __name__ == "__main__":
    main()
