"""`Offer.content_revision` and, on PostgreSQL, the triggers that keep it (`offers.sql.CONTENT_REVISION_V1`).
Existing offers get a revision of the sequence too, so none keeps the column's default."""

from django.db import migrations, models

from offers.sql import CONTENT_REVISION_V1, CONTENT_REVISION_V1_DROP


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CONTENT_REVISION_V1)
        schema_editor.execute("UPDATE offers_offer SET content_revision = nextval('offers_content_revision_seq')")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CONTENT_REVISION_V1_DROP)


class Migration(migrations.Migration):
    dependencies = [
        ("offers", "0007_use_apply_function"),
    ]

    operations = [
        migrations.AddField(
            model_name="offer",
            name="content_revision",
            field=models.BigIntegerField(default=0, editable=False),
        ),
        migrations.RunPython(forwards, backwards),
    ]
