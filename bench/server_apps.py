"""The benchmark application for servers other than gunicorn (bench/servers.py): what config/gunicorn.conf.py's
`post_worker_init` does in a gunicorn worker — views imported, the start-up objects frozen out of the cyclic
GC, a higher gen-0 threshold — done at import, so that every server runs the same tuned application.

`wsgi`: bench.wsgi's application (the product plus the raw hello); `asgi`: Django's ASGI handler on the same
settings (the raw hello is WSGI-only)."""

import gc
import os

from django.urls import get_resolver

from bench.wsgi import application as wsgi
from config.asgi import application as asgi

_ = get_resolver().url_patterns
gc.collect()
gc.freeze()
gc.set_threshold(int(os.environ.get("GUNICORN_GC_GEN0_THRESHOLD", 10_000)), 20, 100)  # as config/gunicorn.conf.py

__all__ = ["asgi", "wsgi"]
