"""Raw SQL and database-vendor branches have one home per app (`<app>/sql.py`): read from the source, so a
new statement written anywhere else fails here with its file and line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RAW = re.compile(r"connection\.vendor|\.cursor\(|\.raw\(|RawSQL\(|\.extra\(|update_from_values\(|pg_array\(")
# The health view runs `SELECT 1`; it moves to config/ on branch `prod` (issue 18).
ALLOWED = {"loyalty/api/views.py"}


def raw_sql_lines(app: str) -> list[str]:
    found = []
    for path in sorted((ROOT / app).rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if "/migrations/" in relative or relative == f"{app}/sql.py" or relative in ALLOWED:
            continue
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if RAW.search(line) and not line.lstrip().startswith("#"):
                found.append(f"{relative}:{number}: {line.strip()}")
    return found


@pytest.mark.parametrize("app", ["loyalty", "rewards", "webhooks"])
def test_every_raw_statement_and_vendor_branch_of_the_app_lives_in_its_sql_module(app):
    assert raw_sql_lines(app) == []


def test_the_check_sees_a_raw_statement(tmp_path, monkeypatch):
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "services.py").write_text("with connection.cursor() as cursor:\n    pass\n")
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)

    assert raw_sql_lines("demo") == ["demo/services.py:1: with connection.cursor() as cursor:"]
