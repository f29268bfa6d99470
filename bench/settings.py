"""Production settings plus the benchmark-only URLconf (`bench.urls`): the bare baseline views live there,
never in the product. Used by every benchmark server (DJANGO_SETTINGS_MODULE=bench.settings)."""

from config.settings.production import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
