"""An index for the daily birthday job on PostgreSQL: the club's members by birthday month and day.

`birthday_member_ids` filters `club_id = … AND EXTRACT(MONTH FROM birthday) = … AND EXTRACT(DAY FROM
birthday) = …`; without this index it reads every member of the club each day. PostgreSQL only: on SQLite
the ORM's EXTRACT is a function Django registers on its own connections, and an index on it would make the
table unwritable from any other SQLite client (and a SQLite deployment is small enough to scan).
"""

from django.db import migrations

INDEX = "member_club_birthday_md"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX} ON loyalty_member "
            "(club_id, EXTRACT(MONTH FROM birthday), EXTRACT(DAY FROM birthday))"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    # CONCURRENTLY: members stay writable while a large table is indexed; it cannot run in a transaction.
    # Should it fail half-way, drop the INVALID index it leaves (DROP INDEX member_club_birthday_md) and migrate
    # again.
    atomic = False

    dependencies = [("loyalty", "0005_member_oauth_token_names")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
