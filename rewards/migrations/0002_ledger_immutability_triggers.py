"""Database triggers that make the ledger append-only (SPEC §6.6): a transaction's facts never change and its
`expired_at` / `cancelled_at` markers are set at most once; a lot's amount, owner and expiry never change;
allocations are never updated. Violations raise an integrity error whatever code path tries them."""

from django.db import migrations

TX_FACTS = (
    "id",
    "membership_id",
    "type",
    "date",
    "amount",
    "details",
    "achievement_type",
    "cancelled_transaction_id",
    "expired_lot_id",
    "expiry_round",
)
LOT_FACTS = ("id", "transaction_id", "membership_id", "amount", "expires_at")
MARKERS = ("expired_at", "cancelled_at")

MESSAGE = "rewards ledger is append-only"


def _sqlite_changed(columns):
    return " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in columns)


def _pg_changed(columns):
    return " OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in columns)


def _markers_reset(changed):
    return " OR ".join(f"(OLD.{c} IS NOT NULL AND {changed([c])})" for c in MARKERS)


def forwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        tx_condition = f"{_sqlite_changed(TX_FACTS)} OR {_markers_reset(_sqlite_changed)}"
        statements = [
            f"CREATE TRIGGER rewards_transaction_append_only BEFORE UPDATE ON rewards_transaction "
            f"FOR EACH ROW WHEN {tx_condition} BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
            f"CREATE TRIGGER rewards_lot_append_only BEFORE UPDATE ON rewards_lot "
            f"FOR EACH ROW WHEN {_sqlite_changed(LOT_FACTS)} BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
            f"CREATE TRIGGER rewards_allocation_append_only BEFORE UPDATE ON rewards_allocation "
            f"FOR EACH ROW BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
        ]
    elif vendor == "postgresql":
        raise_ = f"RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'integrity_constraint_violation'"
        tx_condition = f"{_pg_changed(TX_FACTS)} OR {_markers_reset(_pg_changed)}"
        statements = [
            f"""CREATE FUNCTION rewards_transaction_append_only() RETURNS trigger AS $$
            BEGIN IF {tx_condition} THEN {raise_}; END IF; RETURN NEW; END; $$ LANGUAGE plpgsql""",
            "CREATE TRIGGER rewards_transaction_append_only BEFORE UPDATE ON rewards_transaction "
            "FOR EACH ROW EXECUTE FUNCTION rewards_transaction_append_only()",
            f"""CREATE FUNCTION rewards_lot_append_only() RETURNS trigger AS $$
            BEGIN IF {_pg_changed(LOT_FACTS)} THEN {raise_}; END IF; RETURN NEW; END; $$ LANGUAGE plpgsql""",
            "CREATE TRIGGER rewards_lot_append_only BEFORE UPDATE ON rewards_lot "
            "FOR EACH ROW EXECUTE FUNCTION rewards_lot_append_only()",
            f"""CREATE FUNCTION rewards_allocation_append_only() RETURNS trigger AS $$
            BEGIN {raise_}; END; $$ LANGUAGE plpgsql""",
            "CREATE TRIGGER rewards_allocation_append_only BEFORE UPDATE ON rewards_allocation "
            "FOR EACH ROW EXECUTE FUNCTION rewards_allocation_append_only()",
        ]
    else:  # other backends: the services and CHECK constraints still hold the rules
        return
    for statement in statements:
        schema_editor.execute(statement)


def backwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for table in ("transaction", "lot", "allocation"):
        if vendor == "sqlite":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS rewards_{table}_append_only")
        elif vendor == "postgresql":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS rewards_{table}_append_only ON rewards_{table}")
            schema_editor.execute(f"DROP FUNCTION IF EXISTS rewards_{table}_append_only()")


class Migration(migrations.Migration):
    dependencies = [("rewards", "0001_ledger_and_shop")]

    operations = [migrations.RunPython(forwards, backwards)]
