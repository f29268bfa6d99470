import re
from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Q
from django.utils import timezone

from loyalty import normalizers
from loyalty.admin_forms import ClientTokenAdminForm
from loyalty.models import ClientToken, LoyaltyClub, Member, MemberGroup
from loyalty.services import clubs, groups, members, oauth, tokens


@admin.register(LoyaltyClub)
class LoyaltyClubAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "timezone", "offers_enabled", "rewards_enabled", "created_at")
    list_filter = ("offers_enabled", "rewards_enabled", "timezone")
    search_fields = ("slug", "name")
    readonly_fields = ("created_at", "updated_at")

    def save_model(self, request, obj, form, change):
        """A change goes through the same service as the API's PUT (and what listens to it)."""
        if not change:
            return super().save_model(request, obj, form, change)
        clubs.club_update(club=obj, **{name: form.cleaned_data[name] for name in form.changed_data})


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
            tokens.client_token_update(token=obj, **attrs)
            return
        issued = tokens.client_token_issue(**attrs)
        obj.pk = issued.token.pk
        obj.token_prefix = issued.token.token_prefix
        messages.warning(request, f"Token secret (copy it now, it is not shown again): {issued.secret}")

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset):
        for token in queryset:
            tokens.client_token_revoke(token=token)
        self.message_user(request, f"Revoked {queryset.count()} token(s).")


# --- Members and member groups: every write goes through loyalty.services, like the API ---------------


class MemberAdminForm(forms.ModelForm):
    """Email and msisdn are plain text here: `loyalty.services.members` owns their rules (and normalises the msisdn),
    so the admin shows exactly the API's answers. The password is write-only."""

    email = forms.CharField(required=False, max_length=254, empty_value=None)
    msisdn = forms.CharField(
        required=False, max_length=32, empty_value=None, help_text="Any format; stored as E.164 digits"
    )
    new_password = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False),
        help_text=f"Leave empty to keep the current password. At least {normalizers.PASSWORD_MIN_LENGTH} characters. "
        "A new password signs the member out of the apps.",
    )
    remove_password = forms.BooleanField(required=False, help_text="The member can no longer sign in")

    class Meta:
        model = Member
        fields = ("club", "email", "msisdn", "first_name", "last_name", "birthday", "language", "banned_until")

    def clean(self):
        cleaned = super().clean()
        instance = self.instance if self.instance.pk else None
        club = instance.club if instance else cleaned.get("club")
        if club is None:
            return cleaned
        changes = {f: cleaned[f] for f in normalizers.PROPERTY_FIELDS if f in cleaned}
        if cleaned.get("new_password"):
            changes["password"] = cleaned["new_password"]
        normalized, errors = members.member_attributes_check(club_id=club.id, changes=changes, member=instance)
        for field, leaves in errors.items():
            self.add_error("new_password" if field == "password" else field, [leaf["message"] for leaf in leaves])
        for field in ("email", "msisdn"):
            if field in normalized and field not in errors:
                cleaned[field] = normalized[field]
        return cleaned


class BannedFilter(admin.SimpleListFilter):
    title = "banned"
    parameter_name = "banned"

    def lookups(self, request, model_admin):
        return (("yes", "Banned now"), ("no", "Not banned"))

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "yes":
            return queryset.filter(banned_until__gt=now)
        if self.value() == "no":
            return queryset.filter(Q(banned_until__isnull=True) | Q(banned_until__lte=now))
        return queryset


def _copy_fields(target: Member, source: Member) -> None:
    for field in Member._meta.concrete_fields:
        setattr(target, field.attname, getattr(source, field.attname))


@admin.register(Member)
class MemberAdmin(admin.ModelAdmin):
    form = MemberAdminForm
    list_display = ("id", "email", "msisdn", "first_name", "last_name", "club", "banned", "banned_until", "created_at")
    list_filter = (BannedFilter, "club")
    list_select_related = ("club",)
    search_fields = ("email", "msisdn", "first_name", "last_name")
    actions = ["ban_for_30_days", "unban", "sign_out"]

    def get_fields(self, request, obj=None):
        fields = ["club", "email", "msisdn", "first_name", "last_name", "birthday", "language"]
        fields += ["new_password", "remove_password", "banned_until"]
        return [*fields, "has_password", "created_at", "updated_at"] if obj else fields

    def get_readonly_fields(self, request, obj=None):
        # A member never moves between clubs: its tokens, points and offers are the club's.
        return ("club", "has_password", "created_at", "updated_at") if obj else ()

    @admin.display(boolean=True, description="banned now")
    def banned(self, obj: Member) -> bool:
        return obj.is_banned()

    @admin.display(boolean=True)
    def has_password(self, obj: Member) -> bool:
        return obj.has_password

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        try:  # "+47 407 69 126" finds the member stored as 4740769126
            msisdn = normalizers.msisdn_normalize(search_term)
        except ValueError:
            return results, may_have_duplicates
        return results | queryset.filter(msisdn=msisdn), may_have_duplicates

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if not change:
            created = members.member_create(
                club=data["club"],
                **{f: data.get(f) for f in normalizers.PROPERTY_FIELDS},
                password=data.get("new_password") or None,
                banned_until=data.get("banned_until"),
            )
            _copy_fields(obj, created)
            return
        saved = obj
        changes = {f: data.get(f) for f in form.changed_data if f in normalizers.PROPERTY_FIELDS}
        if changes:
            saved = members.member_update(member=saved, **changes)
        if data.get("remove_password"):
            saved = members.member_set_password(member=saved, password=None)
        elif data.get("new_password"):
            saved = members.member_set_password(member=saved, password=data["new_password"])
        if "banned_until" in form.changed_data:
            until = data.get("banned_until")
            saved = members.member_ban(member=saved, until=until) if until else members.member_unban(member=saved)
        _copy_fields(obj, Member.objects.get(pk=saved.pk))

    def delete_model(self, request, obj):
        members.member_delete(member=obj)

    def delete_queryset(self, request, queryset):
        for member in queryset:
            members.member_delete(member=member)

    @admin.action(description="Ban selected members for 30 days")
    def ban_for_30_days(self, request, queryset):
        until = timezone.now() + timedelta(days=30)
        for member in queryset:
            members.member_ban(member=member, until=until)

    @admin.action(description="Unban selected members")
    def unban(self, request, queryset):
        for member in queryset:
            members.member_unban(member=member)

    @admin.action(description="Sign selected members out of the apps (revoke their tokens)")
    def sign_out(self, request, queryset):
        for member in queryset:
            oauth.oauth_member_tokens_revoke(member=member)


def _parse_ids(value: str) -> list[int]:
    parts = [p for p in re.split(r"[\s,;]+", value or "") if p]
    if not all(p.isascii() and p.isdigit() for p in parts):
        raise forms.ValidationError("Member ids are numbers separated by spaces or commas.")
    if len(parts) > groups.GROUP_MEMBERS_PER_CALL:
        raise forms.ValidationError(f"At most {groups.GROUP_MEMBERS_PER_CALL} ids at a time.")
    return [int(p) for p in parts]


class MemberGroupAdminForm(forms.ModelForm):
    add_member_ids = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), help_text="Member ids to add, e.g. 12, 13 14"
    )
    remove_member_ids = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), help_text="Member ids to remove"
    )

    class Meta:
        model = MemberGroup
        fields = ("club", "name", "description")

    def clean_add_member_ids(self):
        return _parse_ids(self.cleaned_data.get("add_member_ids"))

    def clean_remove_member_ids(self):
        return _parse_ids(self.cleaned_data.get("remove_member_ids"))


@admin.register(MemberGroup)
class MemberGroupAdmin(admin.ModelAdmin):
    form = MemberGroupAdminForm
    list_display = ("id", "name", "club", "members_count", "created_at")
    list_filter = ("club",)
    list_select_related = ("club",)
    search_fields = ("name",)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(members_count=Count("memberships"))

    @admin.display(ordering="members_count", description="members")
    def members_count(self, obj: MemberGroup) -> int:
        return obj.members_count

    def get_readonly_fields(self, request, obj=None):
        return ("club", "members_count") if obj else ()

    def get_fields(self, request, obj=None):
        fields = ["club", "name", "description", "add_member_ids", "remove_member_ids"]
        return [*fields, "members_count"] if obj else fields

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            group = groups.group_update(group=obj, name=data["name"], description=data.get("description"))
        else:
            group = groups.group_create(club=data["club"], name=data["name"], description=data.get("description"))
            obj.pk = group.pk
        not_found = []
        if data.get("add_member_ids"):
            not_found += groups.group_members_add(group=group, member_ids=data["add_member_ids"]).not_found
        if data.get("remove_member_ids"):
            not_found += groups.group_members_remove(group=group, member_ids=data["remove_member_ids"]).not_found
        if not_found:
            ids = ", ".join(str(i) for i in not_found)
            messages.warning(request, f"Not members of this club, skipped: {ids}")

    def delete_model(self, request, obj):
        groups.group_delete(group=obj)

    def delete_queryset(self, request, queryset):
        for group in queryset:
            groups.group_delete(group=group)
