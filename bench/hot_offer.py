"""Target 3: a hot offer. 64 concurrent clients use one offer with a stock of 1 000, each request for another
member, until the stock is gone and a whole slice of load answers only 422: exactly 1 000 successes, no
5xx, every other answer 422 `Global limit exceeded`, and the uses go through at ≥ 0.5 × target 1's
throughput (measured in the same run; the rate is the 1 000 uses over the time from the first to the last).

.venv/bin/python bench/hot_offer.py [--duration 15]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import offer_use
from bench.harness import Gunicorn, Row, combine, prepared, print_table, seed, wrk

STOCK = 1000
CONNECTIONS = 64


def measure(server: Gunicorn, env: dict, database_url: str, data: dict, *, duration: int, limit: int = 180) -> dict:
    """Slices of load until the stock is gone, then one more slice in which every answer must be a 422."""
    hot = seed(env, "hot", "--club", data["club"])["offer_id"]
    headers = offer_use.headers(data)
    slices, start, spent = [], 0, 0
    while spent < limit:
        lua = offer_use.use_lua({**data, "offer_ids": [hot]}, start=start) + 'expect_422 = "Global limit exceeded"\n'
        slices.append(wrk(f"{server.base_url}/", lua=lua, connections=CONNECTIONS, duration=duration, headers=headers))
        start, spent = start + slices[-1].numbered, spent + duration
        if _database_facts(database_url, hot)["uses_count"] >= STOCK and slices[-1].statuses["2xx"] == 0:
            break
    return {"load": combine(slices), **_database_facts(database_url, hot)}


def _database_facts(database_url: str, offer_id: int) -> dict:
    """What the database holds afterwards, and the rate at which the stock went (first to last use)."""
    import psycopg

    with psycopg.connect(database_url.replace("postgres://", "postgresql://")) as conn:
        uses_count = conn.execute("SELECT uses_count FROM offers_offer WHERE id = %s", [offer_id]).fetchone()[0]
        usages, first, last = conn.execute(
            "SELECT count(*), min(used_at), max(used_at) FROM offers_offerusage WHERE offer_id = %s", [offer_id]
        ).fetchone()
    seconds = (last - first).total_seconds() if usages > 1 else 0.0
    return {"uses_count": uses_count, "usages": usages, "sell_rate": (usages - 1) / seconds if seconds else 0.0}


def rows(result: dict, *, target1_rps: float) -> list[Row]:
    load = result["load"]
    ok = load.statuses["2xx"]
    exact = ok == STOCK and result["uses_count"] == STOCK and result["usages"] == STOCK
    rest_422 = load.statuses["422match"] == load.requests - ok and not load.socket_errors
    return [
        Row(
            f"3. hot offer (stock {STOCK}, c={CONNECTIONS}): uses/s while stock lasts",
            result["sell_rate"],
            target1_rps,
            ">= 0.5 of target 1",
            result["sell_rate"] >= 0.5 * target1_rps,
        ),
        Row("   all answers, req/s", load.rps, target1_rps, "", True),
        Row("   2xx answers (= uses in the database)", ok, STOCK, f"exactly {STOCK}", exact),
        Row("   5xx answers", load.statuses["5xx"], None, "0", load.statuses["5xx"] == 0),
        Row("   other answers, all 422 Global limit exceeded", load.requests - ok, None, "all", rest_422),
        Row("   p99 ms", load.p99_ms, None, "", True),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--reuse", action="store_true", help="keep the database of the previous run")
    args = parser.parse_args()
    url, env, data = prepared("loyalty_bench_use", "use", reuse=args.reuse)
    data = data["use"]
    with Gunicorn(env) as server:
        target1 = offer_use.measure(server, env, url, data, duration=9, connections=8)
        result = measure(server, env, url, data, duration=args.duration)
    table = offer_use.rows(target1, connections=8) + rows(result, target1_rps=target1["ours"].rps)
    print_table(table, "Targets 1 and 3: offer use, uncontended and hot")


if __name__ == "__main__":
    main()
