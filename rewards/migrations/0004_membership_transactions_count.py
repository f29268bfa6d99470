"""`Membership.transactions_count`: the number of the membership's ledger rows, kept by a trigger on every
INSERT into rewards_transaction (statement-level with a transition table on PostgreSQL, so a batch of the
expiration job updates each membership once), and filled in for existing memberships. The ledger is
append-only and its rows go only with their membership, so inserts are the only change to count."""

from django.db import migrations, models

BACKFILL = (
    "UPDATE rewards_membership SET transactions_count = "
    "(SELECT count(*) FROM rewards_transaction t WHERE t.membership_id = rewards_membership.id)"
)


def forwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        statements = [
            "CREATE TRIGGER rewards_transaction_count AFTER INSERT ON rewards_transaction FOR EACH ROW BEGIN "
            "UPDATE rewards_membership SET transactions_count = transactions_count + 1 "
            "WHERE id = NEW.membership_id; END",
        ]
    elif vendor == "postgresql":
        statements = [
            """CREATE FUNCTION rewards_transaction_count() RETURNS trigger AS $$
            BEGIN
                UPDATE rewards_membership m SET transactions_count = m.transactions_count + n.added
                FROM (SELECT membership_id, count(*) AS added FROM new_rows GROUP BY membership_id) n
                WHERE m.id = n.membership_id;
                RETURN NULL;
            END; $$ LANGUAGE plpgsql""",
            "CREATE TRIGGER rewards_transaction_count AFTER INSERT ON rewards_transaction "
            "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rewards_transaction_count()",
        ]
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise NotImplementedError(vendor)
    for statement in [*statements, BACKFILL]:
        schema_editor.execute(statement)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP TRIGGER IF EXISTS rewards_transaction_count ON rewards_transaction")
        schema_editor.execute("DROP FUNCTION IF EXISTS rewards_transaction_count()")
    else:
        schema_editor.execute("DROP TRIGGER IF EXISTS rewards_transaction_count")


class Migration(migrations.Migration):
    dependencies = [("rewards", "0003_expiry_warning")]

    operations = [
        migrations.AddField(
            model_name="membership",
            name="transactions_count",
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
        migrations.RunPython(forwards, backwards),
    ]
