"""Real concurrency for tests: threads with their own database connections, released together."""

from __future__ import annotations

import threading
from collections import Counter

from django.db import connection


def run_in_parallel(calls: list) -> list:
    """Run each zero-argument callable in its own thread, all released at once by a barrier.

    Returns each call's result, or the exception it raised (for the caller's assertions). Every thread
    closes its own database connection when done."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def worker(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = calls[index]()
        except Exception as exc:  # reported by the caller's assertions
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a worker hung"
    return results


def outcomes(responses: list) -> Counter:
    """Counter of (status, error message or "ok") over API responses."""
    counted: Counter = Counter()
    for response in responses:
        assert not isinstance(response, Exception), repr(response)
        counted[(response.status_code, response.json().get("error", "ok"))] += 1
    return counted
