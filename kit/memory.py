"""Giving freed heap memory back to the system (glibc's `malloc_trim`).

A worker that once built large answers (a page of 100 offers is ~130 kB of JSON, its rows and dicts several
times that) keeps the peak: glibc returns only the top of its heap, and a heap whose free space lies under
live chunks stays mapped. `malloc_trim(0)` releases every free page, wherever it lies. It walks the heap,
so it is run every N requests (config/gunicorn.conf.py), not after each: about 0.1 ms on a worker's heap of
~100 MB, more on a larger one."""

from __future__ import annotations

import ctypes
import ctypes.util


def _libc_trim():
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        function = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to call
        return None
    function.argtypes = [ctypes.c_size_t]
    function.restype = ctypes.c_int
    return function


_malloc_trim = _libc_trim()


def trim_supported() -> bool:
    return _malloc_trim is not None


def heap_trim() -> bool:
    """Release the free pages of the C heap; True when the C library released some."""
    return bool(_malloc_trim(0)) if _malloc_trim is not None else False


class EveryN:
    """Calls `action` on every `n`-th `tick()`; never when `n` is 0. A negative `n` is refused."""

    def __init__(self, n: int, action) -> None:
        if n < 0:
            raise ValueError(f"EveryN: n must be 0 (never) or positive, not {n}")
        self.n, self.action, self.count = n, action, 0

    def tick(self) -> None:
        if not self.n:
            return
        self.count += 1
        if self.count >= self.n:
            self.count = 0
            self.action()
