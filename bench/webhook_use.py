"""Issue 19, item 8: the offer use with one `offer.used` webhook subscriber, API and Celery workers on one
machine, before and after batching the deliveries.

.venv/bin/python bench/webhook_use.py [--duration 15] [--connections 8] [--before PATH]

`--before PATH` also measures a checkout of the code before the change (e.g. `git archive <commit> | tar -x
-C /tmp/before`), run with this virtualenv. Each variant: gunicorn (production settings) and a Celery worker
(Redis broker, concurrency 2) from that tree, one endpoint subscribed to `offer.used` on a local receiver
answering 204 at once, wrk posting uses of distinct members. Reported: the API's rate, the CPU seconds the
API workers and the Celery worker spent per 1 000 uses, the tasks the worker ran, and how long after the
load the last delivery arrived (every use's event must arrive exactly once).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import PYTHON, ROOT, _free_port, children_cpu_seconds, cpu_seconds, manage, prepared, wrk
from bench.offer_use import headers, use_lua

GUNICORN = [PYTHON, "-m", "gunicorn", "-c", "config/gunicorn.conf.py", "config.wsgi:application"]
CELERY = [PYTHON, "-m", "celery", "-A", "config", "worker", "--loglevel=WARNING", "--concurrency=2"]
CELERY += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")


class Receiver:
    """Counts the event ids it was sent; answers 204 at once."""

    def __init__(self):
        self.ids: list[str] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.ids.append(self.headers.get("X-Loyalty-Event-Id", ""))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def _start(command: list[str], *, root: Path, env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        command, cwd=root, env=env, stdout=log.open("a"), stderr=subprocess.STDOUT, start_new_session=True
    )


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def _pending(env: dict) -> int:
    code = "from webhooks.models import Delivery; print(Delivery.objects.filter(state='pending').count())"
    return int(manage(env, "shell", "-c", code, capture=True).strip().splitlines()[-1])


def measure(label: str, root: Path, env: dict, data: dict, *, start: int, duration: int, connections: int) -> dict:
    queue = f"bench-webhooks-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    env = {**env, "CELERY_BROKER_URL": REDIS_URL, "CELERY_TASK_DEFAULT_QUEUE": queue}
    env["WEBHOOK_ALLOW_PRIVATE_URLS"] = "true"  # the receiver listens on 127.0.0.1
    log = ROOT / "var" / "bench" / "webhook_use.log"
    port = _free_port()
    api = _start(
        [*GUNICORN, "--bind", f"127.0.0.1:{port}", "--log-level", "warning"],
        root=root,
        env=env,
        log=log,
    )
    worker = _start(
        [*CELERY, "-Q", queue, "-n", f"{queue}@bench"],
        root=root,
        env=env,
        log=log,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{label}: the API did not start, see {log}") from None
                time.sleep(0.3)
        time.sleep(3)  # the worker's pool is up
        api_cpu = -children_cpu_seconds(api.pid)
        worker_cpu = -(children_cpu_seconds(worker.pid) + cpu_seconds([worker.pid]))
        result = wrk(
            f"{base}/",
            lua=use_lua(data, start=start),
            connections=connections,
            duration=duration,
            headers=headers(data),
        )
        api_cpu += children_cpu_seconds(api.pid)
        ended = time.monotonic()
        while _pending(env) and time.monotonic() - ended < 300:
            time.sleep(0.5)
        drained_after = time.monotonic() - ended
        worker_cpu += children_cpu_seconds(worker.pid) + cpu_seconds([worker.pid])
        tasks = subprocess.run(
            ["redis-cli", "-u", REDIS_URL, "llen", queue], capture_output=True, text=True
        ).stdout.strip()
    finally:
        _stop(api)
        _stop(worker)
    uses = result.statuses["2xx"]
    return {
        "label": label,
        "rps": result.rps,
        "uses": uses,
        "non2xx": result.requests - uses,
        "p99": result.p99_ms,
        "api_cpu_per_1000": 1000 * api_cpu / max(uses, 1),
        "worker_cpu_per_1000": 1000 * worker_cpu / max(uses, 1),
        "drained_after": drained_after,
        "left_in_queue": tasks,
        "numbered": result.numbered,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--before", type=Path, help="a checkout of the code before batching, to measure too")
    parser.add_argument("--reuse", action="store_true")
    args = parser.parse_args()
    _, env, data = prepared("loyalty_bench_webhook", "use", reuse=args.reuse)
    data = data["use"]
    receiver = Receiver()
    code = (
        "from loyalty.models import LoyaltyClub; from webhooks.models import WebhookEndpoint; "
        f"club = LoyaltyClub.objects.get(slug={data['club']!r}); WebhookEndpoint.objects.filter(club=club).delete(); "
        f"WebhookEndpoint.objects.create(club=club, url={receiver.url!r}, events=['offer.used'], secret='whsec_b')"
    )
    manage(env, "shell", "-c", code)
    variants = [("after: batched drain", ROOT)]
    if args.before:
        variants.insert(0, ("before: a task per event", args.before.resolve()))
    results, start = [], 0
    for label, root in variants:
        sent_before = len(receiver.ids)
        row = measure(label, root, env, data, start=start, duration=args.duration, connections=args.connections)
        row["received"] = len(receiver.ids) - sent_before
        start += row["numbered"] + 1000
        results.append(row)
    print(f"\nOffer use with one offer.used subscriber, c={args.connections}, {args.duration}s per variant")
    print(
        "| variant | uses/s | p99 ms | API CPU s / 1000 uses | worker CPU s / 1000 uses | events received / uses "
        "| last delivery after load |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['label']} | {r['rps']:.0f} | {r['p99']:.1f} | {r['api_cpu_per_1000']:.2f} | "
            f"{r['worker_cpu_per_1000']:.2f} | {r['received']} / {r['uses']} | {r['drained_after']:.1f} s |"
        )
    dupes = len(receiver.ids) - len(set(receiver.ids))
    print(f"duplicate event ids received: {dupes}")


if __name__ == "__main__":
    main()
