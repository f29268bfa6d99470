"""System checks of the deployment that need the database (run by `migrate` and `check --database default`)."""

from __future__ import annotations

from django.core.checks import Tags, Warning, register
from django.db import DatabaseError, connections


@register(Tags.database)
def postgresql_autovacuum(app_configs=None, databases=None, **kwargs) -> list[Warning]:
    """Warn when PostgreSQL cannot keep its statistics fresh while statements are prepared.

    A prepared statement keeps the plan PostgreSQL made for it until the statistics of its tables change
    (or the connection is replaced, after DATABASE_CONN_MAX_AGE), and autovacuum's ANALYZE is what changes
    them. Without it, a table analyzed while nearly empty keeps its sequential-scan plans as it grows: every
    use of an offer read the whole state table (measured: a use's database time ×3.7 within a minute of
    load on a fresh database). Autovacuum needs `autovacuum` and `track_counts` on; with `plan_cache_mode`
    at `force_custom_plan` nothing is kept, and without server-side binding nothing is prepared."""
    problems: list[Warning] = []
    for alias in databases or []:
        connection = connections[alias]
        if connection.vendor != "postgresql" or not connection.settings_dict["OPTIONS"].get("server_side_binding"):
            continue
        try:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT current_setting('plan_cache_mode'), current_setting('autovacuum'), "
                    "current_setting('track_counts')"
                )
                plan_cache_mode, autovacuum, track_counts = cursor.fetchone()
        except DatabaseError:  # an unreachable database is for the command itself to report
            continue
        if plan_cache_mode != "force_custom_plan" and "off" in (autovacuum, track_counts):
            problems.append(
                Warning(
                    f"PostgreSQL runs with autovacuum={autovacuum}, track_counts={track_counts}: statistics go "
                    "stale and prepared statements keep the plans made from them (a table analyzed while "
                    "small is then scanned whole, on each connection until it is replaced).",
                    hint="Turn autovacuum and track_counts on, run ANALYZE on a schedule, or set "
                    "DATABASE_PLAN_CACHE_MODE=force_custom_plan (plans every statement afresh) or "
                    "DATABASE_SERVER_SIDE_BINDING=0.",
                    id="loyalty.W001",
                )
            )
    return problems
