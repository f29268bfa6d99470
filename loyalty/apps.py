from django.apps import AppConfig


class LoyaltyConfig(AppConfig):
    name = "loyalty"
    verbose_name = "Loyalty clubs and members"

    def ready(self):
        from django.db.models.signals import post_delete, post_save

        from loyalty.api import auth_cache
        from loyalty.models import ClientToken, LoyaltyClub

        # Cache invalidation, not a business rule: every write path (services, admin, shell) must reach it.
        for model in (ClientToken, LoyaltyClub):
            post_save.connect(auth_cache.clear, sender=model, dispatch_uid=f"auth_cache_save_{model.__name__}")
            post_delete.connect(auth_cache.clear, sender=model, dispatch_uid=f"auth_cache_delete_{model.__name__}")
