"""Issue 21, target 2: what our request plumbing costs. Under the production gunicorn (bench.wsgi: the product
plus a raw WSGI hello), wrk at the same concurrency against, in alternating slices:

* raw WSGI hello (`--raw`): no Django at all, the floor of gunicorn and a connection per request;
* Django view hello: a function view through the production middleware stack;
* DRF APIView hello: an APIView with the project's DRF settings, no authentication;
* ours: `bench/plumbing/{lc}/members/{id}` — our base view doing what an offer use does before its business
  (the X-User-Agent / X-Product-Name headers, the client token, the club, the `offers` feature, the use's
  permits with its scope, the member by id, the body gate), the same headers and token as a real call;
* ours, `me` (information): the same with the member found by its Bearer token.

Every request sends the same headers. Target: ours ≥ 0.8 × the DRF hello of the same run.

.venv/bin/python bench/plumbing.py [--slice-seconds 5] [--rounds 3] [--connections 8] [--raw] [--reuse]
    [--profile 20 [--gil]]   # then py-spy records the workers for 20 s under `ours`: the flame summary
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import HEADERS, ROOT, Gunicorn, LoadResult, Row, combine, lua_list, prepared, print_table, wrk

TARGET_RATIO = 0.8
APP = "bench.wsgi:application"


def member_lua(data: dict) -> str:
    members = data["member_ids"]
    return f"""
local first, count = {members["first"]}, {members["count"]}
k = 0
function request()
  local i = k * thread_count + thread_index
  k = k + 1
  return wrk.format("GET", "/bench/plumbing/{data["club"]}/members/" .. (first + i % count))
end
"""


def bearer_lua(data: dict) -> str:
    return f"""
local bearers = {lua_list(data["bearers"])}
k = 0
function request()
  local i = k * thread_count + thread_index
  k = k + 1
  local headers = {{}}  -- wrk.format replaces wrk.headers with the table it is given
  for name, value in pairs(wrk.headers) do headers[name] = value end
  headers["Authorization"] = "Bearer " .. bearers[i % #bearers + 1]
  return wrk.format("GET", "/bench/plumbing/{data["club"]}/members/me", headers)
end
"""


def fixed_lua(path: str) -> str:
    return f"""
function request()
  return wrk.format("GET", "{path}")
end
"""


def endpoints(data: dict, *, raw: bool) -> dict[str, str]:
    """Name → the Lua `request()` of each measured endpoint, in the order of the slices."""
    cases = {}
    if raw:
        cases["raw WSGI hello"] = fixed_lua("/bench/hello/raw")
    cases["Django view hello"] = fixed_lua("/bench/hello/django")
    cases["DRF APIView hello"] = fixed_lua("/bench/hello/drf")
    cases["ours: base view + member by id"] = member_lua(data)
    cases["ours: base view + member by Bearer (me)"] = bearer_lua(data)
    return cases


def headers(data: dict) -> dict[str, str]:
    return {**HEADERS, "X-Client-Authorization": data["token"]}


def measure(server: Gunicorn, data: dict, *, cases: dict[str, str], seconds: int, rounds: int, connections: int):
    """Each endpoint `rounds` times, in alternating slices; (LoadResult, worker CPU ms per request) by name."""
    slices: dict[str, list[LoadResult]] = {name: [] for name in cases}
    cpu: dict[str, float] = dict.fromkeys(cases, 0.0)
    for lua in cases.values():  # warm-up: connections, caches, prepared statements
        wrk(f"{server.base_url}/", lua=lua, connections=connections, duration=1, headers=headers(data))
    for _ in range(rounds):
        for name, lua in cases.items():
            before = server.workers_cpu_seconds()
            slices[name].append(
                wrk(f"{server.base_url}/", lua=lua, connections=connections, duration=seconds, headers=headers(data))
            )
            cpu[name] += server.workers_cpu_seconds() - before
    results = {}
    for name, parts in slices.items():
        load = combine(parts)
        results[name] = (load, 1000 * cpu[name] / max(load.requests, 1))
    return results


def rows(results: dict, *, connections: int) -> list[Row]:
    drf = results["DRF APIView hello"][0]
    out = []
    for name, (load, cpu_ms) in results.items():
        clean = load.statuses["2xx"] == load.requests and not load.socket_errors
        if name == "ours: base view + member by id":
            met = load.rps >= TARGET_RATIO * drf.rps and clean
            target = f">= {TARGET_RATIO} x DRF hello"
            out.append(Row(f"{name}, req/s (c={connections})", load.rps, drf.rps, target, met))
        elif name.startswith("ours"):
            out.append(Row(f"{name}, req/s", load.rps, drf.rps, "info (vs DRF hello)", clean))
        else:
            out.append(Row(f"{name}, req/s", load.rps, drf.rps, "baseline", clean))
        out.append(Row(f"   worker CPU ms/request, p99 {load.p99_ms:.1f} ms", cpu_ms, None, "info", True))
        if not clean:
            errors = load.requests - load.statuses["2xx"] + load.socket_errors
            out.append(Row("   non-2xx answers and socket errors", errors, None, "0", False))
    return out


def verdict(results: dict) -> str:
    ours, drf = results["ours: base view + member by id"][0], results["DRF APIView hello"][0]
    clean = ours.statuses["2xx"] == ours.requests and not ours.socket_errors
    ratio = ours.rps / drf.rps
    met = ratio >= TARGET_RATIO and clean
    return (
        f"Target 2 — our base view with member lookup >= {TARGET_RATIO} x a DRF APIView hello in the same run: "
        f"{ratio:.2f} x ({ours.rps:,.0f} / {drf.rps:,.0f} req/s{'' if clean else ', with errors'}): "
        f"{'met' if met else 'not met'}"
    )


# --- Profile (py-spy) ----------------------------------------------------------------------------------------


def profile(server: Gunicorn, data: dict, *, seconds: int, connections: int, output: Path, gil: bool) -> Path:
    """py-spy samples every worker (`--subprocesses` of the gunicorn master) while wrk loads `ours`; the raw
    (collapsed stacks) output is written to `output`. Without `gil` a sample is taken whenever a worker is
    not idle, waits on PostgreSQL and on the client's socket included (wall time); with `gil` only while it
    holds the GIL, i.e. runs Python (CPU time)."""
    py_spy = Path(sys.executable).with_name("py-spy")
    command = [str(py_spy), "record", "--pid", str(server.proc.pid), "--subprocesses", "--format", "raw"]
    command += ["--rate", "250", "--duration", str(seconds), "--output", str(output), "--nonblocking"]
    command += ["--gil"] if gil else []
    recorder = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    load = threading.Thread(
        target=wrk,
        args=(f"{server.base_url}/",),
        kwargs={"lua": member_lua(data), "connections": connections, "duration": seconds + 2, "headers": headers(data)},
    )
    load.start()
    _, err = recorder.communicate()
    load.join()
    if recorder.returncode != 0:
        raise RuntimeError(f"py-spy failed: {err}")
    return output


def _frame_name(frame: str) -> str:
    """`function (path/to/file.py:123)` → `function (file.py)` relative to the package: lines differ per
    call site, and the summary is by function."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", str(ROOT) + "/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{name} ({path})"


REQUEST_FRAME = "SyncWorker.handle ("  # gunicorn's handling of one connection: parse, application, write


def flame_summary(raw: Path, *, top: int = 25) -> tuple[list[tuple[str, float]], list[tuple[str, float]], int]:
    """(self %, cumulative %) of the top functions, and the sample count, from py-spy's raw output. Only the
    samples of a worker handling a connection count: idle time (waiting in `accept`/`select` for the next
    one) and the start-up of a worker replaced during the profile (`max_requests`) are left out, so the shares
    are of the time spent on requests."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [_frame_name(f) for f in stack.split(";") if not f.startswith("process ")]
        if not any(f.startswith(REQUEST_FRAME) for f in frames):
            continue  # an idle worker, or one starting
        n = int(count)
        samples += n
        own[frames[-1]] += n
        for frame in set(frames):
            total[frame] += n
    pct = 100 / max(samples, 1)
    # The frames under which every request runs (gunicorn's loop, the connection) say nothing: left out.
    below = [(f, n) for f, n in total.most_common() if n < 0.995 * samples]
    return (
        [(f, n * pct) for f, n in own.most_common(top)],
        [(f, n * pct) for f, n in below[:top]],
        samples,
    )


def print_flame(raw: Path, *, top: int) -> None:
    own, cumulative, samples = flame_summary(raw, top=top)
    print(f"\npy-spy: {samples} samples of workers handling a request ({raw})")
    print(f"{'self %':>7}  function")
    for frame, share in own:
        print(f"{share:7.1f}  {frame}")
    print(f"\n{'cum. %':>7}  function")
    for frame, share in cumulative:
        print(f"{share:7.1f}  {frame}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--slice-seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--raw", action="store_true", help="also the raw WSGI hello (no Django)")
    parser.add_argument("--reuse", action="store_true", help="keep the database of the previous run")
    parser.add_argument("--profile", type=int, default=0, metavar="SECONDS", help="then py-spy the workers")
    parser.add_argument("--gil", action="store_true", help="profile: only samples holding the GIL (CPU)")
    parser.add_argument("--top", type=int, default=25, help="functions in the flame summary")
    parser.add_argument("--summarize", type=Path, metavar="RAW", help="only print the summary of a py-spy raw file")
    args = parser.parse_args()
    if args.summarize:
        print_flame(args.summarize, top=args.top)
        return
    _, env, data = prepared("loyalty_bench_plumbing", "plumbing", reuse=args.reuse)
    data = data["plumbing"]
    cases = endpoints(data, raw=args.raw)
    with Gunicorn(env, app=APP) as server:
        results = measure(
            server, data, cases=cases, seconds=args.slice_seconds, rounds=args.rounds, connections=args.connections
        )
        raw = None
        if args.profile:
            raw = ROOT / "var" / "bench" / f"plumbing-{os.getpid()}.pyspy.txt"
            profile(server, data, seconds=args.profile, connections=args.connections, output=raw, gil=args.gil)
    print_table(rows(results, connections=args.connections), "Issue 21, target 2: the request plumbing")
    print(verdict(results))
    if raw is not None:
        print_flame(raw, top=args.top)


if __name__ == "__main__":
    main()
