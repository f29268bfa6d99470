"""Mixed traffic (issue 21 target 4; issue 10 targets 6 and 7 before it) on a demo-sized club (60 offers,
2 000 signed-in members with points), and the memory of the API workers afterwards.

80 % reads — offer list (the club's 60 offers), one offer, rewards status — and 20 % writes — offer use,
reward purchase, achievement report — each request for a member drawn at random (wrk Lua `request()`).
Targets (issue 21): ≥ 800 requests/s, p99 ≤ 100 ms, no error (every answer 2xx); each worker < 120 MB RSS
after. (Issue 10 asked ≥ 300 requests/s, p99 ≤ 250 ms and < 150 MB: met since, printed for comparison.)

.venv/bin/python bench/mixed.py [--duration 20] [--connections 16]
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
    lua_list,
    postgres_cpu_seconds,
    prepared,
    print_table,
    rss_mb,
    settle,
    wrk,
)

TARGET_RPS = 800
TARGET_P99_MS = 100
TARGET_RSS_MB = 120
ISSUE_10 = {"rps": 300, "p99_ms": 250, "rss_mb": 150}

# (weight in %, method, path after /v3/{lc}/members/me/, body)
MIX = (
    (30, "GET", "offers", None),
    (30, "GET", "offers/{offer}", None),
    (20, "GET", "rewards-program/status", None),
    (10, "POST", "offers/{offer}/use", "{}"),
    (5, "POST", "rewards-program/rewards/{reward}/purchase", "{}"),
    (5, "POST", "rewards-program/achievements", '{"type": "app_opened"}'),
)


def mixed_lua(data: dict) -> str:
    cases = []
    bound = 0
    for weight, method, path, body in MIX:
        bound += weight
        lua_path = path.replace("{offer}", '" .. offers[math.random(#offers)] .. "').replace(
            "{reward}", str(data["reward_id"])
        )
        lua_body = "nil" if body is None else repr(body)
        cases.append(f'  if r <= {bound} then return "{method}", "{lua_path}", {lua_body} end')
    return f"""
local bearers = {lua_list(data["bearers"])}
local offers = {lua_list(data["offer_ids"])}
function init(args) math.randomseed(os.time() + (thread_index or 0) * 7919) end
local function pick(r)
{chr(10).join(cases)}
end
function request()
  local method, path, body = pick(math.random(100))
  local headers = {{}}  -- wrk.format replaces wrk.headers with the table it is given
  for k, v in pairs(wrk.headers) do headers[k] = v end
  headers["Authorization"] = "Bearer " .. bearers[math.random(#bearers)]
  return wrk.format(method, "/v3/{data["club"]}/members/me/" .. path, headers, body)
end
"""


def measure(server: Gunicorn, data: dict, *, duration: int, connections: int) -> dict:
    headers = {**HEADERS, "X-Client-Authorization": data["token"], "Content-Type": "application/json"}
    cpu, pg = -server.workers_cpu_seconds(), -postgres_cpu_seconds()
    load = wrk(f"{server.base_url}/", lua=mixed_lua(data), connections=connections, duration=duration, headers=headers)
    cpu, pg = cpu + server.workers_cpu_seconds(), pg + postgres_cpu_seconds()
    return {
        "load": load,
        "rss": [rss_mb(pid) for pid in server.worker_pids()],
        "cpu_ms": 1000 * cpu / load.requests,
        "pg_cpu_ms": 1000 * pg / load.requests,
    }


def rows(result: dict, *, connections: int) -> list[Row]:
    load, rss = result["load"], result["rss"]
    errors = load.requests - load.statuses["2xx"] + load.socket_errors
    return [
        Row(f"mixed 80/20: req/s (c={connections})", load.rps, None, f">= {TARGET_RPS}", load.rps >= TARGET_RPS),
        Row("   p99 ms", load.p99_ms, None, f"<= {TARGET_P99_MS}", load.p99_ms <= TARGET_P99_MS),
        Row("   p50 ms", load.p50_ms, None, "", True),
        Row("   errors (non-2xx, socket)", errors, None, "0", errors == 0),
        Row("   API worker CPU per request, ms", result["cpu_ms"], None, "info", True),
        Row("   PostgreSQL CPU per request, ms (all databases)", result["pg_cpu_ms"], None, "info", True),
        Row(
            f"   worker RSS after the mixed run, MB (max of {len(rss)})",
            max(rss),
            None,
            f"< {TARGET_RSS_MB}",
            max(rss) < TARGET_RSS_MB,
        ),
        Row(
            "   req/s, against issue 10's targets (and p99, RSS)",
            load.rps,
            None,
            f">= {ISSUE_10['rps']}, <= {ISSUE_10['p99_ms']}, < {ISSUE_10['rss_mb']}",
            load.rps >= ISSUE_10["rps"] and load.p99_ms <= ISSUE_10["p99_ms"] and max(rss) < ISSUE_10["rss_mb"],
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--reuse", action="store_true", help="keep the database of the previous run")
    args = parser.parse_args()
    url, env, data = prepared("loyalty_bench_mixed", "mixed", reuse=args.reuse)
    with Gunicorn(env) as server:
        # Unmeasured warm-up, then a settled database: the tables the writes fill start empty in a fresh
        # database, and plans cached while they are empty would outlive it (see bench/offer_use.py).
        measure(server, data["mixed"], duration=3, connections=args.connections)
        settle(url)
        result = measure(server, data["mixed"], duration=args.duration, connections=args.connections)
    print_table(rows(result, connections=args.connections), "Issue 21 target 4: mixed traffic, worker memory")


if __name__ == "__main__":
    main()
