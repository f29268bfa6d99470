"""The server-side function of a use in one statement (PostgreSQL only; other databases keep the ORM path,
which gives the same answers): `offers.sql.USE_APPLY_FUNCTION_V1`, see `offers.sql.use_apply`."""

from django.db import migrations

from offers.sql import USE_APPLY_FUNCTION_V1


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(USE_APPLY_FUNCTION_V1)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "DROP FUNCTION IF EXISTS offers_use_apply_v1(bigint, bigint, integer, timestamptz, bigint, integer, "
            "timestamptz, boolean)"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("offers", "0006_tag_store_club"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
