"""The product's URLs plus bare baseline views for the benchmarks: the offer list page (issue 10, target 2) and
the hello views of the request plumbing (issue 21, target 2: bench/plumbing.py)."""

from django.db.models import OrderBy, Q
from django.db.models.functions import Lower
from django.http import JsonResponse
from django.urls import path
from django.utils import timezone
from rest_framework.response import Response
from rest_framework.views import APIView

from config.urls import urlpatterns as product_urlpatterns
from offers.api.views import MemberOfferAPIView, MemberOfferUseView
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


# --- The request plumbing (issue 21, target 2) ---------------------------------------------------------------
# Three answers of the same size through the same middleware stack: a Django view, a DRF APIView with the
# project's DRF settings (renderer, negotiation, exception handler; no authentication), and our base view doing
# everything an offer use does before its business — headers, client token, club, feature, permits (the use's
# own, scope included), the member by id or by Bearer token, the body gate — and nothing after it.


def django_hello(request):
    return JsonResponse({"hello": "world"})


class DRFHello(APIView):
    def get(self, request):
        return Response({"hello": "world"})


class PlumbingMember(MemberOfferAPIView):
    """The offer use's checks and member lookup, without the use: answers the member's id."""

    permit = MemberOfferUseView.permit

    def get(self, request, lc, ctx, member_id=None):
        return Response({"member": request.member.pk})


_plumbing = PlumbingMember.as_view()

urlpatterns = [
    path("bench/bare/offers/<int:club_id>", bare_offers),
    path("bench/hello/django", django_hello, name="bench-hello-django"),
    path("bench/hello/drf", DRFHello.as_view(), name="bench-hello-drf"),
    path("bench/plumbing/<slug:lc>/members/me", _plumbing, {"ctx": "me"}, name="bench-plumbing-me"),
    path("bench/plumbing/<slug:lc>/members/<int:member_id>", _plumbing, {"ctx": "id"}, name="bench-plumbing-id"),
    *product_urlpatterns,
]
handler400 = "kit.api.exceptions.json_bad_request"
handler403 = "kit.api.exceptions.json_permission_denied"
handler404 = "kit.api.exceptions.json_not_found"
handler500 = "kit.api.exceptions.json_server_error"
