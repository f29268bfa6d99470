"""Issue 21, target 5: `GET /v3/{lc}/members/{id}/rewards-program/status` at the default page size (1 000
rows) for a member with 1 000 000 ledger transactions against the same call for a member with 1 000.

Both answers hold 1 000 transactions (checked before measuring), so what is compared is how the work grows
with the history, not the size of the answer. The ledger is written by PostgreSQL (generate_series, see
`bench.data.seed_status_scaling`) with every invariant of the ledger holding — lots, the allocations and
purchase rows of every spend, cached balance, lifetime points and transactions_count — which
`reconcile_balances` proves before the measurement. One connection (the latency of one call, not
queueing), big and small in alternating slices; p50 of each and their ratio.

.venv/bin/python bench/status_scaling.py [--duration 12] [--big 1000000] [--small 1000] [--reuse]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import (
    HEADERS,
    ROOT,
    Gunicorn,
    Row,
    bench_env,
    combine,
    fresh_database,
    hold_machine,
    manage,
    print_table,
    seed,
    vacuum_analyze,
    wrk,
)

TARGET_RATIO = 1.5  # p50 of the big member ≤ 1.5 × p50 of the small one (issue 21, target 5)
CONNECTIONS = 1
DEFAULT_PER_PAGE = 1000  # SPEC §6.5
DATABASE = "loyalty_bench_status_scaling"


def prepare(*, big: int, small: int, reuse: bool) -> tuple[dict[str, str], dict]:
    """A database with the two members (or the previous run's, with `reuse`), reconciled."""
    saved = ROOT / "var" / "bench" / f"{DATABASE}.json"
    hold_machine()
    if reuse and saved.exists():
        data = json.loads(saved.read_text())
        url = f"postgres://postgres@127.0.0.1:5432/{DATABASE}"
        return bench_env(url, DJANGO_SETTINGS_MODULE="bench.settings"), data
    url, env = fresh_database(DATABASE)
    started = time.perf_counter()
    data = seed(env, "status_scaling", "--big", str(big), "--small", str(small))
    vacuum_analyze(url, checkpoint=True)
    seconds = time.perf_counter() - started
    reconcile = json.loads(manage(env, "reconcile_balances", "--json", capture=True))
    assert reconcile["mismatches"] == [], reconcile["mismatches"][:5]
    print(
        f"seeded {big:,} + {small:,} transactions in {seconds:.0f} s; reconcile_balances: "
        f"{reconcile['members_checked']} members, no mismatch",
        flush=True,
    )
    saved.parent.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps(data))
    return env, data


def _url(server: Gunicorn, data: dict, member: int, query: str = "") -> str:
    return f"{server.base_url}/v3/{data['club']}/members/{member}/rewards-program/status{query}"


def answer_sizes(server: Gunicorn, data: dict, headers: dict[str, str]) -> dict[str, tuple[int, int]]:
    """(transactions on the page, total_count) of each member's default page."""
    sizes = {}
    for label in ("big", "small"):
        request = urllib.request.Request(_url(server, data, data[label]), headers=headers)
        with urllib.request.urlopen(request, timeout=30) as response:
            body = json.loads(response.read())
        sizes[label] = (len(body["transactions"]), body["pagination_info"]["total_count"])
    return sizes


def measure(server: Gunicorn, data: dict, *, duration: int, rounds: int = 3) -> dict:
    headers = {**HEADERS, "X-Client-Authorization": data["token"]}
    sizes = answer_sizes(server, data, headers)
    results, cpu = {"big": [], "small": []}, {"big": 0.0, "small": 0.0}
    for _ in range(rounds):
        for label in ("big", "small"):
            cpu[label] -= server.workers_cpu_seconds()
            url, seconds = _url(server, data, data[label]), max(duration // rounds, 1)
            results[label].append(wrk(url, connections=CONNECTIONS, duration=seconds, headers=headers))
            cpu[label] += server.workers_cpu_seconds()
    combined = {label: combine(slices) for label, slices in results.items()}
    # Information: a page in the middle of the big history (its offset skipped along the index).
    middle = max(data["sizes"][0] // 2 // DEFAULT_PER_PAGE, 1)
    deep = wrk(_url(server, data, data["big"], f"?page={middle}"), connections=CONNECTIONS, duration=3, headers=headers)
    return {
        **combined,
        "deep": (middle, deep),
        "sizes": sizes,
        "cpu_ms": {label: 1000 * cpu[label] / max(combined[label].requests, 1) for label in combined},
    }


def rows(result: dict, *, big: int, small: int) -> list[Row]:
    b, s, sizes = result["big"], result["small"], result["sizes"]
    clean = all(r.statuses["2xx"] == r.requests and not r.socket_errors for r in (b, s))
    same_size = sizes["big"][0] == sizes["small"][0]
    return [
        Row(
            f"5. status, {big:,} vs {small:,} transactions: p50 ms",
            b.p50_ms,
            s.p50_ms,
            f"ratio <= {TARGET_RATIO}",
            b.p50_ms <= TARGET_RATIO * s.p50_ms and clean and same_size,
        ),
        Row("   transactions in each answer (same size)", sizes["big"][0], sizes["small"][0], "equal", same_size),
        Row("   total_count", sizes["big"][1], sizes["small"][1], "info", True),
        Row("   p99 ms", b.p99_ms, s.p99_ms, "info", True),
        Row(f"   req/s (c={CONNECTIONS})", b.rps, s.rps, "info", True),
        Row("   API worker CPU per request, ms", result["cpu_ms"]["big"], result["cpu_ms"]["small"], "info", True),
        Row(f"   big member, page {result['deep'][0]:,}: p50 ms", result["deep"][1].p50_ms, s.p50_ms, "info", True),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=12, help="seconds per member, in 3 alternating slices")
    parser.add_argument("--big", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--reuse", action="store_true", help="keep the database of the previous run")
    args = parser.parse_args()
    env, data = prepare(big=args.big, small=args.small, reuse=args.reuse)
    big, small = data["sizes"]
    with Gunicorn(env) as server:
        result = measure(server, data, duration=args.duration)
    print_table(rows(result, big=big, small=small), "Issue 21, target 5: rewards status, big history vs small")


if __name__ == "__main__":
    main()
