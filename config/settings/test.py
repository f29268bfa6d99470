"""Test settings: only speed-ups on top of base."""

from config.settings.base import *  # noqa: F403
from config.settings.base import DATABASES

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
DEBUG = False

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # In-memory test database; WAL is meaningless there.
    DATABASES["default"]["OPTIONS"].pop("init_command", None)
    DATABASES["default"]["TEST"] = {"NAME": None}
else:
    DATABASES["default"]["CONN_MAX_AGE"] = 0

# 4xx responses are the subject of many tests; keep their log lines out of the output.
LOGGING["loggers"]["django.request"] = {"level": "ERROR"}  # noqa: F405
LOGGING["loggers"]["loyalty.access"] = {"level": "WARNING"}  # noqa: F405 - the access log tests raise it

# Each test counts its queries from a cold start; the tests of loyalty.api.auth_cache turn it on themselves.
API_AUTH_CACHE_SECONDS = 0
# Likewise the rendered offer contents (offers/api/content.py); tests/offers/test_content_cache.py turns it on.
OFFERS_CONTENT_CACHE_ENTRIES = env.int("TEST_OFFERS_CONTENT_CACHE_ENTRIES", default=0)  # noqa: F405
