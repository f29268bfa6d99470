"""The offers app's layout rules, read from the source: domain code does not lean on the API layer, the
admin does not borrow API serializers, and the rules module stays free of I/O."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = [
    *sorted((ROOT / "offers/services").glob("*.py")),
    *sorted((ROOT / "offers/selectors").glob("*.py")),
    *(ROOT / "offers" / name for name in ("rules.py", "sql.py", "events.py", "birthday.py", "tasks.py")),
]
ADMINS = [ROOT / "offers/admin.py", ROOT / "backoffice/admin.py"]


def _imports(path: Path) -> set[str]:
    """Every module the file imports, at any depth (imports inside functions too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("path", DOMAIN, ids=lambda p: str(p.relative_to(ROOT)))
def test_domain_code_imports_no_api_module(path):
    assert not [name for name in _imports(path) if "api" in name.split(".")]


@pytest.mark.parametrize("path", ADMINS, ids=lambda p: str(p.relative_to(ROOT)))
def test_admins_import_no_api_serializers(path):
    assert not [name for name in _imports(path) if "api" in name.split(".") and "serializers" in name]


def test_the_rules_do_no_io():
    source = (ROOT / "offers/rules.py").read_text()
    assert not [name for name in _imports(ROOT / "offers/rules.py") if name.startswith(("django.db", "offers.sql"))]
    assert ".objects" not in source and "connection" not in source and "timezone.now" not in source


def test_the_simulator_and_every_grant_path_use_the_one_implementation():
    assert "offers.rules" in _imports(ROOT / "backoffice/seed/simulate.py")
    grants_users = [ROOT / "offers/birthday.py", ROOT / "offers/api/views.py", ROOT / "backoffice/admin.py"]
    for path in grants_users:
        assert any(name.startswith("offers.services.grants") for name in _imports(path)), path
    assert not [p for p in (ROOT / "offers").rglob("*.py") if "ON CONFLICT" in p.read_text() and p.name != "sql.py"]
