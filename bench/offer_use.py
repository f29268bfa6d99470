"""Target 1: `POST /v3/{lc}/members/{id}/offers/{id}/use`, distinct members, uncontended, against pgbench
running the very SQL statements the endpoint issues (logged from one real request) at the same concurrency,
and (issue 21, target 3) against pgbench of the fixed 8-round-trip script of 2026-12-07
(bench/reference/offer_use_8rt.sql), all three in alternating slices of one run. Prints the round trips
of each script (statements + BEGIN/COMMIT).

.venv/bin/python bench/offer_use.py [--duration 15] [--connections 8] [--database loyalty_bench_use]
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import (
    HEADERS,
    Gunicorn,
    Row,
    combine,
    pgbench,
    prepared,
    print_table,
    save_script,
    settle,
    sql_log,
    wrk,
)

TARGET_RATIO = 0.50  # issue 21, target 3 (turn 1: 0.30)
REFERENCE_RATIO = 1.0  # of pgbench of the fixed reference script, same run
REFERENCE = Path(__file__).resolve().parent / "reference" / "offer_use_8rt.sql"


def round_trips(script: str) -> int:
    """Statements a pgbench script sends, BEGIN and COMMIT included (each line that is not a `\\set`)."""
    return sum(1 for line in script.splitlines() if line.strip() and not line.startswith(("\\", "--")))


def reference_script(database_url: str, data: dict) -> str:
    """The fixed 8-round-trip script with this run's draws and club in front (its `--` lines dropped)."""
    import psycopg

    with psycopg.connect(database_url.replace("postgres://", "postgresql://")) as conn:
        club_id = conn.execute("SELECT id FROM loyalty_loyaltyclub WHERE slug = %s", [data["club"]]).fetchone()[0]
    members, offers = data["member_ids"], data["offer_ids"]
    draws = (
        f"\\set cid {club_id}\n"
        f"\\set mid random({members['first']}, {members['first'] + members['count'] - 2})\n"
        f"\\set oid random({offers[0]}, {offers[-1]})\n"
    )
    body = [line for line in REFERENCE.read_text().splitlines() if not line.startswith("--")]
    return draws + "\n".join(body) + "\n"


def use_lua(data: dict, *, start: int = 0) -> str:
    """Each request uses one offer (round robin) for the next member never used in this run."""
    members = data["member_ids"]
    return f"""
local first, count, start = {members["first"]}, {members["count"]}, {start}
local offers = {{{", ".join(map(str, data["offer_ids"]))}}}
k = 0  -- global: the reporter reads how far each thread got (LoadResult.numbered)
function request()
  local i = start + k * thread_count + thread_index
  k = k + 1
  local path = "/v3/{data["club"]}/members/" .. (first + i % count) .. "/offers/" .. offers[i % #offers + 1] .. "/use"
  return wrk.format("POST", path, nil, "{{}}")
end
"""


def pgbench_script(env: dict, data: dict) -> str:
    """The statements of one logged use, with the member and offer drawn at random like the requests."""
    members, offers = data["member_ids"], data["offer_ids"]
    member, offer = members["first"] + members["count"] - 1, offers[-1]  # a member the load will reach last
    status, script = sql_log(
        env,
        "POST",
        f"/v3/{data['club']}/members/{member}/offers/{offer}/use",
        headers=headers(data),
        body="{}",
        variables={"mid": member, "oid": offer},
    )
    assert status == 200, f"logged use answered {status}"
    assert offers == list(range(offers[0], offers[0] + len(offers))), "offer ids are not contiguous"
    draws = (
        f"\\set mid random({members['first']}, {members['first'] + members['count'] - 2})\n"
        f"\\set oid random({offers[0]}, {offers[-1]})\n"
    )
    return draws + first_use(script)


def first_use(script: str) -> str:
    """The logged use is the member's second (sqllog runs the request twice): the function call then carries
    the state its decision saw (1 use, its time), which the drawn members, like the requests, do not have.
    Give the call the state of a first use (0, NULL), so pgbench runs the writes the requests run."""
    return re.sub(
        r"(offers_use_apply_v\d+\(:oid, :mid, )\d+, (NULL|'[^']*'::timestamptz), ",
        r"\g<1>0, NULL, ",
        script,
    )


def headers(data: dict) -> dict[str, str]:
    return {**HEADERS, "X-Client-Authorization": data["token"], "Content-Type": "application/json"}


def measure(
    server: Gunicorn, env: dict, database_url: str, data: dict, *, duration: int, connections: int, rounds: int = 3
) -> dict:
    """Ours and pgbench in alternating slices, so a burst of load from elsewhere hits both alike.

    Both first run a short unmeasured warm-up, then the database is settled (`settle`: VACUUM ANALYZE,
    CHECKPOINT): the measured slices see the steady state of a live database, whose usage and state tables
    hold rows and whose statistics say so. Without it, the statistics of a freshly seeded database say the
    state table is empty, and the plans PostgreSQL caches for the prepared statements (a sequential scan
    suits an empty table) are kept while the table grows; autovacuum's next ANALYZE would replace them on a
    live server, but the run is over before it comes (and this machine runs PostgreSQL with autovacuum off:
    docs/benchmarks.md)."""
    script = pgbench_script(env, data)
    save_script("offer_use", script)
    reference = reference_script(database_url, data)
    warm = wrk(f"{server.base_url}/", lua=use_lua(data), connections=connections, duration=3, headers=headers(data))
    pgbench(database_url, script, clients=connections, duration=3)
    pgbench(database_url, reference, clients=connections, duration=3)
    settle(database_url)
    ours, baseline, fixed, start, cpu = [], [], [], warm.numbered, 0.0
    for _ in range(rounds):
        lua = use_lua(data, start=start)
        cpu -= server.workers_cpu_seconds()
        ours.append(
            wrk(
                f"{server.base_url}/",
                lua=lua,
                connections=connections,
                duration=duration // rounds,
                headers=headers(data),
            )
        )
        cpu += server.workers_cpu_seconds()
        start += ours[-1].numbered
        baseline.append(pgbench(database_url, script, clients=connections, duration=duration // rounds))
        fixed.append(pgbench(database_url, reference, clients=connections, duration=duration // rounds))
    ours = combine(ours)
    return {
        "ours": ours,
        "baseline": sum(baseline) / len(baseline),
        "reference": sum(fixed) / len(fixed),
        "round_trips": round_trips(script),
        "reference_round_trips": round_trips(reference),
        "cpu_ms": 1000 * cpu / ours.requests,
    }


def rows(result: dict, *, connections: int) -> list[Row]:
    ours, baseline = result["ours"], result["baseline"]
    clean = ours.statuses["2xx"] == ours.requests and not ours.socket_errors
    return [
        Row(
            f"1. offer use, distinct members: req/s (c={connections})",
            ours.rps,
            baseline,
            f"ratio >= {TARGET_RATIO} of pgbench",
            ours.rps >= TARGET_RATIO * baseline and clean,
        ),
        Row(
            "   vs pgbench of the fixed 8-round-trip script",
            ours.rps,
            result["reference"],
            f"ratio >= {REFERENCE_RATIO} of it",
            ours.rps >= REFERENCE_RATIO * result["reference"] and clean,
        ),
        Row(
            "   round trips per use (vs the fixed script)",
            result["round_trips"],
            result["reference_round_trips"],
            "fewer",
            result["round_trips"] < result["reference_round_trips"],
        ),
        Row("   p50 / p99 ms", ours.p50_ms, None, f"p99 {ours.p99_ms:.1f} ms", True),
        Row("   API worker CPU per request, ms", result["cpu_ms"], None, "info", True),
        Row("   non-2xx answers", ours.requests - ours.statuses["2xx"], None, "0", clean),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, help="gunicorn workers (default: config/gunicorn.conf.py)")
    parser.add_argument("--threads", type=int, help="gunicorn threads per worker")
    parser.add_argument("--reuse", action="store_true", help="keep the database of the previous run")
    parser.add_argument(
        "--database", default="loyalty_bench_use", help="the bench database's name (dropped and seeded anew)"
    )
    args = parser.parse_args()
    url, env, data = prepared(args.database, "use", reuse=args.reuse)
    data = data["use"]
    with Gunicorn(env, workers=args.workers, threads=args.threads) as server:
        result = measure(server, env, url, data, duration=args.duration, connections=args.connections)
    title = "Offer use vs pgbench of its SQL and of the fixed 8-round-trip script (issue 21, target 3)"
    print_table(rows(result, connections=args.connections), title)


if __name__ == "__main__":
    main()
