"""The benchmark server's WSGI application: the product's (config.wsgi), plus a raw WSGI hello at
/bench/hello/raw answered before Django sees the request — the floor of gunicorn and the kernel's connection
per request (bench/plumbing.py) — and /bench/memory, what the answering worker holds (bench/worker_memory.py).
"""

import gc
import json
import os
import sys
from collections import Counter

from config.wsgi import application as django_application

_RAW_BODY = b'{"hello":"world"}'
_RAW_HEADERS = [("Content-Type", "application/json"), ("Content-Length", str(len(_RAW_BODY)))]


def _memory() -> bytes:
    with open("/proc/self/status") as f:
        rss = next((int(line.split()[1]) / 1024 for line in f if line.startswith("VmRSS:")), 0.0)
    objects = gc.get_objects()
    tracked = len(objects)
    types = Counter(type(o).__name__ for o in objects).most_common(12)
    del objects
    return json.dumps(
        {
            "pid": os.getpid(),
            "rss_mb": round(rss, 1),
            "allocated_blocks": sys.getallocatedblocks(),
            "gc_tracked": tracked,
            "frozen": gc.get_freeze_count(),
            "top_types": types,
        }
    ).encode()


def application(environ, start_response):
    if environ.get("PATH_INFO") == "/bench/memory":
        body = _memory()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]
    if environ.get("PATH_INFO") == "/bench/hello/raw":
        start_response("200 OK", list(_RAW_HEADERS))
        return [_RAW_BODY]
    return django_application(environ, start_response)
