"""`transactions_count` gets a database default (bulk loads that name their columns may leave it out), and
the count is kept on PostgreSQL only: SQLite (development) counts the ledger instead, because a SQLite
trigger naming rewards_membership would make every later rebuild of that table fail (SQLite checks the
triggers of other tables when Django renames the rebuilt table into place)."""

from django.db import migrations, models


def drop_sqlite_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute("DROP TRIGGER IF EXISTS rewards_transaction_count")


def create_sqlite_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(
            "CREATE TRIGGER rewards_transaction_count AFTER INSERT ON rewards_transaction FOR EACH ROW BEGIN "
            "UPDATE rewards_membership SET transactions_count = transactions_count + 1 "
            "WHERE id = NEW.membership_id; END"
        )


class Migration(migrations.Migration):
    dependencies = [("rewards", "0004_membership_transactions_count")]

    operations = [
        migrations.RunPython(drop_sqlite_trigger, create_sqlite_trigger),
        migrations.AlterField(
            model_name="membership",
            name="transactions_count",
            field=models.PositiveIntegerField(db_default=0, default=0, editable=False),
        ),
    ]
