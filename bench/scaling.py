"""Issue 21, target 1: what a page costs as the catalogue grows. Three clubs of one database hold 1 000,
10 000 and 100 000 published offers (and as many rewards, 100 of them on offer); each endpoint is called
with what a client sends by default, at one connection, in alternating slices of the three clubs, and
the p50 at 100 000 is compared with the p50 at 1 000 of the same run.

Endpoints: the member offer list (`GET members/me/offers`: 100 offers by name, no pagination info; and by
`usable_until DESC`), the management list (`GET offers`: 100 by name, with its pagination info), the meta
(`GET members/me/offers/meta`) and the rewards list (`GET members/me/rewards-program/rewards`: the 100 on offer).

.venv/bin/python bench/scaling.py [--duration 3] [--rounds 2] [--reuse]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import (
    HEADERS,
    Gunicorn,
    Row,
    combine,
    fresh_database,
    hold_machine,
    print_table,
    seed,
    vacuum_analyze,
    wrk,
)

TARGET_RATIO = 1.5
SIZES = (1_000, 10_000, 100_000)
CONNECTIONS = 1  # the latency of one call, not queueing behind others
DATABASE = "loyalty_bench_scaling"

# (label, path under /v3/{lc}/, member bearer token or client token only)
ENDPOINTS = (
    ("member offer list", "members/me/offers", True),
    # A date order (indexes per direction, migration offers 0011); the seeded offers have no usable_until, so
    # every page reads offers without one (the case an index of the other direction would sort whole).
    ("member list, usable_until DESC", "members/me/offers?order_by=usable_until%20DESC", True),
    ("management offer list", "offers", False),
    ("offers meta", "members/me/offers/meta", True),
    ("rewards list", "members/me/rewards-program/rewards", True),
)
INFO = (
    ("member offer list, include_pagination_info", "members/me/offers?include_pagination_info=true", True),
    # Languages other than the club's default: the stored key does not apply (docs/decisions.md).
    ("member offer list, X-Locale: nb", "members/me/offers", True, {"X-Locale": "nb"}),
)


def prepare(*, reuse: bool) -> tuple[dict[str, str], dict[int, dict]]:
    import json

    from bench.harness import PG_HOST, ROOT, bench_env

    saved = ROOT / "var" / "bench" / f"{DATABASE}.json"
    hold_machine()
    if reuse and saved.exists():
        url = f"postgres://postgres@{PG_HOST}:5432/{DATABASE}"
        data = {int(k): v for k, v in json.loads(saved.read_text()).items()}
        return bench_env(url, DJANGO_SETTINGS_MODULE="bench.settings"), data
    url, env = fresh_database(DATABASE)
    data = {size: seed(env, "scaling", f"--size={size}") for size in SIZES}
    vacuum_analyze(url)
    saved.parent.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps(data))
    return env, data


def measure(server: Gunicorn, data: dict[int, dict], endpoints, *, duration: int, rounds: int) -> dict:
    results: dict[str, dict[int, list]] = {}
    for label, path, bearer, *extra in endpoints:
        per_size: dict[int, list] = {size: [] for size in SIZES}
        for _ in range(rounds):
            for size in SIZES:
                club = data[size]
                headers = {**HEADERS, "X-Client-Authorization": club["token"], **(extra[0] if extra else {})}
                if bearer:
                    headers["Authorization"] = f"Bearer {club['bearer']}"
                url = f"{server.base_url}/v3/{club['club']}/{path}"
                per_size[size].append(wrk(url, connections=CONNECTIONS, duration=duration, headers=headers))
        results[label] = {size: combine(slices) for size, slices in per_size.items()}
    return results


def rows(results: dict, *, info: bool = False) -> list[Row]:
    out = []
    for label, by_size in results.items():
        small, middle, big = (by_size[size] for size in SIZES)
        clean = all(r.statuses["2xx"] == r.requests and r.requests for r in by_size.values())
        out.append(
            Row(
                f"{label}: p50 ms 100 000 vs 1 000",
                big.p50_ms,
                small.p50_ms,
                "info" if info else f"ratio <= {TARGET_RATIO}",
                info or (big.p50_ms <= TARGET_RATIO * small.p50_ms and clean),
            )
        )
        out.append(Row("   p50 ms 10 000 vs 1 000", middle.p50_ms, small.p50_ms, "", True))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=3, help="seconds per slice")
    parser.add_argument("--rounds", type=int, default=2, help="slices per club and endpoint")
    parser.add_argument("--reuse", action="store_true", help="keep the database of the previous run")
    parser.add_argument("--info", action="store_true", help="also the list with pagination info")
    args = parser.parse_args()
    env, data = prepare(reuse=args.reuse)
    with Gunicorn(env) as server:
        results = measure(server, data, ENDPOINTS, duration=args.duration, rounds=args.rounds)
        extra = measure(server, data, INFO, duration=args.duration, rounds=args.rounds) if args.info else {}
    print_table(
        rows(results) + rows(extra, info=True),
        "Issue 21, target 1: p50 at 100 000 offers / rewards <= 1.5 x p50 at 1 000 (c=1, same run)",
    )


if __name__ == "__main__":
    main()
