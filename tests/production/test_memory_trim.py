"""A gunicorn worker's memory (config/gunicorn.conf.py): it gives the free pages of its C heap back every
GUNICORN_MALLOC_TRIM_EVERY requests (kit.memory: freed memory below live chunks leaves the process's RSS), and
its cyclic GC runs every GUNICORN_GC_GEN0_THRESHOLD new containers."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

from kit import memory

CONFIG = Path(__file__).resolve().parents[2] / "config" / "gunicorn.conf.py"


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_every_n_acts_on_each_nth_tick_and_never_at_zero():
    calls = []
    every = memory.EveryN(3, lambda: calls.append(1))
    for _ in range(10):
        every.tick()
    assert len(calls) == 3
    never = memory.EveryN(0, lambda: calls.append(1))
    for _ in range(10):
        never.tick()
    assert len(calls) == 3
    with pytest.raises(ValueError):
        memory.EveryN(-1, lambda: None)


def test_a_negative_setting_stops_the_server_at_start(monkeypatch):
    monkeypatch.setenv("GUNICORN_MALLOC_TRIM_EVERY", "-5")
    with pytest.raises(ValueError, match="GUNICORN_MALLOC_TRIM_EVERY"):
        runpy.run_path(str(CONFIG))


@pytest.mark.skipif(not memory.trim_supported(), reason="the C library has no malloc_trim (not glibc)")
def test_freed_memory_below_live_chunks_leaves_the_rss():
    chunks = [bytearray(16 * 1024) for _ in range(4_000)]  # ~64 MB from the C heap (above pymalloc's sizes)
    del chunks[:-1]  # all but the last: the heap's top stays in use, so free() alone cannot shrink it
    before = _rss_mb()
    assert memory.heap_trim() is True
    after = _rss_mb()
    assert before - after > 30, (before, after)


def test_the_worker_hook_trims_every_configured_number_of_requests(monkeypatch):
    trims = []
    monkeypatch.setenv("GUNICORN_MALLOC_TRIM_EVERY", "3")
    monkeypatch.setattr(memory, "heap_trim", lambda: trims.append(1))
    config = runpy.run_path(str(CONFIG))
    for _ in range(7):
        config["post_request"](None, None, {}, None)
    assert len(trims) == 2


def test_the_workers_gc_threshold_defaults_to_10000_and_follows_its_setting(monkeypatch):
    monkeypatch.delenv("GUNICORN_GC_GEN0_THRESHOLD", raising=False)
    assert runpy.run_path(str(CONFIG))["gc_gen0_threshold"] == 10_000
    monkeypatch.setenv("GUNICORN_GC_GEN0_THRESHOLD", "25000")
    assert runpy.run_path(str(CONFIG))["gc_gen0_threshold"] == 25_000
