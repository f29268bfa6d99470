from django.apps import AppConfig


class LoyaltyConfig(AppConfig):
    name = "loyalty"
    verbose_name = "Loyalty clubs and members"

    def ready(self):
        from django.db.models.signals import post_delete, post_save

        from loyalty import checks  # noqa: F401  (registers the database checks)
        from loyalty.api import auth_cache
        from loyalty.models import ClientToken, LoyaltyClub

        # Cache invalidation, not a business rule: every write path (services, admin, shell) must reach it.
        for model in (ClientToken, LoyaltyClub):
            post_save.connect(auth_cache.clear, sender=model, dispatch_uid=f"auth_cache_save_{model.__name__}")
            post_delete.connect(auth_cache.clear, sender=model, dispatch_uid=f"auth_cache_delete_{model.__name__}")

        _psycopg_cache_long_queries()


def _psycopg_cache_long_queries() -> None:
    """Let psycopg keep the parse of our long queries.

    psycopg converts a query's `%s` placeholders with a regular expression and caches the result only for
    queries under 4 096 bytes and 50 parameters. The usage-annotated offer query (offers.selectors) is
    about 5 400 bytes with about 80 parameters, so it was split again on every offer list and GET — 8 % of
    the list's CPU. Our SQL texts are a fixed, small set (the ORM's and our own), so caching the long ones
    too is bounded by psycopg's LRU (128 entries). The limits are module constants of psycopg 3; when a
    release renames them this does nothing.
    """
    try:
        from psycopg import _queries
    except ImportError:  # SQLite-only installs
        return
    if hasattr(_queries, "MAX_CACHED_STATEMENT_LENGTH") and hasattr(_queries, "MAX_CACHED_STATEMENT_PARAMS"):
        _queries.MAX_CACHED_STATEMENT_LENGTH = max(_queries.MAX_CACHED_STATEMENT_LENGTH, 16_384)
        _queries.MAX_CACHED_STATEMENT_PARAMS = max(_queries.MAX_CACHED_STATEMENT_PARAMS, 200)
