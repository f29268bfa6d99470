"""Production settings plus the benchmark-only URLconf (`bench.urls`): the bare baseline views live there,
never in the product. Used by every benchmark server (DJANGO_SETTINGS_MODULE=bench.settings)."""

from config.settings.production import *  # noqa: F403
from config.settings.production import API_PATH_PREFIXES

ROOT_URLCONF = "bench.urls"
# The baseline views of bench/urls.py run through the API's middleware stack, as the API's own requests do.
API_PATH_PREFIXES = (*API_PATH_PREFIXES, "/bench/")
