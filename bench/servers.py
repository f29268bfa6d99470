"""Issue 21, target 6: the production server (gunicorn, sync workers) against other server options, on the same
data, all running at once and measured in alternating slices so that load from elsewhere hits each alike:

* `gthread`: gunicorn's threaded workers (same worker count, 4 threads each, keep-alive);
* `granian`: granian (HTTP in Rust) serving the same WSGI application, same worker count;
* `uvicorn`: Django's ASGI handler under gunicorn with uvicorn workers (the async option; our views are sync,
  so Django runs each in its thread executor).

Loads: `plumbing` — our base view with the member lookup (bench/plumbing.py's `ours`) and the DRF APIView hello;
`mixed` — the mixed 80/20 traffic of bench/mixed.py. Target: adopt another server only if it wins by ≥ 20 %
in the same run (and every test stays green); otherwise keep gunicorn.

.venv/bin/pip install -e '.[servers]'    # granian, uvicorn, uvicorn-worker
.venv/bin/python bench/servers.py [--load plumbing|mixed|both] [--servers gthread,granian,uvicorn]
    [--slice-seconds 5] [--rounds 3] [--reuse]
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import mixed, plumbing
from bench.harness import (
    HEADERS,
    PYTHON,
    ROOT,
    Gunicorn,
    LoadResult,
    _children,
    _free_port,
    children_cpu_seconds,
    combine,
    cpu_seconds,
    prepared,
    settle,
    wait_healthy,
    wrk,
)

TARGET_GAIN = 1.20
WORKERS = None  # the production worker count (config/gunicorn.conf.py: cores + 1)


class Granian:
    """granian serving bench.server_apps:wsgi, the worker count of config/gunicorn.conf.py."""

    def __init__(self, env: dict[str, str]):
        self.env, self.port = env, _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Granian:
        import multiprocessing

        workers = str(multiprocessing.cpu_count() + 1)
        # One Python thread per worker, as a sync gunicorn worker: granian's default pool (dozens of threads per
        # worker) would give every thread a database connection and the GIL to fight over.
        command = [PYTHON, "-m", "granian", "--interface", "wsgi", "--workers", workers, "--blocking-threads", "1"]
        command += ["--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning", "--no-ws"]
        command += ["bench.server_apps:wsgi"]
        log = ROOT / "var" / "bench" / "granian.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        self.log = log.open("a")
        self.proc = subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=self.log, stderr=self.log, start_new_session=True
        )
        wait_healthy(self.proc, self.base_url, f"granian (see {log})")
        return self

    def __exit__(self, *exc) -> None:
        import os
        import signal

        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # a worker waiting for its threads: its own process group, ended whole
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.log.close()

    def workers_cpu_seconds(self) -> float:
        """The main process (HTTP threads in Rust) and its workers, those replaced included."""
        return cpu_seconds([self.proc.pid]) + children_cpu_seconds(self.proc.pid)

    def worker_pids(self) -> list[int]:
        return _children(self.proc.pid)


def servers(env: dict[str, str], names: list[str]) -> dict[str, object]:
    """Name → an unstarted server; `sync` (production) first."""
    options: dict[str, object] = {"sync (production)": Gunicorn(env, app=plumbing.APP)}
    if "gthread" in names:
        options["gthread x4"] = Gunicorn(env, app=plumbing.APP, threads=4)
    if "granian" in names:
        if importlib.util.find_spec("granian") is None:
            raise SystemExit("granian is not installed: .venv/bin/pip install -e '.[servers]'")
        options["granian (WSGI)"] = Granian(env)
    if "uvicorn" in names:
        if importlib.util.find_spec("uvicorn_worker") is None:
            raise SystemExit("uvicorn-worker is not installed: .venv/bin/pip install -e '.[servers]'")
        options["uvicorn (ASGI)"] = Gunicorn(
            env, app="config.asgi:application", extra_args=("--worker-class", "uvicorn_worker.UvicornWorker")
        )
    return options


def plumbing_cases(data: dict) -> dict[str, tuple[str, dict[str, str], int]]:
    """Load name → (Lua, headers, connections)."""
    head = plumbing.headers(data)
    return {
        "plumbing: ours, member by id (c=8)": (plumbing.member_lua(data), head, 8),
        "plumbing: DRF APIView hello (c=8)": (plumbing.fixed_lua("/bench/hello/drf"), head, 8),
    }


def mixed_cases(data: dict) -> dict[str, tuple[str, dict[str, str], int]]:
    head = {**HEADERS, "X-Client-Authorization": data["token"], "Content-Type": "application/json"}
    return {"mixed 80/20 (c=16)": (mixed.mixed_lua(data), head, 16)}


def measure(running: dict, cases: dict, *, seconds: int, rounds: int) -> dict[tuple[str, str], tuple]:
    slices: dict[tuple[str, str], list[LoadResult]] = {}
    cpu: dict[tuple[str, str], float] = {}
    for server in running.values():  # warm-up: imports, connections, caches, prepared statements
        for lua, head, connections in cases.values():
            wrk(f"{server.base_url}/", lua=lua, connections=connections, duration=2, headers=head)
    for _ in range(rounds):
        for case, (lua, head, connections) in cases.items():
            for name, server in running.items():
                before = server.workers_cpu_seconds()
                result = wrk(f"{server.base_url}/", lua=lua, connections=connections, duration=seconds, headers=head)
                cpu[name, case] = cpu.get((name, case), 0.0) + server.workers_cpu_seconds() - before
                slices.setdefault((name, case), []).append(result)
    out = {}
    for key, parts in slices.items():
        load = combine(parts)
        errors = load.requests - load.statuses["2xx"] + load.socket_errors
        out[key] = (load, 1000 * cpu[key] / max(load.requests, 1), errors)
    return out


def report(results: dict, names: list[str], cases: list[str]) -> None:
    print(f"\n{'load':<40} {'server':<20} {'req/s':>8} {'vs sync':>8} {'p99 ms':>8} {'CPU ms/req':>11} {'errors':>7}")
    verdicts = []
    for case in cases:
        base = results[names[0], case][0].rps
        for name in names:
            load, cpu_ms, errors = results[name, case]
            figures = f"{load.rps:8.1f} {load.rps / base:8.2f} {load.p99_ms:8.1f} {cpu_ms:11.2f} {errors:7d}"
            print(f"{case:<40} {name:<20} {figures}")
            if name != names[0]:
                gain = load.rps / base
                verdicts.append((case, name, gain, errors == 0 and gain >= TARGET_GAIN))
    print()
    for case, name, gain, met in verdicts:
        print(
            f"Target 6 — {name} wins by >= 20 % over gunicorn sync in the same run, {case}: {gain:.2f} x: "
            f"{'met (candidate: every test must stay green too)' if met else 'not met (keep gunicorn)'}"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--load", choices=("plumbing", "mixed", "both"), default="both")
    parser.add_argument("--servers", default="gthread,granian,uvicorn")
    parser.add_argument("--slice-seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reuse", action="store_true", help="keep the databases of the previous run")
    args = parser.parse_args()
    wanted = [name.strip() for name in args.servers.split(",") if name.strip()]
    scenarios = {"plumbing": ["plumbing"], "mixed": ["mixed"], "both": ["plumbing", "mixed"]}[args.load]
    results, case_names = {}, []
    for scenario in scenarios:
        database = f"loyalty_bench_{scenario}"
        url, env, data = prepared(database, scenario, reuse=args.reuse)
        data = data[scenario]
        cases = plumbing_cases(data) if scenario == "plumbing" else mixed_cases(data)
        options = servers(env, wanted)
        running = {}
        try:
            for name, server in options.items():
                running[name] = server.__enter__()
            if scenario == "mixed":
                for server in running.values():  # the writes' tables filled, then analyzed (bench/mixed.py)
                    mixed.measure(server, data, duration=3, connections=16)
                settle(url)
            results.update(measure(running, cases, seconds=args.slice_seconds, rounds=args.rounds))
        finally:
            for server in running.values():
                server.__exit__(None, None, None)
        case_names += list(cases)
    report(results, list(options), case_names)


if __name__ == "__main__":
    main()
