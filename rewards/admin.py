"""Staff screens for the rewards program. Writes go through the same services as the API; the ledger is
read-only here (transactions are never added, changed or deleted in the admin; corrections are an action)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import F
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from kit.errors import DomainError, InvalidParameters
from rewards import services
from rewards.levels_program import parse_levels_program
from rewards.models import MAX_POINTS, Achievement, Membership, ProgramConfig, Reward, RewardPurchase, Transaction


class ProgramConfigForm(forms.ModelForm):
    class Meta:
        model = ProgramConfig
        fields = ("club", "points_validity_days", "reward_activation_time", "levels_program")

    def clean_levels_program(self):
        value = self.cleaned_data.get("levels_program")
        if value is None:
            return None
        try:
            return parse_levels_program(value)
        except InvalidParameters as exc:
            raise ValidationError(f"Invalid levels program: {exc.details['levels_program']}") from None


@admin.register(ProgramConfig)
class ProgramConfigAdmin(admin.ModelAdmin):
    form = ProgramConfigForm
    list_display = ("club", "points_validity_days", "reward_activation_time", "updated_at")
    readonly_fields = ("created_at", "updated_at")

    def get_readonly_fields(self, request, obj=None):
        return (*self.readonly_fields, "club") if obj is not None else self.readonly_fields

    def save_model(self, request, obj, form, change):
        fields = {k: form.cleaned_data[k] for k in ("points_validity_days", "reward_activation_time", "levels_program")}
        config = services.program_config_update(club=form.cleaned_data.get("club") or obj.club, **fields)
        obj.pk = config.pk


@admin.register(Achievement)
class AchievementAdmin(admin.ModelAdmin):
    list_display = ("name", "type", "club", "points", "limit", "frequency_timespan", "frequency_limit")
    list_filter = ("type", "club")
    search_fields = ("name",)
    readonly_fields = ("created_at", "updated_at")

    _FIELDS = ("type", "name", "points", "limit", "frequency_timespan", "frequency_limit")

    def save_model(self, request, obj, form, change):
        fields = {k: form.cleaned_data[k] for k in self._FIELDS}
        if change:
            services.achievement_update(rule=obj, **fields)
        else:
            obj.pk = services.achievement_create(club=form.cleaned_data["club"], **fields).pk

    def delete_model(self, request, obj):
        services.achievement_delete(rule=obj)


class RewardAdminForm(forms.ModelForm):
    # No Meta: the admin builds it from the ModelAdmin's fields, as for its default form.

    def clean(self):
        data = super().clean()
        club = data.get("club") or getattr(self.instance, "club", None)
        if club is not None and "required_member_level" in self.changed_data:
            # The service's own rule, asked early so that a bad level is a field error and not a crash.
            try:
                services.reward_level_check(club_id=club.pk, required_member_level=data.get("required_member_level"))
            except InvalidParameters as exc:
                [leaf] = exc.details["reward"]["required_member_level"]
                self.add_error("required_member_level", leaf["message"])
        return data


@admin.register(Reward)
class RewardAdmin(admin.ModelAdmin):
    form = RewardAdminForm
    list_display = (
        "name",
        "club",
        "price",
        "status",
        "stock",
        "remaining_stock",
        "required_member_level",
        "available_until",
        "archived_at",
    )
    list_filter = ("status", "club")
    search_fields = ("name",)
    readonly_fields = ("purchased_count", "created_at", "updated_at")
    actions = ["archive"]

    _FIELDS = (
        "name",
        "description",
        "price",
        "required_member_level",
        "status",
        "stock",
        "uses_per_purchase",
        "usable_for_seconds",
        "available_until",
        "files",
        "archived_at",
    )

    def save_model(self, request, obj, form, change):
        fields = {k: form.cleaned_data[k] for k in self._FIELDS if k in form.cleaned_data}
        if change:
            services.reward_update(reward=obj, **fields)
        else:
            obj.pk = services.reward_create(club=form.cleaned_data["club"], **fields).pk

    def has_delete_permission(self, request, obj=None):
        # A bought reward stays (purchases and the ledger name it): archive it instead.
        if obj is not None and obj.purchases.exists():
            return False
        return super().has_delete_permission(request, obj)

    def delete_model(self, request, obj):
        services.reward_delete(reward=obj)

    def delete_queryset(self, request, queryset):
        for reward in queryset:
            services.reward_delete(reward=reward)

    @admin.action(description="Archive selected rewards")
    def archive(self, request, queryset):
        for reward in queryset.filter(archived_at__isnull=True):
            services.reward_update(reward=reward, archived_at=timezone.now())


class CorrectionForm(forms.Form):
    points = forms.IntegerField(
        min_value=-MAX_POINTS, max_value=MAX_POINTS, help_text="Positive adds points, negative removes them"
    )
    comment = forms.CharField(max_length=1000, required=False)

    def clean_points(self):
        if self.cleaned_data["points"] == 0:
            raise ValidationError("Must not be 0.")
        return self.cleaned_data["points"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    """Balances are caches of the ledger: read-only. Corrections go through the correction service."""

    list_display = ("member", "club", "balance", "lifetime_points", "started_at", "ledger")
    list_select_related = ("member__club",)
    search_fields = ("member__email", "member__msisdn", "=member__id")
    list_filter = ("member__club",)
    readonly_fields = ("member", "started_at", "balance", "lifetime_points", "ledger")
    fields = readonly_fields
    actions = ["correct_points"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Club")
    def club(self, obj):
        return obj.member.club

    @admin.display(description="Ledger")
    def ledger(self, obj):
        url = reverse("admin:rewards_transaction_changelist") + f"?membership__id__exact={obj.pk}"
        return format_html('<a href="{}">Transactions</a>', url)

    @admin.action(description="Correct points (with a comment)")
    def correct_points(self, request, queryset):
        if "apply" in request.POST:
            form = CorrectionForm(request.POST)
            if form.is_valid():
                done = 0
                for membership in queryset.select_related("member"):
                    try:
                        services.points_correct(
                            member=membership.member,
                            points=form.cleaned_data["points"],
                            comment=form.cleaned_data["comment"] or None,
                        )
                        done += 1
                    except DomainError as exc:
                        self.message_user(request, f"{membership.member}: {exc}", messages.ERROR)
                if done:
                    self.message_user(request, f"Corrected the points of {done} member(s).", messages.SUCCESS)
                return HttpResponseRedirect(request.get_full_path())
        else:
            form = CorrectionForm()
        context = {
            **self.admin_site.each_context(request),
            "title": "Correct points",
            "form": form,
            "memberships": queryset.select_related("member"),
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/rewards/membership/correct_points.html", context)


class TransactionStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return (("open", "Neither cancelled nor expired"), ("cancelled", "Cancelled"), ("expired", "Expired"))

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.filter(cancelled_at__isnull=True, expired_at__isnull=True)
        if self.value() == "cancelled":
            return queryset.filter(cancelled_at__isnull=False)
        if self.value() == "expired":
            return queryset.filter(expired_at__isnull=False)
        return queryset


@admin.register(Transaction)
class TransactionAdmin(admin.ModelAdmin):
    """The ledger, read-only: no add, change or delete, whoever the user."""

    list_display = ("id", "member", "type", "date", "amount", "expires_at", "expired_at", "cancelled_at", "details")
    list_filter = ("type", TransactionStateFilter, "membership__member__club")
    search_fields = ("=membership__member__id", "membership__member__email")
    date_hierarchy = "date"
    show_full_result_count = False
    list_per_page = 100
    actions = ["cancel_transactions"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("membership__member")
            .annotate(lot_expires_at=F("lot__expires_at"))
        )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Member")
    def member(self, obj):
        return obj.membership.member

    @admin.display(description="Expires at")
    def expires_at(self, obj):
        return obj.lot_expires_at

    def has_cancel_permission(self, request):
        # Cancelling is a write on the member's points, like a correction.
        return request.user.has_perm("rewards.change_membership")

    @admin.action(description="Cancel selected transactions", permissions=["cancel"])
    def cancel_transactions(self, request, queryset):
        """Asks first; then one `transaction_cancel` per row, each in its own transaction, refusals reported."""
        rows = list(queryset.select_related("membership__member").order_by("id")[:200])
        if "apply" not in request.POST:
            context = {
                **self.admin_site.each_context(request),
                "title": "Cancel transactions",
                "transactions": rows,
                "opts": self.model._meta,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(request, "admin/rewards/transaction/cancel_transactions.html", context)
        done = 0
        for tx in rows:
            try:
                services.transaction_cancel(member=tx.membership.member, transaction_id=tx.pk)
                done += 1
            except DomainError as exc:
                self.message_user(request, f"Transaction #{tx.pk} was not cancelled: {exc}", messages.ERROR)
        if done:
            self.message_user(request, f"Cancelled {done} transaction(s).", messages.SUCCESS)
        return None


class CancelledFilter(admin.SimpleListFilter):
    title = "cancelled"
    parameter_name = "cancelled"

    def lookups(self, request, model_admin):
        return (("yes", "Cancelled"), ("no", "Not cancelled"))

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(cancelled_at__isnull=self.value() == "no")
        return queryset


@admin.register(RewardPurchase)
class RewardPurchaseAdmin(admin.ModelAdmin):
    """Purchases are written by the shop services only: read-only here (a purchase is cancelled by cancelling
    its transaction)."""

    list_display = ("id", "member", "reward", "purchased_at", "usable_until", "uses_count", "uses_left", "cancelled_at")
    list_filter = ("reward", CancelledFilter)
    search_fields = ("=membership__member__id", "membership__member__email", "reward__name")
    list_select_related = ("membership__member", "reward")
    date_hierarchy = "purchased_at"
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Member")
    def member(self, obj):
        return obj.membership.member
