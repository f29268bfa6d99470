"""A basic registration; the full offers admin comes with the management API."""

from django.contrib import admin

from offers.models import Collection, Offer, OfferGrant, OfferUsage


@admin.register(Offer)
class OfferAdmin(admin.ModelAdmin):
    list_display = ("id", "club", "internal_name", "scope", "type", "status", "uses_count", "stock", "archived_at")
    list_filter = ("scope", "type", "status")
    search_fields = ("internal_name",)
    raw_id_fields = ("club",)
    readonly_fields = ("uses_count", "grants_count", "created_at", "updated_at")


@admin.register(Collection)
class CollectionAdmin(admin.ModelAdmin):
    list_display = ("id", "club", "title")
    raw_id_fields = ("club",)


@admin.register(OfferGrant)
class OfferGrantAdmin(admin.ModelAdmin):
    list_display = ("id", "offer", "member", "granted_at", "usable_until", "uses_count", "source")
    raw_id_fields = ("offer", "member")


@admin.register(OfferUsage)
class OfferUsageAdmin(admin.ModelAdmin):
    list_display = ("id", "offer", "member", "used_at", "authorized")
    raw_id_fields = ("offer", "member", "grant")
