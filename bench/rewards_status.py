"""Target 4: `GET /v3/{lc}/members/{id}/rewards-program/status` for a member with 100 000 ledger transactions
against the same call for a member with 10 (same club, same page size, alternating slices).

The call asks for `per_page=10`, so both answers have the same size and what is compared is how the work
grows with the ledger. The default page (1 000 rows) is also shown: there the big member's answer is
100 times longer, so it is information, not the target.

.venv/bin/python bench/rewards_status.py [--duration 12]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import HEADERS, Gunicorn, Row, combine, prepared, print_table, wrk

TARGET_RATIO = 1.5
CONNECTIONS = 1  # the latency of one call, not queueing behind others


def _url(server: Gunicorn, data: dict, member: int, query: str) -> str:
    return f"{server.base_url}/v3/{data['club']}/members/{member}/rewards-program/status?{query}"


def measure(server: Gunicorn, data: dict, *, duration: int, rounds: int = 3) -> dict:
    headers = {**HEADERS, "X-Client-Authorization": data["token"]}
    results = {}
    for label, query, seconds in (("page10", "per_page=10", duration), ("default", "", max(duration // 2, 3))):
        big, small = [], []
        for _ in range(rounds):
            for member, out in ((data["big"], big), (data["small"], small)):
                url = _url(server, data, member, query)
                out.append(wrk(url, connections=CONNECTIONS, duration=max(seconds // rounds, 1), headers=headers))
        results[label] = {"big": combine(big), "small": combine(small)}
    return results


def rows(result: dict) -> list[Row]:
    page, default = result["page10"], result["default"]
    big, small = page["big"], page["small"]
    clean = all(r.statuses["2xx"] == r.requests for pair in result.values() for r in pair.values())
    return [
        Row(
            "4. rewards status, 100 000 vs 10 transactions: p50 ms",
            big.p50_ms,
            small.p50_ms,
            f"ratio <= {TARGET_RATIO}",
            big.p50_ms <= TARGET_RATIO * small.p50_ms and clean,
        ),
        Row("   p99 ms", big.p99_ms, small.p99_ms, "", True),
        Row(f"   req/s (c={CONNECTIONS})", big.rps, small.rps, "", True),
        Row("   default page (1 000 rows vs 10): p50 ms", default["big"].p50_ms, default["small"].p50_ms, "info", True),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=12)
    parser.add_argument("--reuse", action="store_true", help="keep the database of the previous run")
    args = parser.parse_args()
    _, env, data = prepared("loyalty_bench_status", "status", reuse=args.reuse)
    with Gunicorn(env) as server:
        result = measure(server, data["status"], duration=args.duration)
    print_table(rows(result), "Target 4: rewards status, big ledger vs small")


if __name__ == "__main__":
    main()
