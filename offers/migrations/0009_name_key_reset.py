"""A name written outside the catalog service drops the offer's stored name key
(`offers.sql.NAME_KEY_RESET_V1`), on PostgreSQL and SQLite; other databases keep the service's writes only."""

from django.db import migrations

from offers.sql import NAME_KEY_RESET_V1, NAME_KEY_RESET_V1_DROP


def _run(statements: dict[str, str]):
    def run(apps, schema_editor):
        statement = statements.get(schema_editor.connection.vendor)
        if statement:
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("offers", "0008_offer_content_revision"),
    ]

    operations = [migrations.RunPython(_run(NAME_KEY_RESET_V1), _run(NAME_KEY_RESET_V1_DROP))]
