"""The request id (X-Request-Id in, out, on every log line of the request), the access log line, and the
JSON log format."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest
from rest_framework.test import APIClient

from kit.telemetry.logs import logging_config

HEX32 = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def json_log():
    """The root logger writing through the settings' JSON handler (formatter and request-id filter) into a
    buffer; `lines()` parses what was written. Raises the access and request loggers to INFO / WARNING."""
    config = logging_config(log_format="json", level="INFO")
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    formatter_conf = dict(config["formatters"]["json"])
    factory = formatter_conf.pop("()")
    module, _, name = factory.rpartition(".")
    formatter_class = getattr(__import__(module, fromlist=[name]), name)
    handler.setFormatter(formatter_class(formatter_conf["format"]))
    from kit.telemetry.logs import RequestIdFilter

    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    saved = {n: logging.getLogger(n).level for n in ("loyalty.access", "django.request")}
    logging.getLogger("loyalty.access").setLevel(logging.INFO)
    logging.getLogger("django.request").setLevel(logging.WARNING)
    root.addHandler(handler)
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    root.removeHandler(handler)
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


def test_a_sane_incoming_request_id_is_kept_and_returned(db):
    response = APIClient().get("/nope", HTTP_X_REQUEST_ID="lb-7f3a:2024/abc_1.2")
    assert response["X-Request-Id"] == "lb-7f3a:2024/abc_1.2"


@pytest.mark.parametrize(
    "incoming",
    ["", "two words", 'quote"d', "x" * 129, "-starts-with-dash", "tab\there", "é-not-ascii"],
)
def test_an_insane_or_missing_request_id_is_replaced_by_a_fresh_one(db, incoming):
    response = APIClient().get("/nope", HTTP_X_REQUEST_ID=incoming)
    assert HEX32.fullmatch(response["X-Request-Id"])


def test_without_a_header_every_request_gets_its_own_id(db):
    ids = {APIClient().get("/nope")["X-Request-Id"] for _ in range(3)}
    assert len(ids) == 3 and all(HEX32.fullmatch(i) for i in ids)


def test_api_answers_carry_the_request_id_too(api, club):
    response = api.get(f"/v3/{club.slug}", HTTP_X_REQUEST_ID="req-club-1")
    assert response.status_code == 200
    assert response["X-Request-Id"] == "req-club-1"


def test_every_log_line_of_a_request_carries_its_id_and_one_access_line_is_written(db, json_log):
    APIClient().get("/nope", HTTP_X_REQUEST_ID="req-42")

    lines = json_log()
    assert {line["logger"] for line in lines} >= {"django.request", "loyalty.access"}
    assert {line["request_id"] for line in lines} == {"req-42"}
    access = [line for line in lines if line["logger"] == "loyalty.access"]
    assert len(access) == 1
    (line,) = access
    assert (line["method"], line["path"], line["route"], line["status"], line["level"]) == (
        "GET",
        "/nope",
        "<unmatched>",
        404,
        "INFO",
    )
    assert line["duration_ms"] >= 0
    assert line["message"].startswith("GET /nope 404 ")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["timestamp"])


def test_the_access_line_names_the_route_and_the_client(api, club, json_log):
    api.get(f"/v3/{club.slug}", HTTP_X_FORWARDED_FOR="203.0.113.9, 10.0.0.1")
    (line,) = [line for line in json_log() if line["logger"] == "loyalty.access"]
    assert (line["route"], line["status"], line["client"], line["user_agent"]) == (
        "loyalty-club",
        200,
        "203.0.113.9",
        "pytest",
    )


def test_lines_outside_a_request_have_no_id(json_log):
    logging.getLogger("loyalty.test").warning("outside")
    (line,) = json_log()
    assert (line["message"], line["request_id"]) == ("outside", "-")


def test_log_format_picks_the_formatter():
    assert logging_config(log_format="json", level="INFO")["handlers"]["console"]["formatter"] == "json"
    assert logging_config(log_format="plain", level="INFO")["handlers"]["console"]["formatter"] == "plain"


def test_settings_refuse_an_unknown_log_format():
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", "import django, os; django.setup()"],
        env={**__import__("os").environ, "DJANGO_SETTINGS_MODULE": "config.settings.base", "LOG_FORMAT": "xml"},
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "LOG_FORMAT must be plain or json, not 'xml'" in result.stderr


def test_production_settings_log_json_by_default():
    import subprocess
    import sys

    env = {
        **__import__("os").environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": "x" * 50,
        "DJANGO_ALLOWED_HOSTS": "example.com",
    }
    env.pop("LOG_FORMAT", None)
    code = "import django; django.setup(); from django.conf import settings; print(settings.LOG_FORMAT)"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert result.stdout.strip() == "json", result.stderr
