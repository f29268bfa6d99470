from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.negotiation import DefaultContentNegotiation

from config import health
from kit.api.routing import club_routes
from kit.telemetry.views import metrics_view
from loyalty.api import urls as loyalty_urls
from loyalty.api.views import LoyaltyClubView
from offers.api import urls as offers_urls
from rewards.api import urls as rewards_urls
from webhooks.api import urls as webhooks_urls

club_patterns = (
    loyalty_urls.v3_patterns + offers_urls.v3_patterns + rewards_urls.v3_patterns + webhooks_urls.v3_patterns
)

urlpatterns = [
    path("admin/", admin.site.urls),
    path(
        "api/schema/",
        SpectacularAPIView.as_view(content_negotiation_class=DefaultContentNegotiation),  # YAML or JSON by Accept
        name="schema",
    ),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("healthz", health.healthz, name="healthz"),
    path("livez", health.livez, name="livez"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("v1/", include(loyalty_urls.v1_patterns)),
    path("v1/<slug:lc>/", include(rewards_urls.v1_patterns)),
    # The published API's old prefix, which its changelog (07.02.2019) says still works: every club route
    # again below /v3/loyalty_clubs/<lc>/, same views and permits. Listed first so that a slug named
    # `loyalty_clubs` cannot shadow it; namespaced so that reverse() keeps naming the /v3/<lc>/ routes; left
    # out of the OpenAPI schema (kit.api.schema.exclude_legacy_prefix), which would otherwise list it twice.
    path("v3/loyalty_clubs/<slug:lc>", LoyaltyClubView.as_view(), name="legacy-loyalty-club"),
    club_routes("v3/loyalty_clubs/<slug:lc>/", club_patterns, app_name="legacy", namespace="legacy"),
    path("v3/<slug:lc>", LoyaltyClubView.as_view(), name="loyalty-club"),
    club_routes("v3/<slug:lc>/", club_patterns),
]

handler400 = "kit.api.exceptions.json_bad_request"
handler403 = "kit.api.exceptions.json_permission_denied"
handler404 = "kit.api.exceptions.json_not_found"
handler500 = "kit.api.exceptions.json_server_error"
