"""The ground floor: the API kit and the vocabulary every domain app shares. It imports no domain app."""

from django.apps import AppConfig


class KitConfig(AppConfig):
    name = "kit"
    verbose_name = "Platform"

    def ready(self):
        from django.db.models.signals import post_migrate

        from kit import checks  # noqa: F401  (registers the database checks)

        post_migrate.connect(_database_defaults, sender=self, dispatch_uid="kit.database_defaults")

        _psycopg_cache_long_queries()


def _database_defaults(*, using: str = "default", **kwargs) -> None:
    from kit.db.server_settings import apply_database_defaults

    apply_database_defaults(using=using)


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
