from django.contrib import admin, messages

from loyalty import admin_jobs, services  # noqa: F401  (admin_jobs registers the job status view)
from loyalty.admin_forms import ClientTokenAdminForm
from loyalty.models import ClientToken, LoyaltyClub, Member, MemberGroup


@admin.register(LoyaltyClub)
class LoyaltyClubAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "timezone", "offers_enabled", "rewards_enabled", "created_at")
    list_filter = ("offers_enabled", "rewards_enabled", "timezone")
    search_fields = ("slug", "name")
    readonly_fields = ("created_at", "updated_at")


@admin.register(ClientToken)
class ClientTokenAdmin(admin.ModelAdmin):
    """Issuing goes through the same service as the API; the secret is shown once, in a message."""

    form = ClientTokenAdminForm
    list_display = ("name", "token_prefix", "product", "loyalty_club_ids", "policies", "revoked_at", "created_at")
    list_filter = ("revoked_at", "product")
    search_fields = ("name", "token_prefix")
    readonly_fields = ("token_prefix", "revoked_at", "created_at", "updated_at")
    actions = ["revoke"]

    def get_fields(self, request, obj=None):
        fields = ["name", "permits", "policies", "all_clubs", "clubs", "product"]
        return fields + (["token_prefix", "revoked_at", "created_at", "updated_at"] if obj else [])

    def save_model(self, request, obj, form, change):
        attrs = form.token_attributes
        if change:
            services.client_token_update(token=obj, **attrs)
            return
        issued = services.client_token_issue(**attrs)
        obj.pk = issued.token.pk
        obj.token_prefix = issued.token.token_prefix
        messages.warning(request, f"Token secret (copy it now, it is not shown again): {issued.secret}")

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset):
        for token in queryset:
            services.client_token_revoke(token=token)
        self.message_user(request, f"Revoked {queryset.count()} token(s).")


admin.site.register(Member)
admin.site.register(MemberGroup)
