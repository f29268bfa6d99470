"""Shared benchmark machinery: a fresh PostgreSQL database, the API under gunicorn with production
settings, wrk as the load generator, pgbench for SQL baselines, and the results table.

Benchmarks are not tests: they print figures and ratios against a baseline measured in the same run,
because the machine is shared and noisy. Run them on demand (see docs/benchmarks.md).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
PG_HOST = os.environ.get("BENCH_PG_HOST", "127.0.0.1")
PG_ADMIN_DSN = f"postgresql://postgres@{PG_HOST}:5432/postgres"
HEADERS = {"X-User-Agent": "bench", "X-Product-Name": "bench"}
LOCK_PATH = Path(os.environ.get("BENCH_LOCK", "/tmp/loyalty-bench.lock"))
_lock_file = None


def hold_machine() -> None:
    """One benchmark at a time on this machine: the databases have fixed names (each run drops and
    recreates its own) and two runs on 2 cores would measure each other. Blocks until the running one
    ends; held until this process exits. Called by every entry point that creates a database."""
    global _lock_file
    if _lock_file is not None or os.environ.get("BENCH_MACHINE_HELD") == "1":
        return  # held already, by this process or by the run that started it (run_all.py)
    _lock_file = open(LOCK_PATH, "a")  # noqa: SIM115 - held for the life of the process
    try:
        fcntl.flock(_lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f"waiting for the benchmark running on this machine ({LOCK_PATH})", file=sys.stderr)
        fcntl.flock(_lock_file, fcntl.LOCK_EX)
    os.environ["BENCH_MACHINE_HELD"] = "1"  # the scripts this one starts run under its lock


def ensure_tool(command: str, debian_package: str) -> str:
    """The path of `command`, installing its Debian package first if it is missing."""
    path = shutil.which(command)
    if path:
        return path
    subprocess.run(["apt-get", "install", "-y", "-qq", debian_package], check=True, stdout=subprocess.DEVNULL)
    path = shutil.which(command)
    if not path:
        raise RuntimeError(f"{command} not found after installing {debian_package}")
    return path


def recreate_database(name: str) -> str:
    """Drop and create a PostgreSQL database; returns its DATABASE_URL."""
    import psycopg

    hold_machine()

    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgres://postgres@{PG_HOST}:5432/{name}"


def bench_env(database_url: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": "bench-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_CONN_MAX_AGE": "600",
        "LOG_LEVEL": "WARNING",
        **extra,
    }


def manage(env: dict[str, str], *args: str, capture: bool = False) -> str:
    result = subprocess.run(
        [PYTHON, "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        text=True,
        stdout=subprocess.PIPE if capture else None,
    )
    return result.stdout if capture else ""


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(proc: subprocess.Popen, base_url: str, name: str, *, seconds: float = 60) -> None:
    """Wait until the server `proc` answers 200 on /healthz; raises if it exits or is not healthy in time."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{base_url}/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{name} did not become healthy")


class Gunicorn:
    """The API under gunicorn (production settings, persistent DB connections)."""

    def __init__(
        self,
        env: dict[str, str],
        *,
        workers: int | None = None,
        threads: int | None = None,
        port: int | None = None,
        app: str = "config.wsgi:application",
        extra_args: tuple[str, ...] = (),
        root: Path = ROOT,
    ):
        """Workers and threads default to the production configuration (config/gunicorn.conf.py); the port to
        a free one (the machine is shared: another server may hold any fixed port). `app` and `extra_args`
        (e.g. another worker class) serve the benchmarks that compare servers (bench/servers.py); `root` the
        ones that compare two trees of the code (bench/plumbing_ab.py)."""
        self.env, self.workers, self.threads, self.port = env, workers, threads, port or _free_port()
        self.app, self.extra_args, self.root = app, extra_args, Path(root)
        self.proc: subprocess.Popen | None = None
        self.base_url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Gunicorn:
        command = [PYTHON, "-m", "gunicorn", "-c", "config/gunicorn.conf.py", self.app, *self.extra_args]
        command += ["--bind", f"127.0.0.1:{self.port}", "--log-level", "warning"]
        if os.environ.get("BENCH_ACCESS_LOG"):  # as in production, no access log unless asked for (nginx keeps one)
            command += ["--access-logfile", "-"]
        if self.workers is not None:
            command += ["--workers", str(self.workers)]
        if self.threads is not None:
            command += ["--threads", str(self.threads), "--worker-class", "gthread" if self.threads > 1 else "sync"]
        log = ROOT / "var" / "bench" / "gunicorn.log"  # 4xx warnings of django.request land here, not on screen
        log.parent.mkdir(parents=True, exist_ok=True)
        self.log = log.open("a")
        self.proc = subprocess.Popen(command, cwd=self.root, env=self.env, stdout=self.log, stderr=self.log)
        wait_healthy(self.proc, self.base_url, "gunicorn")
        return self

    def __exit__(self, *exc) -> None:
        if self.proc:
            self.proc.terminate()
            self.proc.wait(timeout=30)
            self.log.close()

    def workers_cpu_seconds(self) -> float:
        """CPU time of the workers so far, those replaced since included (see `children_cpu_seconds`)."""
        return children_cpu_seconds(self.proc.pid)

    def worker_pids(self) -> list[int]:
        return _children(self.proc.pid)


@dataclass
class LoadResult:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    statuses: dict[str, int] = field(default_factory=dict)
    socket_errors: int = 0
    numbered: int = 0  # request numbers a script that counts them in `k` may have used (k_max × threads)


_WRK_REPORTER = r"""
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_index", #threads - 1)  -- 0-based, for scripts that split work between threads
  thread:set("thread_count", wrk_thread_count)
end
s2, s3, s4, s5, s422, s422match = 0, 0, 0, 0, 0, 0
function response(status, headers, body)
  if status >= 500 then s5 = s5 + 1 elseif status == 422 then s422 = s422 + 1; s4 = s4 + 1
    -- scripts may set expect_422 to the error text every 422 should carry
    if expect_422 and body and string.find(body, expect_422, 1, true) then s422match = s422match + 1 end
  elseif status >= 400 then s4 = s4 + 1 elseif status >= 300 then s3 = s3 + 1 else s2 = s2 + 1 end
end
function done(summary, latency, requests)
  local t = {s2=0, s3=0, s4=0, s5=0, s422=0, s422match=0}
  local k_max = 0  -- scripts that number their requests per thread keep the count in a global `k`
  for _, thread in ipairs(threads) do
    for k, _ in pairs(t) do t[k] = t[k] + thread:get(k) end
    local k = thread:get("k")
    if type(k) == "number" and k > k_max then k_max = k end
  end
  local e = summary.errors
  io.write(string.format(
    'WRKSTATS {"requests": %d, "us": %d, "p50_us": %d, "p99_us": %d, "2xx": %d, "3xx": %d, "4xx": %d, ' ..
    '"5xx": %d, "422": %d, "422match": %d, "socket_errors": %d, "k_max": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), t.s2, t.s3, t.s4,
    t.s5, t.s422, t.s422match, e.connect + e.read + e.write + e.timeout, k_max))
end
"""


def wrk(
    url: str,
    *,
    lua: str = "",
    connections: int = 16,
    duration: int = 10,
    threads: int = 2,
    headers: dict[str, str] | None = None,
    timeout: int = 10,
) -> LoadResult:
    """Run wrk against `url` with an optional Lua `request()`; returns throughput, latency and statuses."""
    binary = ensure_tool("wrk", "wrk")
    header_lines = "".join(f'wrk.headers["{k}"] = "{v}"\n' for k, v in (headers or {}).items())
    thread_count = min(threads, connections)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(f"wrk_thread_count = {thread_count}\n" + header_lines + lua + _WRK_REPORTER)
    try:
        out = subprocess.run(
            [
                binary,
                "-t",
                str(thread_count),
                "-c",
                str(connections),
                "-d",
                f"{duration}s",
                "--timeout",
                f"{timeout}s",
                "-s",
                script.name,
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(script.name)
    line = next(line for line in out.splitlines() if line.startswith("WRKSTATS "))
    stats = json.loads(line.removeprefix("WRKSTATS "))
    seconds = stats["us"] / 1e6
    return LoadResult(
        requests=stats["requests"],
        seconds=seconds,
        rps=stats["requests"] / seconds,
        p50_ms=stats["p50_us"] / 1000,
        p99_ms=stats["p99_us"] / 1000,
        statuses={k: stats[k] for k in ("2xx", "3xx", "4xx", "5xx", "422", "422match")},
        socket_errors=stats["socket_errors"],
        numbered=stats["k_max"] * thread_count,
    )


def combine(results: list[LoadResult]) -> LoadResult:
    """Slices of one measurement (interleaved with the baseline's) as one: throughput over the summed time,
    the median slice's p50, the worst slice's p99, statuses added up."""
    seconds = sum(r.seconds for r in results)
    requests = sum(r.requests for r in results)
    return LoadResult(
        requests=requests,
        seconds=seconds,
        rps=requests / seconds,
        p50_ms=sorted(r.p50_ms for r in results)[len(results) // 2],
        p99_ms=max(r.p99_ms for r in results),
        statuses={k: sum(r.statuses[k] for r in results) for k in results[0].statuses},
        socket_errors=sum(r.socket_errors for r in results),
        numbered=sum(r.numbered for r in results),
    )


def pgbench(database_url: str, script: str, *, clients: int, duration: int = 10, threads: int = 2) -> float:
    """TPS of `script` (pgbench syntax) run by `clients` connections; the SQL baseline for a request."""
    binary = ensure_tool("pgbench", "postgresql-client")
    dbname = database_url.rsplit("/", 1)[1]
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(script)
    try:
        out = subprocess.run(
            [
                binary,
                "-h",
                PG_HOST,
                "-U",
                "postgres",
                "-n",
                "-c",
                str(clients),
                "-j",
                str(min(threads, clients)),
                "-T",
                str(duration),
                "-f",
                f.name,
                "--no-vacuum",
                dbname,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(f.name)
    for line in out.splitlines():
        if line.startswith("tps ="):
            return float(line.split()[2])
    raise RuntimeError(f"could not read pgbench output:\n{out}")


@dataclass
class Row:
    metric: str
    ours: float
    baseline: float | None
    target: str
    met: bool
    unit: str = ""

    @property
    def ratio(self) -> str:
        return f"{self.ours / self.baseline:.2f}" if self.baseline else "-"


def print_table(rows: list[Row], title: str) -> None:
    print(f"\n{title}")
    header = f"{'metric':<52} {'ours':>12} {'baseline':>12} {'ratio':>7}  {'target':<22} met?"
    print(header)
    print("-" * len(header))
    for r in rows:
        base = f"{r.baseline:,.1f}" if r.baseline is not None else "-"
        print(f"{r.metric:<52} {r.ours:>12,.1f} {base:>12} {r.ratio:>7}  {r.target:<22} {'yes' if r.met else 'NO'}")


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def seed(env: dict[str, str], scenario: str, *args: str) -> dict:
    """Run a scenario of `bench.data` (bulk-created rows) and return what it prints (ids, tokens)."""
    out = subprocess.run(
        [PYTHON, "-m", "bench.data", scenario, *args], cwd=ROOT, env=env, check=True, text=True, capture_output=True
    ).stdout
    line = next(line for line in out.splitlines() if line.startswith("BENCHDATA "))
    return json.loads(line.removeprefix("BENCHDATA "))


def vacuum_analyze(database_url: str, *, checkpoint: bool = False) -> None:
    """Fresh statistics and visibility maps after bulk loads, as autovacuum would give a live database; with
    `checkpoint`, the dirty pages written out too."""
    import psycopg

    with psycopg.connect(database_url.replace("postgres://", "postgresql://"), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        if checkpoint:
            conn.execute("CHECKPOINT")


def settle(database_url: str) -> None:
    """VACUUM ANALYZE and a CHECKPOINT: the maintenance a burst of writes leaves behind, done before the
    next measurement instead of during it."""
    vacuum_analyze(database_url, checkpoint=True)


def lua_list(values) -> str:
    return "{" + ", ".join(json.dumps(v) for v in values) + "}"


def fresh_database(name: str) -> tuple[str, dict[str, str]]:
    """A new, migrated database and the environment of a benchmark server on it (bench.settings: the
    production settings plus the bench-only baseline URLs)."""
    url = recreate_database(name)
    env = bench_env(url, DJANGO_SETTINGS_MODULE="bench.settings")
    manage(env, "migrate", "-v", "0")
    return url, env


def sql_log(
    env: dict[str, str],
    method: str,
    path: str,
    *,
    headers: dict[str, str],
    body: str | None = None,
    variables: dict[str, int],
) -> tuple[int, str]:
    """The SQL one request issues, as a pgbench script (see bench.sqllog); (HTTP status, script)."""
    command = [PYTHON, "-m", "bench.sqllog", method, path]
    command += [f"--header={k}={v}" for k, v in headers.items()]
    command += [f"--var={k}={v}" for k, v in variables.items()]
    if body is not None:
        command.append(f"--body={body}")
    out = subprocess.run(command, cwd=ROOT, env=env, check=True, text=True, capture_output=True).stdout
    status = int(next(line for line in out.splitlines() if line.startswith("STATUS ")).split()[1])
    script = json.loads(next(line for line in out.splitlines() if line.startswith("PGBENCH ")).removeprefix("PGBENCH "))
    return status, script


def save_script(name: str, script: str) -> Path:
    """Keep a generated SQL baseline next to the results (var/bench/), to read what pgbench ran."""
    path = ROOT / "var" / "bench" / f"{name}.pgbench.sql"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(script)
    print(f"pgbench script: {path}", file=sys.stderr)
    return path


def prepared(database: str, *scenarios: str, reuse: bool = False) -> tuple[str, dict[str, str], dict[str, dict]]:
    """A database seeded with `scenarios` of bench.data: (DATABASE_URL, server env, {scenario: data}).
    With `reuse`, the database and data of the previous run are taken as they are (quicker iterations;
    the figures then include whatever earlier runs wrote)."""
    saved = ROOT / "var" / "bench" / f"{database}.json"
    url = f"postgres://postgres@{PG_HOST}:5432/{database}"
    hold_machine()
    if reuse and saved.exists():
        return url, bench_env(url, DJANGO_SETTINGS_MODULE="bench.settings"), json.loads(saved.read_text())
    url, env = fresh_database(database)
    data = {scenario: seed(env, scenario) for scenario in scenarios}
    vacuum_analyze(url)
    saved.parent.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps(data))
    return url, env, data


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (index 1 = parent pid), None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time consumed so far by these processes (from /proc/<pid>/stat)."""
    total = 0
    for pid in pids:
        fields = _stat(pid)
        if fields is not None:
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds(parent: int) -> float:
    """CPU time of every child `parent` has had: the live ones' own, plus what the kernel added to the
    parent's cutime/cstime for those it reaped. Unlike a sum over a list of pids, it does not go back when a
    child exits during the measurement (a gunicorn worker replaced after max_requests, a PostgreSQL backend
    whose connection closed)."""
    fields = _stat(parent)
    reaped = int(fields[13]) + int(fields[14]) if fields is not None else 0  # cutime, cstime
    return cpu_seconds(_children(parent)) + reaped / os.sysconf("SC_CLK_TCK")


def _children(parent: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(parent)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def postgres_cpu_seconds() -> float:
    """CPU time of every PostgreSQL process so far (backends of all databases: noisy on a shared machine)."""
    out = subprocess.run(["pgrep", "-x", "postgres"], capture_output=True, text=True).stdout  # by process name
    processes = {int(p) for p in out.split()}
    parents = {pid: int(fields[1]) for pid in processes if (fields := _stat(pid)) is not None}
    postmasters = [pid for pid, parent in parents.items() if parent not in processes]  # however it was started
    return sum(children_cpu_seconds(pid) for pid in postmasters)
