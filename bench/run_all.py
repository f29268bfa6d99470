"""Every benchmark target in one run (`make bench`).

First issue 10's targets against one database seeded with every scenario, one gunicorn with the production
configuration (config/gunicorn.conf.py), each figure next to the baseline measured in the same run — with
the offer use judged by issue 21's target 3 (both pgbench baselines) and the mixed traffic by its target 4.
Then issue 21's own scripts, each seeding its own database: the lists' scaling (target 1), the request
plumbing (target 2), the status of a long history (target 5); the server A/B (target 6) only with
`--servers`; last the expire_points benchmark.

.venv/bin/python bench/run_all.py [--quick] [--reuse] [--skip-expire] [--skip-issue21] [--servers]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import hot_offer, mixed, offer_list, offer_use, rewards_status
from bench.harness import PYTHON, ROOT, Gunicorn, prepared, print_table, settle


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="shorter measurements (about half)")
    parser.add_argument("--reuse", action="store_true", help="keep the database of the previous run")
    parser.add_argument("--skip-expire", action="store_true", help="leave out target 5 (expire_points)")
    parser.add_argument("--skip-issue21", action="store_true", help="leave out issue 21's own scripts")
    parser.add_argument("--servers", action="store_true", help="also issue 21's server A/B (bench/servers.py)")
    args = parser.parse_args()
    seconds = 9 if args.quick else 15
    url, env, data = prepared("loyalty_bench_all", "use", "list", "status", "mixed", reuse=args.reuse)
    before = os.getloadavg()
    with Gunicorn(env) as server:
        print("target 1: offer use vs pgbench ...", flush=True)
        t1 = offer_use.measure(server, env, url, data["use"], duration=seconds, connections=8)
        print("target 3: hot offer ...", flush=True)
        t3 = hot_offer.measure(server, env, url, data["use"], duration=seconds)
        print("target 2: offer list vs bare view ...", flush=True)
        t2 = offer_list.measure(server, data["list"], duration=seconds, connections=8)
        print("target 4: rewards status, big vs small ledger ...", flush=True)
        t4 = rewards_status.measure(server, data["status"], duration=seconds)
        print("targets 6 and 7: mixed traffic, then worker memory ...", flush=True)
        # The earlier targets wrote tens of thousands of rows: let their vacuum and checkpoint run now rather
        # than under the mixed load (each target's own script starts from a settled database too).
        settle(url)
        t6 = mixed.measure(server, data["mixed"], duration=20 if not args.quick else 12, connections=16)
    after = os.getloadavg()
    rows = (
        offer_use.rows(t1, connections=8)
        + offer_list.rows(t2, connections=8)
        + hot_offer.rows(t3, target1_rps=t1["ours"].rps)
        + rewards_status.rows(t4)
        + mixed.rows(t6, connections=16)
    )
    print_table(rows, "Issue 10 targets, offer use and mixed by issue 21 (ours vs baseline, same run)")
    print(f"load average before {before[0]:.1f}, after {after[0]:.1f} ({os.cpu_count()} cores)")
    scripts = []
    if not args.skip_issue21:
        rounds = ["--rounds", "1" if args.quick else "2"]
        status_seconds = ["--duration", "6" if args.quick else "12"]
        scripts += [
            ("issue 21 target 1: lists as the catalogue grows", "scaling.py", rounds),
            ("issue 21 target 2: the request plumbing", "plumbing.py", rounds),
            ("issue 21 target 5: status of a long history", "status_scaling.py", status_seconds),
        ]
        if args.servers:
            scripts.append(("issue 21 target 6: server A/B", "servers.py", ["--load", "mixed"]))
    if not args.skip_expire:
        scripts.append(("issue 10 target 5: expire_points", "expire_points.py", []))
    for title, script, extra in scripts:
        print(f"\n{title} (bench/{script}) ...", flush=True)
        subprocess.run([PYTHON, str(ROOT / "bench" / script), *extra], cwd=ROOT, check=False)


if __name__ == "__main__":
    main()
