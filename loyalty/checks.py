"""System checks of the deployment that need the database (run by `migrate` and `check --database default`)."""

from __future__ import annotations

from django.core.checks import Tags, Warning, register
from django.db import connections


@register(Tags.database)
def postgresql_autovacuum(app_configs=None, databases=None, **kwargs) -> list[Warning]:
    """Warn when PostgreSQL runs with autovacuum off while statements are prepared (server-side binding).

    A prepared statement keeps the plan PostgreSQL made for it until the statistics of its tables change, and
    autovacuum's ANALYZE is what changes them. With autovacuum off, a table analyzed while nearly empty keeps
    its sequential-scan plans however large it grows: every use of an offer then read the whole state table
    (measured: a use's database time tripled within a minute of load on a fresh database)."""
    problems: list[Warning] = []
    for alias in databases or []:
        connection = connections[alias]
        if connection.vendor != "postgresql":
            continue
        if not connection.settings_dict.get("OPTIONS", {}).get("server_side_binding"):
            continue
        if "plan_cache_mode=force_custom_plan" in connection.settings_dict["OPTIONS"].get("options", ""):
            continue
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('autovacuum')")
            (autovacuum,) = cursor.fetchone()
        if autovacuum != "on":
            problems.append(
                Warning(
                    "PostgreSQL runs with autovacuum off: statistics go stale and prepared statements keep the "
                    "plans made from them (a table analyzed while small is then scanned whole).",
                    hint="Turn autovacuum on, run ANALYZE on a schedule, or set "
                    "DATABASE_PLAN_CACHE_MODE=force_custom_plan (plans every statement afresh) or "
                    "DATABASE_SERVER_SIDE_BINDING=0.",
                    id="loyalty.W001",
                )
            )
    return problems
