from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self):
        # Loyalty announces its member writes with loyalty.signals; webhooks turns them into outbox events.
        from kit.telemetry.metrics import register_scrape_collector
        from loyalty import signals
        from webhooks import member_changes as changes
        from webhooks.metrics import OutboxCollector
        from webhooks.receivers import member_created_emit

        # dispatch_uid: a second ready() (a reloader, a test) must not connect it twice and emit every event twice.
        signals.member_created.connect(member_created_emit, dispatch_uid="webhooks.member_created_emit")
        signals.member_created.connect(changes.on_member_created, dispatch_uid="webhooks.member_imported")
        signals.member_updated.connect(changes.on_member_updated, dispatch_uid="webhooks.member_updated")
        signals.member_deleted.connect(changes.on_member_deleted, dispatch_uid="webhooks.member_deleted")
        signals.members_imported.connect(changes.on_members_imported, dispatch_uid="webhooks.members_imported")
        register_scrape_collector(OutboxCollector)
