"""Target 2: `GET /v3/{lc}/members/me/offers?per_page=100` in a club with 10 000 published offers, against a
bare Django view (bench/urls.py) returning the same page of offers with `.values()` and JsonResponse.

.venv/bin/python bench/offer_list.py [--duration 15] [--connections 8]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import HEADERS, Gunicorn, Row, combine, prepared, print_table, wrk

TARGET_RPS_RATIO = 0.5
TARGET_P99_RATIO = 2.0


def measure(server: Gunicorn, data: dict, *, duration: int, connections: int, rounds: int = 3) -> dict:
    """Ours and the bare view in alternating slices."""
    ours_url = f"{server.base_url}/v3/{data['club']}/members/me/offers?per_page=100"
    bare_url = f"{server.base_url}/bench/bare/offers/{data['club_id']}?per_page=100"
    headers = {**HEADERS, "X-Client-Authorization": data["token"], "Authorization": f"Bearer {data['bearer']}"}
    ours, bare, cpu = [], [], {"ours": 0.0, "bare": 0.0}
    for _ in range(rounds):
        for label, url, out, extra in (("ours", ours_url, ours, headers), ("bare", bare_url, bare, None)):
            cpu[label] -= server.workers_cpu_seconds()
            out.append(wrk(url, connections=connections, duration=duration // rounds, headers=extra))
            cpu[label] += server.workers_cpu_seconds()
    ours, bare = combine(ours), combine(bare)
    return {
        "ours": ours,
        "bare": bare,
        "cpu_ms": (1000 * cpu["ours"] / ours.requests, 1000 * cpu["bare"] / bare.requests),
    }


def rows(result: dict, *, connections: int) -> list[Row]:
    ours, bare = result["ours"], result["bare"]
    clean = ours.statuses["2xx"] == ours.requests and not ours.socket_errors
    return [
        Row(
            f"2. offer list, 100 of 10 000: req/s (c={connections})",
            ours.rps,
            bare.rps,
            f"ratio >= {TARGET_RPS_RATIO} of bare view",
            ours.rps >= TARGET_RPS_RATIO * bare.rps and clean,
        ),
        Row(
            "   p99 ms",
            ours.p99_ms,
            bare.p99_ms,
            f"ratio <= {TARGET_P99_RATIO}",
            ours.p99_ms <= TARGET_P99_RATIO * bare.p99_ms,
        ),
        Row("   p50 ms", ours.p50_ms, bare.p50_ms, "", True),
        Row("   API worker CPU per request, ms", *result["cpu_ms"], "info", True),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--reuse", action="store_true", help="keep the database of the previous run")
    args = parser.parse_args()
    _, env, data = prepared("loyalty_bench_list", "list", reuse=args.reuse)
    data = data["list"]
    with Gunicorn(env) as server:
        result = measure(server, data, duration=args.duration, connections=args.connections)
    print_table(rows(result, connections=args.connections), "Target 2: offer list vs bare .values() view")


if __name__ == "__main__":
    main()
