"""Admin forms for the core app: permits, policies and clubs picked from lists instead of typed as JSON."""

from django import forms
from django.contrib.admin.widgets import FilteredSelectMultiple

from loyalty.models import ClientToken, LoyaltyClub
from loyalty.permits import PERMITS, POLICIES


class ClientTokenAdminForm(forms.ModelForm):
    permits = forms.MultipleChoiceField(
        choices=[(name, f"{name} — {desc}") for name, desc in sorted(PERMITS.items())],
        required=False,
        widget=FilteredSelectMultiple("permits", is_stacked=False),
    )
    policies = forms.MultipleChoiceField(
        choices=[(name, f"{name} — {desc}") for name, (desc, _p) in sorted(POLICIES.items())],
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    all_clubs = forms.BooleanField(required=False, help_text="Valid for every loyalty club (use with care)")
    clubs = forms.ModelMultipleChoiceField(
        queryset=LoyaltyClub.objects.all(), required=False, help_text="Clubs this token is valid for"
    )

    class Meta:
        model = ClientToken
        fields = ("name", "permits", "policies", "all_clubs", "clubs", "product")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        instance = self.instance
        if instance.pk:
            self.initial["all_clubs"] = instance.loyalty_club_ids is None
            self.initial["clubs"] = LoyaltyClub.objects.filter(id__in=instance.loyalty_club_ids or [])

    def clean(self):
        data = super().clean()
        if not data.get("all_clubs") and not data.get("clubs"):
            raise forms.ValidationError("Choose the clubs this token is valid for, or tick 'all clubs'.")
        if not data.get("permits") and not data.get("policies"):
            raise forms.ValidationError("Choose at least one permit or policy.")
        return data

    @property
    def token_attributes(self) -> dict:
        data = self.cleaned_data
        return {
            "name": data["name"],
            "permits": list(data.get("permits") or []),
            "policies": list(data.get("policies") or []),
            "loyalty_club_ids": None if data.get("all_clubs") else [c.id for c in data["clubs"]],
            "product": data.get("product") or None,
        }
