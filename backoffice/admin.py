"""The back office's admin: the member page with points, level, grants, uses and the ledger, and the staff
actions on members (grant an offer, correct points, cancel a transaction) — every write through the same
services as the API. Also a read-only admin for any model of the domain apps that has none of its own.

Loaded last (backoffice is last in INSTALLED_APPS), so it extends what the domain apps registered: `loyalty`
cannot know about offers or points, the back office may.
"""

from __future__ import annotations

from django import forms
from django.apps import apps
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import OuterRef, Subquery
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from backoffice.member_overview import member_overview
from kit.errors import DomainError
from loyalty.admin import MemberAdmin as CoreMemberAdmin
from loyalty.models import LoyaltyClub, Member, MemberGroup
from offers.models import GRANT_TYPES, Offer, OfferStatus
from offers.services import grants as offers_grants
from rewards import services as rewards_services
from rewards.admin import CorrectionForm
from rewards.levels import level_for
from rewards.models import Membership, Transaction

GRANT_AT_ONCE = 1000  # beyond this, grant to a member group from the offers admin (or the API)


class GrantOfferForm(forms.Form):
    offer = forms.ModelChoiceField(
        queryset=Offer.objects.none(), help_text="Published exclusive, birthday and welcome offers"
    )
    usable_for_days = forms.IntegerField(
        min_value=1, max_value=3650, required=False, help_text="Empty: usable as long as the offer itself"
    )

    def __init__(self, *args, club_ids, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["offer"]
        field.queryset = (
            Offer.objects.filter(
                club_id__in=club_ids, type__in=GRANT_TYPES, status=OfferStatus.PUBLISHED, archived_at__isnull=True
            )
            .select_related("club")
            .order_by("club__slug", "internal_name", "id")
        )
        field.label_from_instance = lambda o: f"{o} — {o.type.lower()}, {o.club.slug}"

    @property
    def usable_for_seconds(self) -> int | None:
        days = self.cleaned_data.get("usable_for_days")
        return days * 86400 if days else None


def grant_offer_to(*, offer: Offer, members, usable_for_seconds: int | None) -> tuple[int, dict[str, int]]:
    """Grant `offer` to each member through `offer_grant`; (granted, {refusal message: members})."""
    granted, refused = 0, {}
    for member in members:
        if member.club_id != offer.club_id:
            reason = "Member of another club"
        else:
            try:
                offers_grants.offer_grant(offer=offer, member=member, usable_for_seconds=usable_for_seconds)
                granted += 1
                continue
            except DomainError as exc:
                reason = str(exc)
        refused[reason] = refused.get(reason, 0) + 1
    return granted, refused


class ProgramFilter(admin.SimpleListFilter):
    title = "rewards program"
    parameter_name = "program"

    def lookups(self, request, model_admin):
        return (("yes", "Joined"), ("no", "Not joined"))

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(rewards_membership__isnull=self.value() == "no")
        return queryset


class GroupFilter(admin.SimpleListFilter):
    title = "member group"
    parameter_name = "group"

    def lookups(self, request, model_admin):
        return [
            (g.pk, f"{g.name} ({g.club.slug})") for g in MemberGroup.objects.select_related("club").order_by("name")
        ]

    def queryset(self, request, queryset):
        if self.value() and self.value().isdigit():
            return queryset.filter(group_memberships__group_id=int(self.value()))
        return queryset


admin.site.unregister(Member)


@admin.register(Member)
class MemberAdmin(CoreMemberAdmin):
    """loyalty's member admin plus the member's points, offers and ledger, and the actions on them."""

    change_form_template = "admin/backoffice/member/change_form.html"
    list_display = ("id", "contact", "name", "club", "points", "level", "status", "joined")
    list_per_page = 50
    list_filter = (*CoreMemberAdmin.list_filter, ProgramFilter, GroupFilter)
    actions = [*CoreMemberAdmin.actions, "grant_offer"]

    def get_list_display(self, request):
        # The club column only says something when there is more than one club.
        if LoyaltyClub.objects.count() > 1:
            return self.list_display
        return tuple(column for column in self.list_display if column != "club")

    def get_queryset(self, request):
        membership = Membership.objects.filter(member=OuterRef("pk"))
        return (
            super()
            .get_queryset(request)
            .annotate(
                points=Subquery(membership.values("balance")[:1]),
                lifetime=Subquery(membership.values("lifetime_points")[:1]),
            )
        )

    def changelist_view(self, request, extra_context=None):
        # club id → levels program, read once per page rather than once per row. Shared by concurrent requests
        # of this (process-wide) admin: at worst one reads a program another request just loaded.
        self._levels = {}
        return super().changelist_view(request, extra_context)

    @admin.display(ordering="email", description="email or phone")
    def contact(self, obj: Member) -> str:
        return obj.email or (f"+{obj.msisdn}" if obj.msisdn else "—")

    @admin.display(description="status")
    def status(self, obj: Member) -> str:
        if obj.is_banned():
            return format_html('<span class="bo-badge bo-banned">banned until {}</span>', obj.banned_until.date())
        return ""

    @admin.display(ordering="last_name", description="name")
    def name(self, obj: Member) -> str:
        return " ".join(part for part in (obj.first_name, obj.last_name) if part) or "—"

    @admin.display(ordering="points", description="points")
    def points(self, obj: Member) -> str:
        return "—" if obj.points is None else f"{obj.points:,}"

    @admin.display(description="level")
    def level(self, obj: Member) -> str:
        if obj.lifetime is None:
            return "—"
        levels = getattr(self, "_levels", {})
        if obj.club_id not in levels:
            levels[obj.club_id] = rewards_services.program_config_get(club_id=obj.club_id).levels_program
        return level_for(levels[obj.club_id], lifetime_points=obj.lifetime) or "—"

    @admin.display(ordering="created_at", description="joined")
    def joined(self, obj: Member):
        return obj.created_at.date()

    def get_deleted_objects(self, objs, request):
        # Deleting a member erases its ledger, grants and history through `member_delete` (SPEC: DELETE member),
        # whatever the read-only admins of those rows say: the member's delete permission decides.
        deleted, counts, _perms_needed, protected = super().get_deleted_objects(objs, request)
        return deleted, counts, set(), protected

    # --- Member page -------------------------------------------------------------------------------

    def change_view(self, request, object_id, form_url="", extra_context=None):
        member = self.get_object(request, object_id)
        if member is not None:
            extra_context = {**(extra_context or {}), "overview": member_overview(member=member, now=timezone.now())}
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        own = [
            path(
                "<path:object_id>/grant-offer/",
                self.admin_site.admin_view(self.grant_offer_view),
                name="loyalty_member_grant_offer",
            ),
            path(
                "<path:object_id>/correct-points/",
                self.admin_site.admin_view(self.correct_points_view),
                name="loyalty_member_correct_points",
            ),
            path(
                "<path:object_id>/transactions/<int:transaction_id>/cancel/",
                self.admin_site.admin_view(self.cancel_transaction_view),
                name="loyalty_member_cancel_transaction",
            ),
        ]
        return own + super().get_urls()

    def _member_for_change(self, request, object_id) -> Member:
        member = self.get_object(request, object_id)
        if member is None:
            raise Http404("No such member")
        if not self.has_change_permission(request, member):
            raise PermissionDenied
        return member

    def _page(self, request, template: str, title: str, **context):
        return TemplateResponse(
            request,
            template,
            {**self.admin_site.each_context(request), "opts": self.opts, "title": title, **context},
        )

    def _back(self, member: Member) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:loyalty_member_change", args=[member.pk]))

    def grant_offer_view(self, request, object_id):
        member = self._member_for_change(request, object_id)
        form = GrantOfferForm(request.POST or None, club_ids=[member.club_id])
        if request.method == "POST" and form.is_valid():
            self._report_grants(request, form, [member])
            return self._back(member)
        return self._page(
            request,
            "admin/backoffice/member/grant_offer.html",
            "Grant an offer",
            form=form,
            members=[member],
            original=member,
        )

    def correct_points_view(self, request, object_id):
        member = self._member_for_change(request, object_id)
        form = CorrectionForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                tx = rewards_services.points_correct(
                    member=member, points=form.cleaned_data["points"], comment=form.cleaned_data["comment"] or None
                )
            except DomainError as exc:
                form.add_error(None, str(exc))
            else:
                self.message_user(request, f"Corrected by {tx.amount:+,} points.", messages.SUCCESS)
                return self._back(member)
        overview = member_overview(member=member, now=timezone.now())
        return self._page(
            request,
            "admin/backoffice/member/correct_points.html",
            "Correct points",
            form=form,
            original=member,
            overview=overview,
        )

    def cancel_transaction_view(self, request, object_id, transaction_id):
        member = self._member_for_change(request, object_id)
        tx = get_object_or_404(Transaction, pk=transaction_id, membership__member=member)
        if request.method == "POST":
            try:
                cancellation = rewards_services.transaction_cancel(member=member, transaction_id=tx.pk)
            except DomainError as exc:
                self.message_user(request, f"Transaction #{tx.pk} was not cancelled: {exc}", messages.ERROR)
            else:
                self.message_user(
                    request,
                    f"Transaction #{tx.pk} cancelled by #{cancellation.pk} ({cancellation.amount:+,} points).",
                    messages.SUCCESS,
                )
            return self._back(member)
        return self._page(
            request, "admin/backoffice/member/cancel_transaction.html", "Cancel a transaction", tx=tx, original=member
        )

    # --- Changelist action -------------------------------------------------------------------------

    @admin.action(description="Grant an offer to selected members")
    def grant_offer(self, request, queryset):
        count = queryset.count()
        if count > GRANT_AT_ONCE:
            self.message_user(
                request,
                f"{count:,} members selected: grant to at most {GRANT_AT_ONCE:,} at once here, or grant the offer "
                "to a member group from the offers admin.",
                messages.ERROR,
            )
            return None
        club_ids = sorted(set(queryset.values_list("club_id", flat=True)))
        form = GrantOfferForm(request.POST if "apply" in request.POST else None, club_ids=club_ids)
        if "apply" in request.POST and form.is_valid():
            self._report_grants(request, form, list(queryset.select_related("club")))
            return None
        return self._page(
            request,
            "admin/backoffice/member/grant_offer.html",
            "Grant an offer",
            form=form,
            members=queryset[:50],
            count=count,
            action_checkbox_name=admin.helpers.ACTION_CHECKBOX_NAME,
            selected=queryset.values_list("pk", flat=True),
        )

    def _report_grants(self, request, form: GrantOfferForm, members) -> None:
        offer = form.cleaned_data["offer"]
        granted, refused = grant_offer_to(offer=offer, members=members, usable_for_seconds=form.usable_for_seconds)
        if granted:
            self.message_user(request, f"Granted “{offer}” to {granted:,} member(s).", messages.SUCCESS)
        for reason, n in sorted(refused.items()):
            self.message_user(request, f"Not granted to {n:,} member(s): {reason}.", messages.WARNING)


# --- Every other model: read-only, so no history can be edited by accident ----------------------------

DOMAIN_APPS = ("loyalty", "offers", "rewards", "webhooks")
SECRET_PARTS = ("digest", "secret", "password", "response_body")
# Rows edited through their parent's page: registered (reachable by URL) but not listed on the index.
THROUGH_PARENT = {
    "loyalty.membergroupmembership",
    "offers.offertag",
    "offers.offerstore",
    "offers.offerfile",
    "offers.collectionoffer",
}


class ReadOnlyFallbackAdmin(admin.ModelAdmin):
    """A list with the model's plain columns, filters on its choices and flags, search by id; no writes."""

    list_per_page = 50
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        # Never from this model's own pages; when a parent is deleted (a member, an offer), its rows go with
        # it under the parent's permission, as the delete services do.
        match = getattr(request, "resolver_match", None)
        opts = self.model._meta
        if match is None or (match.url_name or "").startswith(f"{opts.app_label}_{opts.model_name}_"):
            return False
        return super().has_delete_permission(request, obj)

    def get_model_perms(self, request):
        if self.model._meta.label_lower in THROUGH_PARENT:
            return {}
        return super().get_model_perms(request)


def _shown(field) -> bool:
    return field.concrete and not any(part in field.name for part in SECRET_PARTS)


def fallback_admin_for(model: type[models.Model]) -> type[admin.ModelAdmin]:
    fields = [f for f in model._meta.get_fields() if _shown(f)]
    columns = [f.name for f in fields if not isinstance(f, models.JSONField | models.TextField | models.BinaryField)]
    filters = [f.name for f in fields if f.choices or isinstance(f, models.BooleanField)]
    filters += [f.name for f in fields if f.name == "club"]
    searches = ["=id"] + [f"={f.name}__id" for f in fields if f.name == "member"]
    dates = [f.name for f in fields if isinstance(f, models.DateTimeField)]
    attrs = {
        "list_display": columns[:8],
        "list_filter": filters,
        "search_fields": searches,
        "fields": [f.name for f in fields],
        "readonly_fields": [f.name for f in fields],
        "ordering": ["-pk"],
        "date_hierarchy": dates[0] if dates and len(dates) == 1 else None,
        "__module__": __name__,
    }
    return type(f"{model.__name__}ReadOnlyAdmin", (ReadOnlyFallbackAdmin,), attrs)


for _model in (m for label in DOMAIN_APPS for m in apps.get_app_config(label).get_models()):
    if not admin.site.is_registered(_model):
        admin.site.register(_model, fallback_admin_for(_model))
