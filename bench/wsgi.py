"""The benchmark server's WSGI application: the product's (config.wsgi), plus a raw WSGI hello at
/bench/hello/raw answered before Django sees the request — the floor of gunicorn and the kernel's connection
per request (bench/plumbing.py)."""

from config.wsgi import application as django_application

_RAW_BODY = b'{"hello":"world"}'
_RAW_HEADERS = [("Content-Type", "application/json"), ("Content-Length", str(len(_RAW_BODY)))]


def application(environ, start_response):
    if environ.get("PATH_INFO") == "/bench/hello/raw":
        start_response("200 OK", list(_RAW_HEADERS))
        return [_RAW_BODY]
    return django_application(environ, start_response)
