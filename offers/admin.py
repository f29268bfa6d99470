"""The offers side of the Django admin. Every write goes through the services the management API uses
(`offers.services`, `offers.images`); rules are checked by the same functions, so staff get the
API's messages. Grants, usages and grant-to-audience calls are read-only lists."""

from __future__ import annotations

import json
import re

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import FilteredSelectMultiple
from django.db.models import OuterRef, Subquery
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from kit.errors import DomainError
from loyalty.models import MemberGroup
from offers import images
from offers.display import display_schemas_errors
from offers.models import (
    AudienceGrant,
    Collection,
    CollectionOffer,
    Offer,
    OfferFile,
    OfferGrant,
    OfferStatus,
    OfferUsage,
)
from offers.services import catalog, collections, grants
from offers.services.catalog import OfferAttributesInvalid
from offers.services.files import file_public_url
from offers.texts import text_for, text_unsafe

_LANGUAGE_MAP = re.compile(r"[A-Za-z0-9_-]{1,20}")


# --- Form fields ----------------------------------------------------------------------------------


class LocalizedTextFormField(forms.CharField):
    """A text as staff type it: plain text, or a JSON object of languages (`{"en": "Shoes", "nb": "Sko"}`)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 2, "cols": 80}))
        kwargs.setdefault("help_text", 'Plain text, or per language: {"en": "Shoes", "nb": "Sko"}')
        super().__init__(**kwargs)

    def prepare_value(self, value):
        if isinstance(value, dict):
            return json.dumps(value, ensure_ascii=False)
        return value

    def to_python(self, value):
        value = super().to_python(value)
        if not value:
            return None
        if value.lstrip().startswith("{"):
            try:
                parsed = json.loads(value)
            except ValueError:
                raise forms.ValidationError("Not valid JSON: write plain text or a {language: text} object.") from None
            if not isinstance(parsed, dict) or not all(
                isinstance(k, str) and _LANGUAGE_MAP.fullmatch(k) and isinstance(v, str) for k, v in parsed.items()
            ):
                raise forms.ValidationError('Give a {language: text} object, e.g. {"en": "Shoes"}.')
            return parsed
        return value


class ListFormField(forms.CharField):
    """A list of strings, one per line or separated by commas."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("widget", forms.TextInput(attrs={"size": 80}))
        super().__init__(**kwargs)

    def prepare_value(self, value):
        return ", ".join(value) if isinstance(value, list) else value

    def to_python(self, value):
        value = super().to_python(value) or ""
        return [part.strip() for part in re.split(r"[,\n]", value) if part.strip()]


class IdListFormField(ListFormField):
    def prepare_value(self, value):
        return ", ".join(str(v) for v in value) if isinstance(value, list) else value

    def to_python(self, value):
        parts = super().to_python(value)
        if not all(p.isascii() and p.isdigit() and 0 < int(p) < 2**63 for p in parts):
            raise forms.ValidationError("Offer ids are numbers separated by commas.")
        return [int(p) for p in parts]


def _image_field(help_text: str) -> forms.ImageField:
    return forms.ImageField(required=False, help_text=help_text)


# --- Offers -----------------------------------------------------------------------------------------

# Where a rule's message goes on the form (the API's field names → the admin's).
_FORM_FIELD = {
    "periodic_usage.limit": "periodic_limit",
    "collection_ids": "collection_ids",
    "audience_id": "audience",
}


# The offer attributes the form edits as the services take them (the form's fields and the attributes it
# hands to `offer_create` / `offer_update` both come from this list); the audience, the periodic usage and
# the relations have form fields of their own shape, mapped in `offer_attributes`.
_OFFER_ATTRIBUTES = (
    "internal_name",
    "internal_description",
    "status",
    "scope",
    "type",
    "name",
    "description",
    "external_url",
    "usable_since",
    "usable_until",
    "visible_since",
    "visible_until",
    "campaign_id",
    "maximum_uses_per_user",
    "maximum_grants_per_user",
    "stock",
    "usage_authorization_token",
    "usage_authorization_token_required",
    "read_more",
    "activation_texts",
    "extras",
    "display_schemas",
)


class OfferAdminForm(forms.ModelForm):
    name = LocalizedTextFormField()
    description = LocalizedTextFormField()
    tags = ListFormField(help_text="Separated by commas")
    stores = ListFormField(help_text="Separated by commas")
    collection_ids = forms.ModelMultipleChoiceField(
        queryset=Collection.objects.none(),
        required=False,
        label="Collections",
        widget=FilteredSelectMultiple("collections", is_stacked=False),
    )
    image = _image_field("Upload the original image; the base and thumbnail sizes are made in the background.")

    class Meta:
        model = Offer
        fields = ("club", *_OFFER_ATTRIBUTES, "audience", "periodic_timespan", "periodic_limit")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        club_id = self.instance.club_id if self.instance.pk else None
        collections = Collection.objects.select_related("club").order_by("club__slug", "id")
        groups = MemberGroup.objects.select_related("club").order_by("club__slug", "name")
        if club_id:
            collections, groups = collections.filter(club_id=club_id), groups.filter(club_id=club_id)
        self.fields["collection_ids"].queryset = collections
        self.fields["collection_ids"].label_from_instance = lambda c: f"{c.club.slug}: {text_for(c.title, []) or c}"
        if "audience" in self.fields:
            self.fields["audience"].queryset = groups
        if self.instance.pk:
            offer = self.instance
            self.initial["tags"] = list(offer.tag_rows.order_by("id").values_list("value", flat=True))
            self.initial["stores"] = list(offer.store_rows.order_by("id").values_list("value", flat=True))
            self.initial["collection_ids"] = list(
                CollectionOffer.objects.filter(offer=offer).values_list("collection_id", flat=True)
            )
        for name in ("internal_name", "internal_description", "usage_authorization_token"):
            if name in self.fields:
                self.fields[name].required = False

    def offer_attributes(self) -> dict:
        """The form's values as service attributes (files are not edited here, so they are left as they are)."""
        data = self.cleaned_data
        timespan, limit = data.get("periodic_timespan"), data.get("periodic_limit")
        attrs = {key: data.get(key) for key in _OFFER_ATTRIBUTES}
        attrs.update(
            external_url=data.get("external_url") or None,
            usage_authorization_token=data.get("usage_authorization_token") or None,
            audience_id=data["audience"].pk if data.get("audience") else None,
            periodic_usage={"timespan": timespan, "limit": limit} if timespan else None,
            tags=data.get("tags") or [],
            stores=data.get("stores") or [],
            collection_ids=sorted(c.pk for c in data.get("collection_ids") or []),
        )
        return attrs

    def clean(self):
        cleaned = super().clean()
        if bool(cleaned.get("periodic_timespan")) != (cleaned.get("periodic_limit") is not None):
            self.add_error("periodic_limit", "Give both the timespan and the limit of the periodic usage, or neither.")
        for key in ("read_more", "activation_texts"):
            if cleaned.get(key) is not None and not isinstance(cleaned[key], dict):
                self.add_error(key, "Give a JSON object, or leave empty.")
        if cleaned.get("extras") is None:
            cleaned["extras"] = {}
        elif not isinstance(cleaned["extras"], dict):
            self.add_error("extras", "Give a JSON object.")
        for key in ("read_more", "activation_texts", "extras", "display_schemas"):
            if key not in self.errors and text_unsafe(cleaned.get(key)):
                self.add_error(key, "Text cannot contain NUL or lone surrogate characters.")
        schema_errors = display_schemas_errors(cleaned.get("display_schemas"))
        if schema_errors:
            self.add_error("display_schemas", json.dumps(schema_errors, ensure_ascii=False))
        club = self.instance.club if self.instance.pk else cleaned.get("club")
        if club is None:
            return cleaned
        # Fields that failed above are None here: the rules skip them.
        errors = catalog.offer_attributes_errors(
            club=club, attrs=self.offer_attributes(), offer=self.instance if self.instance.pk else None
        )
        for field, field_messages in errors.items():
            name = _FORM_FIELD.get(field, field if field in self.fields else None)
            if name is None or name not in self.errors:
                self.add_error(name, field_messages)
        image = cleaned.get("image")
        if image:
            try:
                images.image_inspect(image)
            except images.ImageInvalid as exc:
                self.add_error("image", str(exc))
        return cleaned


class ArchivedFilter(admin.SimpleListFilter):
    title = "archived"
    parameter_name = "archived"

    def lookups(self, request, model_admin):
        return (("no", "Not archived"), ("yes", "Archived"))

    def queryset(self, request, queryset):
        if self.value() == "no":
            return queryset.filter(archived_at__isnull=True)
        if self.value() == "yes":
            return queryset.filter(archived_at__isnull=False)
        return queryset


class CollectionFilter(admin.SimpleListFilter):
    title = "collection"
    parameter_name = "collection"

    def lookups(self, request, model_admin):
        return [
            (c.pk, f"{c.club.slug}: {text_for(c.title, []) or c}") for c in Collection.objects.select_related("club")
        ]

    def queryset(self, request, queryset):
        if self.value() and self.value().isdigit():
            return queryset.filter(collection_memberships__collection_id=int(self.value()))
        return queryset


class AudienceFilter(admin.SimpleListFilter):
    title = "audience"
    parameter_name = "audience"

    def lookups(self, request, model_admin):
        return [("none", "No audience")] + [
            (g.pk, f"{g.club.slug}: {g.name}") for g in MemberGroup.objects.select_related("club").order_by("pk")
        ]

    def queryset(self, request, queryset):
        if self.value() == "none":
            return queryset.filter(audience__isnull=True)
        if self.value() and self.value().isdigit():
            return queryset.filter(audience_id=int(self.value()))
        return queryset


class OfferFileInline(admin.TabularInline):
    """The offer's images, every size; read-only (upload a new original on the form to replace it)."""

    model = OfferFile
    fk_name = "offer"
    fields = ("preview", "size_type", "kind", "width", "height", "public_url")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="URL")
    def public_url(self, obj):
        return file_public_url(obj)

    @admin.display(description="")
    def preview(self, obj):
        url = file_public_url(obj)
        return format_html('<img src="{}" style="max-height:60px;max-width:120px">', url) if url else ""


class GrantToGroupForm(forms.Form):
    group = forms.ModelChoiceField(queryset=MemberGroup.objects.none(), label="Member group")
    usable_for_seconds = forms.IntegerField(
        required=False, min_value=1, max_value=10**10, help_text="Leave empty: usable as long as the offer is"
    )

    def __init__(self, *args, club_id: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["group"].queryset = MemberGroup.objects.filter(club_id=club_id).order_by("name")


@admin.register(Offer)
class OfferAdmin(admin.ModelAdmin):
    form = OfferAdminForm
    list_display = (
        "id",
        "title",
        "club",
        "status",
        "scope",
        "type",
        "window",
        "uses",
        "grants_count",
        "archived",
    )
    list_display_links = ("id", "title")
    list_filter = ("status", "scope", "type", ArchivedFilter, CollectionFilter, AudienceFilter, "club")
    list_select_related = ("club",)
    search_fields = ("=id", "internal_name", "name", "description", "tag_rows__value", "store_rows__value")
    ordering = ("-id",)
    inlines = [OfferFileInline]
    actions = ["publish", "unpublish", "archive", "unarchive", "clone", "grant_to_group"]
    readonly_fields = ("uses_count", "grants_count", "history", "created_at", "updated_at", "archived_at")

    def get_fieldsets(self, request, obj=None):
        main = ["internal_name", "internal_description", "status", "scope", "type"]
        if obj is None:
            main.insert(0, "club")
        fieldsets = [
            (None, {"fields": main}),
            ("Member view", {"fields": ["name", "description", "external_url", "image", "tags", "stores"]}),
            ("When", {"fields": ["usable_since", "usable_until", "visible_since", "visible_until"]}),
            ("Who", {"fields": ["audience", "collection_ids", "campaign_id"]}),
            (
                "Limits",
                {
                    "fields": [
                        "maximum_uses_per_user",
                        "maximum_grants_per_user",
                        ("periodic_timespan", "periodic_limit"),
                        "stock",
                        "usage_authorization_token",
                        "usage_authorization_token_required",
                    ]
                },
            ),
            (
                "Display",
                {
                    "fields": ["read_more", "activation_texts", "display_schemas", "extras"],
                    "classes": ["collapse"],
                },
            ),
        ]
        if obj is not None:
            fieldsets.append(
                (
                    "Usage",
                    {"fields": ["uses_count", "grants_count", "history", "created_at", "updated_at", "archived_at"]},
                )
            )
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        return (*self.readonly_fields, "club") if obj else self.readonly_fields

    # --- Columns ---

    @admin.display(description="offer", ordering="internal_name")
    def title(self, obj: Offer) -> str:
        return obj.internal_name or text_for(obj.name, []) or f"Offer#{obj.pk}"

    @admin.display(description="usable")
    def window(self, obj: Offer) -> str:
        def fmt(value):
            return timezone.localtime(value, obj.club.tzinfo).strftime("%Y-%m-%d %H:%M") if value else "…"

        if obj.usable_since is None and obj.usable_until is None:
            return "always"
        return f"{fmt(obj.usable_since)} → {fmt(obj.usable_until)}"

    @admin.display(description="uses / stock", ordering="uses_count")
    def uses(self, obj: Offer) -> str:
        return f"{obj.uses_count} / {'∞' if obj.stock is None else obj.stock}"

    @admin.display(boolean=True, ordering="archived_at")
    def archived(self, obj: Offer) -> bool:
        return obj.archived_at is not None

    @admin.display(description="grants and uses")
    def history(self, obj: Offer):
        if not obj.pk:
            return "-"
        grants = reverse("admin:offers_offergrant_changelist") + f"?offer__id__exact={obj.pk}"
        usages = reverse("admin:offers_offerusage_changelist") + f"?offer__id__exact={obj.pk}"
        calls = reverse("admin:offers_audiencegrant_changelist") + f"?offer__id__exact={obj.pk}"
        return format_html(
            '<a href="{}">{} grants</a> · <a href="{}">{} uses</a> · <a href="{}">grants to groups</a>',
            grants,
            obj.grants_count,
            usages,
            obj.uses_count,
            calls,
        )

    # --- Writes, through the services ---

    def save_model(self, request, obj, form, change):
        attrs = form.offer_attributes()
        try:
            if change:
                saved = catalog.offer_update(offer=obj, attrs=attrs)
            else:
                saved = catalog.offer_create(club=form.cleaned_data["club"], attrs=attrs)
        except OfferAttributesInvalid as exc:  # a use slipped in since the form was checked
            messages.error(request, "; ".join(f"{k}: {', '.join(v)}" for k, v in exc.errors.items()))
            return
        obj.pk = saved.pk
        for field in Offer._meta.concrete_fields:
            setattr(obj, field.attname, getattr(saved, field.attname))
        if form.cleaned_data.get("image"):
            images.image_upload(upload=form.cleaned_data["image"], offer=saved)

    def get_deleted_objects(self, objs, request):
        """What the confirmation page lists: the offers themselves. `offers_delete` archives the used ones
        (their usages and grants stay), so the read-only history is never in the way."""
        offers = list(objs)
        listed = [f"{o} ({'archived, it has uses' if o.uses_count else 'deleted'})" for o in offers]
        return listed, {Offer._meta.verbose_name_plural: len(offers)}, set(), []

    def delete_model(self, request, obj):
        catalog.offers_delete(offers=[obj])

    def delete_queryset(self, request, queryset):
        catalog.offers_delete(offers=list(queryset))

    # --- Actions ---

    @admin.action(description="Publish selected offers")
    def publish(self, request, queryset):
        count = catalog.offer_status_set(offers=list(queryset), status=OfferStatus.PUBLISHED)
        self.message_user(request, f"Published {count} offer(s).", messages.SUCCESS)

    @admin.action(description="Unpublish selected offers (back to draft)")
    def unpublish(self, request, queryset):
        count = catalog.offer_status_set(offers=list(queryset), status=OfferStatus.DRAFT)
        self.message_user(request, f"Unpublished {count} offer(s).", messages.SUCCESS)

    @admin.action(description="Archive selected offers")
    def archive(self, request, queryset):
        catalog.offers_archive(offers=list(queryset))
        self.message_user(request, f"Archived {queryset.count()} offer(s).", messages.SUCCESS)

    @admin.action(description="Unarchive selected offers")
    def unarchive(self, request, queryset):
        catalog.offers_unarchive(offers=list(queryset))
        self.message_user(request, f"Unarchived {queryset.count()} offer(s).", messages.SUCCESS)

    @admin.action(description="Clone selected offers (as drafts)")
    def clone(self, request, queryset):
        clones = catalog.offers_clone(offers=list(queryset.order_by("pk")))
        ids = ", ".join(str(c.pk) for c in clones)
        self.message_user(request, f"Cloned {len(clones)} offer(s) as drafts: {ids}.", messages.SUCCESS)

    @admin.action(description="Grant selected offers to a member group")
    def grant_to_group(self, request, queryset):
        offers = list(queryset.select_related("club").order_by("pk"))
        club_ids = {offer.club_id for offer in offers}
        if len(club_ids) != 1:
            self.message_user(request, "Select offers of one club: groups belong to a club.", messages.ERROR)
            return None
        club = offers[0].club
        form = GrantToGroupForm(request.POST if "apply" in request.POST else None, club_id=club.pk)
        if form.is_valid():
            group, seconds = form.cleaned_data["group"], form.cleaned_data.get("usable_for_seconds")
            try:
                granted = grants.audience_grants_start(club=club, items=[(offer, group, seconds) for offer in offers])
            except DomainError as exc:
                self.message_user(
                    request,
                    f"Nothing granted: {exc} (only EXCLUSIVE, BIRTHDAY and WELCOME "
                    "offers that are not archived can be granted).",
                    messages.ERROR,
                )
            else:
                self.message_user(
                    request,
                    f"Granted to {group.name}: {granted} grant(s) made or queued.",
                    messages.SUCCESS,
                )
            return HttpResponseRedirect(request.get_full_path())
        context = {
            **self.admin_site.each_context(request),
            "title": "Grant offers to a member group",
            "form": form,
            "offers": offers,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/offers/offer/grant_to_group.html", context)


# --- Collections ------------------------------------------------------------------------------------


class CollectionAdminForm(forms.ModelForm):
    title = LocalizedTextFormField()
    description = LocalizedTextFormField()
    short_description = LocalizedTextFormField()
    offers_order = IdListFormField(help_text="Offer ids in display order, separated by commas")
    image = _image_field("Upload the cover image; the base and thumbnail sizes are made in the background.")

    class Meta:
        model = Collection
        fields = ("club", "title", "description", "short_description", "offers_order")

    def clean(self):
        cleaned = super().clean()
        club = self.instance.club if self.instance.pk else cleaned.get("club")
        if club is not None and "offers_order" not in self.errors:
            errors = collections.collection_attributes_errors(
                club=club, attrs={"offers_order": cleaned.get("offers_order")}
            )
            for leaf in errors.get("offers_order", []):
                self.add_error("offers_order", leaf["message"])
        image = cleaned.get("image")
        if image:
            try:
                images.image_inspect(image)
            except images.ImageInvalid as exc:
                self.add_error("image", str(exc))
        return cleaned


@admin.register(Collection)
class CollectionAdmin(admin.ModelAdmin):
    form = CollectionAdminForm
    list_display = ("id", "collection_title", "club", "offers_count")
    list_filter = ("club",)
    list_select_related = ("club",)
    search_fields = ("=id", "title")
    readonly_fields = ("offers_in_collection", "created_at", "updated_at")

    def get_fields(self, request, obj=None):
        fields = ["title", "description", "short_description", "offers_order", "image"]
        if obj is None:
            return ["club", *fields]
        return [*fields, "offers_in_collection", "created_at", "updated_at"]

    @admin.display(description="title")
    def collection_title(self, obj: Collection) -> str:
        return text_for(obj.title, []) or str(obj)

    @admin.display(description="offers")
    def offers_count(self, obj: Collection) -> int:
        return obj.memberships.count()

    @admin.display(description="offers in the collection")
    def offers_in_collection(self, obj: Collection):
        rows = Offer.objects.filter(collection_memberships__collection=obj).order_by("pk")
        return (
            format_html_join(
                ", ",
                '<a href="{}">#{} {}</a>',
                (
                    (reverse("admin:offers_offer_change", args=[o.pk]), o.pk, o.internal_name or text_for(o.name, []))
                    for o in rows
                ),
            )
            or "-"
        )

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        attrs = {key: data.get(key) for key in ("title", "description", "short_description")}
        attrs["offers_order"] = data.get("offers_order") or []
        if change:
            saved = collections.collection_update(collection=obj, attrs=attrs)
        else:
            saved = collections.collection_create(club=data["club"], attrs=attrs)
        obj.pk = saved.pk
        for field in Collection._meta.concrete_fields:
            setattr(obj, field.attname, getattr(saved, field.attname))
        if data.get("image"):
            images.image_upload(upload=data["image"], collection=saved)

    def delete_model(self, request, obj):
        collections.collection_delete(collection=obj)

    def delete_queryset(self, request, queryset):
        for collection in queryset:
            collections.collection_delete(collection=collection)


# --- Read-only history ------------------------------------------------------------------------------


class ReadOnlyAdmin(admin.ModelAdmin):
    """Facts recorded by the services: staff read them, nobody edits them here."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(OfferGrant)
class OfferGrantAdmin(ReadOnlyAdmin):
    list_display = ("id", "offer", "member", "granted_at", "usable_until", "uses_count", "source", "audience_grant")
    list_filter = ("source",)
    list_select_related = ("offer", "member")
    search_fields = ("=offer__id", "=member__id", "member__email")
    show_full_result_count = False
    date_hierarchy = "granted_at"


@admin.register(OfferUsage)
class OfferUsageAdmin(ReadOnlyAdmin):
    list_display = ("id", "offer", "member", "used_at", "authorized", "grant")
    list_filter = ("authorized",)
    list_select_related = ("offer", "member")
    search_fields = ("=offer__id", "=member__id", "member__email")
    show_full_result_count = False
    date_hierarchy = "used_at"


@admin.register(AudienceGrant)
class AudienceGrantAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "offer",
        "audience",
        "status",
        "members_count",
        "granted_count",
        "skipped_count",
        "created_at",
        "finished_at",
    )
    list_filter = ("status",)
    list_select_related = ("offer",)
    search_fields = ("=offer__id", "=group_id")
    exclude = ("group",)
    readonly_fields = ("audience",)

    def get_queryset(self, request):
        # The group may have been deleted since (no database constraint): show its id then.
        name = MemberGroup.objects.filter(pk=OuterRef("group_id")).values("name")[:1]
        return super().get_queryset(request).annotate(group_name=Subquery(name))

    @admin.display(description="audience")
    def audience(self, obj: AudienceGrant) -> str:
        return f"#{obj.group_id} {obj.group_name}" if obj.group_name else f"#{obj.group_id} (deleted)"
