from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self):
        from kit.telemetry.metrics import register_scrape_collector
        from webhooks.metrics import OutboxCollector

        register_scrape_collector(OutboxCollector)
