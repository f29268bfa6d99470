"""A real HTTP receiver on 127.0.0.1 for webhook tests (no mock of `requests`)."""

from __future__ import annotations

import json
import random
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from webhooks.services import webhook_endpoint_create


@dataclass
class Received:
    headers: dict
    body: bytes
    at: float  # time.time() when it arrived (follows time_machine)

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    url: str
    requests: list[Received] = field(default_factory=list)
    # Statuses to answer, in order; 200 once they run out.
    statuses: list[int] = field(default_factory=list)
    delay_seconds: float = 0.0  # before answering (and logging the request)
    jitter: bool = False
    # Events (by id) always answered 503.
    failing_event_ids: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def events(self) -> list[tuple[str, str]]:
        return [(r.json["type"], r.json["id"]) for r in self.requests]


@pytest.fixture
def receiver(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True  # the receiver listens on 127.0.0.1 (see test_egress.py)
    state: Receiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            arrived = time.time()
            if state.delay_seconds:
                # Random, so that requests sent in parallel finish (and are logged) in any order.
                time.sleep(random.uniform(0, state.delay_seconds) if state.jitter else state.delay_seconds)
            with state.lock:
                state.requests.append(Received(headers=dict(self.headers.items()), body=body, at=arrived))
                status = state.statuses.pop(0) if state.statuses else 200
                if json.loads(body or b"{}").get("id") in state.failing_event_ids:
                    status = 503
            try:
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(f"answered {status}".encode())
            except (BrokenPipeError, ConnectionResetError):
                pass  # the sender gave up waiting (timeout tests)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state = Receiver(url=f"http://127.0.0.1:{server.server_address[1]}/hooks")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def fast_webhooks(settings):
    settings.WEBHOOK_BACKOFF_BASE_SECONDS = 10
    settings.WEBHOOK_BACKOFF_MAX_SECONDS = 3600
    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    return settings


@pytest.fixture
def endpoint(club, receiver, fast_webhooks):
    return webhook_endpoint_create(club=club, url=receiver.url, events=["points.earned", "offer.used"])
