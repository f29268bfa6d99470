from django.urls import path

from kit.api.routing import member_context_paths
from offers.api import image_template_views, management_views, views

# Club-scoped, mounted under /v3/<lc>/.
v3_patterns: list = [
    *member_context_paths("offers/meta", views.MemberOffersMetaView, name="member-offers-meta"),
    *member_context_paths("offers", views.MemberOfferListView, name="member-offers"),
    *member_context_paths("offers/<int:offer_id>", views.MemberOfferDetailView, name="member-offer"),
    *member_context_paths(
        "offers/<int:offer_id>/use", views.MemberOfferUseView, name="member-offer-use", contexts=("me", "id")
    ),
    *member_context_paths(
        "offers/<int:offer_id>/like", views.MemberOfferLikeView, name="member-offer-like", contexts=("me", "id")
    ),
    *member_context_paths(
        "offers/<int:offer_id>/unlike", views.MemberOfferUnlikeView, name="member-offer-unlike", contexts=("me", "id")
    ),
    *member_context_paths(
        "offers/<int:offer_id>/grant", views.MemberOfferGrantView, name="member-offer-grant", contexts=("id",)
    ),
    *member_context_paths(
        "events/offers_clicked", views.OffersClickedView, name="member-offers-clicked", contexts=("me",)
    ),
    *member_context_paths("events/offers_seen", views.OffersSeenView, name="member-offers-seen", contexts=("me",)),
    path("offers/events/offers_clicked", views.OffersClickedView.as_view(), name="offers-clicked"),
    path("offers/events/offers_seen", views.OffersSeenView.as_view(), name="offers-seen"),
]

# Image templates (published Offers Admin API), also under /v3/<lc>/.
v3_patterns += image_template_views.v3_patterns

# Offers management (SPEC §5.2), also under /v3/<lc>/. `offers/<int:offer_id>` never matches the literal paths.
v3_patterns += [
    path("offers", management_views.OffersAdminView.as_view(), name="offers-admin"),
    path("offers/clone", management_views.OffersCloneView.as_view(), name="offers-admin-clone"),
    path("offers/archive", management_views.OffersArchiveView.as_view(), name="offers-admin-archive"),
    path("offers/unarchive", management_views.OffersUnarchiveView.as_view(), name="offers-admin-unarchive"),
    path("offers/grant", management_views.OffersGrantView.as_view(), name="offers-admin-grant"),
    path("offers/collections", management_views.CollectionsAdminView.as_view(), name="offers-admin-collections"),
    path(
        "offers/collections/<int:collection_id>",
        management_views.CollectionAdminView.as_view(),
        name="offers-admin-collection",
    ),
    path("offers/<int:offer_id>", management_views.OfferAdminView.as_view(), name="offers-admin-offer"),
]
