from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self):
        # Member changes reach the outbox through loyalty's signals: loyalty never imports webhooks for them.
        from loyalty import signals
        from webhooks import member_changes as changes

        signals.member_created.connect(changes.on_member_created, dispatch_uid="webhooks.member_imported")
        signals.member_updated.connect(changes.on_member_updated, dispatch_uid="webhooks.member_updated")
        signals.member_deleted.connect(changes.on_member_deleted, dispatch_uid="webhooks.member_deleted")
        signals.members_imported.connect(changes.on_members_imported, dispatch_uid="webhooks.members_imported")
