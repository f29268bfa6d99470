"""Indexes for member offer pages ordered by a date (docs/decisions.md, "Orders by a date walk an index per
direction"). On PostgreSQL they are built CONCURRENTLY, so offers stay writable (uses update their counters)
while a large table is indexed; that cannot run in a transaction. Should it fail half-way, drop the INVALID
index it leaves (DROP INDEX offer_page_…) and migrate again."""

from django.db import migrations, models


class AddIndexConcurrentlyOnPostgres(migrations.AddIndex):
    """`AddIndex`, built with CREATE INDEX CONCURRENTLY on PostgreSQL (SQLite builds it as usual)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.add_index(model, self.index, concurrently=True)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.remove_index(model, self.index, concurrently=True)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("loyalty", "0008_member_gender_consents"),
        ("offers", "0010_club_offer_count"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name="offer",
            index=models.Index(fields=["club", "scope", "usable_since", "id"], name="offer_page_usable_since"),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name="offer",
            index=models.Index(fields=["club", "scope", "-usable_since", "id"], name="offer_page_usable_since_desc"),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name="offer",
            index=models.Index(fields=["club", "scope", "usable_until", "id"], name="offer_page_usable_until"),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name="offer",
            index=models.Index(fields=["club", "scope", "-usable_until", "id"], name="offer_page_usable_until_desc"),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name="offer",
            index=models.Index(fields=["club", "scope", "created_at", "id"], name="offer_page_created_at"),
        ),
    ]
