from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self):
        from kit.telemetry.metrics import register_scrape_collector
        from loyalty.signals import member_created
        from webhooks.metrics import OutboxCollector
        from webhooks.receivers import member_created_emit

        # dispatch_uid: a second ready() (a reloader, a test) must not connect it twice and emit every event twice.
        member_created.connect(member_created_emit, dispatch_uid="webhooks.member_created_emit")
        register_scrape_collector(OutboxCollector)
