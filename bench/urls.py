"""The product's URLs plus bare baseline views for the benchmarks (target 2: the offer list page)."""

from django.db.models import OrderBy, Q
from django.db.models.functions import Lower
from django.http import JsonResponse
from django.urls import path
from django.utils import timezone

from config.urls import urlpatterns as product_urlpatterns
from offers.models import Offer, OfferStatus
from offers.texts import LocalizedText

BARE_FIELDS = (
    "id",
    "name",
    "type",
    "scope",
    "description",
    "external_url",
    "usable_since",
    "usable_until",
    "extras",
    "display_schemas",
    "read_more",
    "activation_texts",
    "usage_authorization_token_required",
    "periodic_timespan",
    "periodic_limit",
    "uses_count",
    "stock",
)


def bare_offers(request, club_id: int):
    """The same page of offers the member list shows (published, live, REGULAR, sorted by localized name),
    as `.values()` rows in a JsonResponse: no authentication, no usage figures, no tags or images."""
    now = timezone.now()
    per_page = int(request.GET.get("per_page", 100))
    rows = (
        Offer.objects.filter(
            Q(visible_since__isnull=True) | Q(visible_since__lte=now),
            Q(visible_until__isnull=True) | Q(visible_until__gt=now),
            club_id=club_id,
            scope="standard",
            status=OfferStatus.PUBLISHED,
            archived_at__isnull=True,
            type="REGULAR",
        )
        .order_by(OrderBy(Lower(LocalizedText("name", ["en"])), nulls_last=True), "id")
        .values(*BARE_FIELDS)[:per_page]
    )
    return JsonResponse({"offers": list(rows)})


urlpatterns = [path("bench/bare/offers/<int:club_id>", bare_offers), *product_urlpatterns]
handler400 = "kit.api.exceptions.json_bad_request"
handler403 = "kit.api.exceptions.json_permission_denied"
handler404 = "kit.api.exceptions.json_not_found"
handler500 = "kit.api.exceptions.json_server_error"
