"""Issue 21, target 2, before and after in the same run: the plumbing endpoints of bench/plumbing.py (the DRF
APIView hello and ours, member by id) served by two production gunicorns on the same data — one from this tree,
one from another checkout (the code before a change) — in alternating slices.

git archive <commit> | tar -x -C /tmp/before     # the tree to compare with (it must have bench/wsgi.py)
.venv/bin/python bench/plumbing_ab.py --before /tmp/before [--slice-seconds 5] [--rounds 3] [--reuse]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import plumbing
from bench.harness import Gunicorn, combine, prepared, wrk


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", type=Path, required=True, help="the other checkout")
    parser.add_argument("--slice-seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reuse", action="store_true", help="keep the database of the previous run")
    args = parser.parse_args()
    _, env, data = prepared("loyalty_bench_plumbing", "plumbing", reuse=args.reuse)
    data = data["plumbing"]
    cases = {
        "DRF APIView hello": plumbing.fixed_lua("/bench/hello/drf"),
        "ours, member by id": plumbing.member_lua(data),
    }
    head = plumbing.headers(data)
    with (
        Gunicorn(env, app=plumbing.APP, root=args.before) as before,
        Gunicorn(env, app=plumbing.APP) as after,
    ):
        servers = {"before": before, "after": after}
        for server in servers.values():
            for lua in cases.values():
                wrk(f"{server.base_url}/", lua=lua, connections=8, duration=2, headers=head)
        slices, cpu = {}, {}
        for _ in range(args.rounds):
            for case, lua in cases.items():
                for name, server in servers.items():
                    start = server.workers_cpu_seconds()
                    result = wrk(
                        f"{server.base_url}/", lua=lua, connections=8, duration=args.slice_seconds, headers=head
                    )
                    cpu[name, case] = cpu.get((name, case), 0.0) + server.workers_cpu_seconds() - start
                    slices.setdefault((name, case), []).append(result)
    loads = {key: combine(parts) for key, parts in slices.items()}
    print(f"\n{'endpoint':<22} {'tree':<7} {'req/s':>8} {'p99 ms':>7} {'CPU ms/req':>11} {'non-2xx':>8}")
    for case in cases:
        for name in servers:
            load = loads[name, case]
            cpu_ms = 1000 * cpu[name, case] / max(load.requests, 1)
            errors = load.requests - load.statuses["2xx"] + load.socket_errors
            print(f"{case:<22} {name:<7} {load.rps:8.1f} {load.p99_ms:7.1f} {cpu_ms:11.2f} {errors:8d}")
    for name in servers:
        ratio = loads[name, "ours, member by id"].rps / loads[name, "DRF APIView hello"].rps
        verdict = "met" if ratio >= plumbing.TARGET_RATIO else "not met"
        print(f"{name}: ours / DRF hello = {ratio:.2f} (target >= {plumbing.TARGET_RATIO}: {verdict})")
    for case in cases:
        print(f"after / before, {case}: {loads['after', case].rps / loads['before', case].rps:.2f}")


if __name__ == "__main__":
    main()
