"""The member page (points, level, grants, uses, ledger) and the staff actions on members, each writing through
the same service as the API; plus a read-only admin for every model that has none of its own."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from backoffice import admin as backoffice_admin
from backoffice.seed import demo_seed
from loyalty.services.groups import group_create, group_members_add
from offers import services as offers_services
from offers.models import OfferGrant, OfferStatus, OfferType, OfferUsage
from rewards import services as rewards_services
from rewards.models import Membership, Transaction
from tests.factories import LoyaltyClubFactory, MemberFactory
from tests.offers.factories import OfferFactory

MEMBERS = "/admin/loyalty/member/"


def page(member) -> str:
    return reverse("admin:loyalty_member_change", args=[member.pk])


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def levels(club):
    rewards_services.program_config_update(
        club=club,
        levels_program={
            "type": "regular",
            "levels": [{"name": "Bronze", "points_threshold": 0}, {"name": "Silver", "points_threshold": 100}],
        },
    )


@pytest.fixture
def exclusive(club):
    return OfferFactory(club=club, type=OfferType.EXCLUSIVE, internal_name="VIP lounge")


# --- The member page ---------------------------------------------------------------------------------


def test_the_member_page_shows_points_level_grants_uses_and_the_ledger(staff, club, member, levels, exclusive):
    rewards_services.membership_join(member=member)
    grant = rewards_services.points_grant(member=member, points=120, grant_type="receipt")
    rewards_services.points_correct(member=member, points=-20, comment="duplicate receipt")
    offers_services.offer_grant(offer=exclusive, member=member)
    offers_services.offer_use(offer=OfferFactory(club=club, internal_name="Coffee deal"), member=member)

    html = staff.get(page(member)).content.decode()

    assert 'data-member="balance">100<' in html
    assert '<span class="bo-badge bo-level">Silver</span>' in html
    assert "120 earned in all" in html
    assert 'id="member-grants"' in html and "VIP lounge</a>" in html
    assert 'id="member-usages"' in html and "Coffee deal</a>" in html
    assert "Points ledger · 2 transactions" in html
    assert "“duplicate receipt”" in html and "receipt" in html
    assert reverse("admin:loyalty_member_cancel_transaction", args=[member.pk, grant.pk]) in html
    assert f"{reverse('admin:loyalty_member_grant_offer', args=[member.pk])}" in html


def test_a_member_outside_the_program_is_shown_as_such(staff, member):
    html = staff.get(page(member)).content.decode()

    assert "Not in the rewards program" in html
    assert "This member has not joined the rewards program." in html
    assert "Correct points" not in html


def test_the_member_page_costs_the_same_queries_for_a_long_history(staff, member, django_assert_max_num_queries):
    rewards_services.membership_join(member=member)
    for _ in range(40):
        rewards_services.points_grant(member=member, points=5)

    with django_assert_max_num_queries(24):
        response = staff.get(page(member))

    assert response.status_code == 200
    assert response.content.decode().count("Cancel…") == 12


def test_the_member_list_shows_points_and_level_and_filters_by_program_and_group(staff, club, member, levels):
    outsider = MemberFactory(club=club, email="outsider@example.com")
    rewards_services.membership_join(member=member)
    rewards_services.points_grant(member=member, points=150)
    group = group_create(club=club, name="VIP")
    group_members_add(group=group, member_ids=[outsider.pk])

    listing = staff.get(MEMBERS)
    joined = staff.get(MEMBERS, {"program": "yes"})
    in_group = staff.get(MEMBERS, {"group": group.pk})

    rows = {m.pk: m for m in listing.context["cl"].result_list}
    assert (rows[member.pk].points, rows[outsider.pk].points) == (150, None)
    assert ">Silver<" in listing.content.decode()
    assert [m.pk for m in joined.context["cl"].result_list] == [member.pk]
    assert [m.pk for m in in_group.context["cl"].result_list] == [outsider.pk]


# --- Grant an offer ----------------------------------------------------------------------------------


def test_granting_an_offer_to_selected_members_goes_through_the_service_and_reports_refusals(staff, club, exclusive):
    members = [MemberFactory(club=club) for _ in range(3)]
    banned = MemberFactory(club=club, banned_until=timezone.now() + timedelta(days=3))
    selected = [m.pk for m in [*members, banned]]

    form = staff.post(MEMBERS, {"action": "grant_offer", ACTION_CHECKBOX_NAME: selected})
    assert form.status_code == 200 and f'<option value="{exclusive.pk}">' in form.content.decode()

    done = staff.post(
        MEMBERS,
        {"action": "grant_offer", ACTION_CHECKBOX_NAME: selected, "apply": "1", "offer": exclusive.pk},
        follow=True,
    )

    assert sorted(OfferGrant.objects.values_list("member_id", flat=True)) == sorted(m.pk for m in members)
    exclusive.refresh_from_db()
    assert exclusive.grants_count == 3
    assert messages_of(done) == [
        "Granted “VIP lounge” to 3 member(s).",
        "Not granted to 1 member(s): Member is banned!.",
    ]


def test_the_grant_form_offers_only_live_grantable_offers_of_the_members_clubs(staff, club, member, exclusive):
    OfferFactory(club=club, type=OfferType.REGULAR, internal_name="Regular")
    OfferFactory(club=club, type=OfferType.BIRTHDAY, status=OfferStatus.DRAFT, internal_name="Draft")
    OfferFactory(club=club, type=OfferType.WELCOME, archived_at=timezone.now(), internal_name="Archived")
    OfferFactory(club=LoyaltyClubFactory(slug="elsewhere"), type=OfferType.EXCLUSIVE, internal_name="Elsewhere")
    birthday = OfferFactory(club=club, type=OfferType.BIRTHDAY, internal_name="Cake")

    response = staff.get(reverse("admin:loyalty_member_grant_offer", args=[member.pk]))

    choices = list(response.context["form"].fields["offer"].queryset)
    assert choices == [birthday, exclusive]


def test_granting_from_the_member_page_sets_the_grants_window(staff, member, exclusive):
    url = reverse("admin:loyalty_member_grant_offer", args=[member.pk])

    response = staff.post(url, {"offer": exclusive.pk, "usable_for_days": "7"})

    assert response.status_code == 302 and response.url == page(member)
    grant = OfferGrant.objects.get(member=member)
    assert timedelta(days=6, hours=23) < grant.usable_until - grant.granted_at <= timedelta(days=7)


def test_a_refused_grant_is_reported_and_writes_nothing(staff, club, member):
    audience_only = OfferFactory(
        club=club, type=OfferType.EXCLUSIVE, audience=group_create(club=club, name="Staff"), internal_name="Staff"
    )

    response = staff.post(
        reverse("admin:loyalty_member_grant_offer", args=[member.pk]), {"offer": audience_only.pk}, follow=True
    )

    assert messages_of(response) == ["Not granted to 1 member(s): Member not in audience."]
    assert not OfferGrant.objects.exists()


def test_too_many_members_at_once_are_sent_to_the_group_grant(staff, club, exclusive, monkeypatch):
    monkeypatch.setattr(backoffice_admin, "GRANT_AT_ONCE", 2)
    selected = [MemberFactory(club=club).pk for _ in range(3)]

    response = staff.post(MEMBERS, {"action": "grant_offer", ACTION_CHECKBOX_NAME: selected}, follow=True)

    assert "grant the offer to a member group" in messages_of(response)[0]
    assert not OfferGrant.objects.exists()


# --- Correct points, cancel a transaction --------------------------------------------------------------


def test_correcting_points_from_the_member_page_writes_a_correction_with_the_comment(staff, member):
    rewards_services.membership_join(member=member)
    rewards_services.points_grant(member=member, points=30)
    url = reverse("admin:loyalty_member_correct_points", args=[member.pk])

    too_much = staff.post(url, {"points": "-50", "comment": "too much"})
    done = staff.post(url, {"points": "-10", "comment": "goodwill reversed"})

    assert too_much.status_code == 200 and "Not enough points" in too_much.content.decode()
    assert done.status_code == 302
    assert list(Transaction.objects.filter(type="correction").values_list("amount", "details")) == [
        (-10, {"comment": "goodwill reversed"})
    ]
    assert Membership.objects.get(member=member).balance == 20


def test_cancelling_a_transaction_asks_first_then_calls_the_service(staff, member):
    rewards_services.membership_join(member=member)
    grant = rewards_services.points_grant(member=member, points=30)
    url = reverse("admin:loyalty_member_cancel_transaction", args=[member.pk, grant.pk])

    confirm = staff.get(url)
    assert confirm.status_code == 200 and "Yes, cancel it" in confirm.content.decode()
    assert not Transaction.objects.filter(type="cancellation").exists()

    done = staff.post(url, follow=True)

    cancellation = Transaction.objects.get(type="cancellation")
    assert (cancellation.amount, cancellation.cancelled_transaction_id) == (-30, grant.pk)
    assert Membership.objects.get(member=member).balance == 0
    assert messages_of(done) == [f"Transaction #{grant.pk} cancelled by #{cancellation.pk} (-30 points)."]


def test_a_refused_cancellation_is_reported_and_changes_nothing(staff, member):
    rewards_services.membership_join(member=member)
    grant = rewards_services.points_grant(member=member, points=30)
    rewards_services.points_correct(member=member, points=-25)
    url = reverse("admin:loyalty_member_cancel_transaction", args=[member.pk, grant.pk])

    done = staff.post(url, follow=True)

    assert messages_of(done) == [f"Transaction #{grant.pk} was not cancelled: Transaction cannot be cancelled"]
    assert not Transaction.objects.filter(type="cancellation").exists()


def test_another_members_transaction_cannot_be_cancelled_from_this_page(staff, club, member):
    other = MemberFactory(club=club)
    rewards_services.membership_join(member=other)
    theirs = rewards_services.points_grant(member=other, points=30)

    response = staff.post(reverse("admin:loyalty_member_cancel_transaction", args=[member.pk, theirs.pk]))

    assert response.status_code == 404
    assert not Transaction.objects.filter(type="cancellation").exists()


def test_the_member_actions_need_the_change_permission(client, member, exclusive):
    from django.contrib.auth.models import Permission, User

    viewer = User.objects.create_user("viewer", password="pw-for-tests", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_member"))
    client.force_login(viewer)

    response = client.post(reverse("admin:loyalty_member_grant_offer", args=[member.pk]), {"offer": exclusive.pk})

    assert response.status_code == 403
    assert not OfferGrant.objects.exists()


# --- Every model has an admin; history stays read-only ----------------------------------------------------


def test_every_model_of_the_domain_apps_is_in_the_admin_and_every_list_renders(staff):
    demo_seed(members=15, offers=12, transactions_per_member=6)
    models = [m for label in backoffice_admin.DOMAIN_APPS for m in apps.get_app_config(label).get_models()]

    for model in models:
        assert admin.site.is_registered(model), model
        opts = model._meta
        listing = staff.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        assert listing.status_code == 200, opts.label
        first = model._default_manager.order_by("pk").first()
        if first is not None:
            detail = staff.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[first.pk]))
            assert detail.status_code == 200, opts.label


def test_models_without_an_admin_of_their_own_are_read_only(staff):
    demo_seed(members=3, offers=5, transactions_per_member=2)
    fallbacks = [m for m, a in admin.site._registry.items() if isinstance(a, backoffice_admin.ReadOnlyFallbackAdmin)]
    assert fallbacks

    for model in fallbacks:
        opts = model._meta
        assert staff.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_add")).status_code == 403
        first = model._default_manager.first()
        if first is not None:
            url = reverse(f"admin:{opts.app_label}_{opts.model_name}_delete", args=[first.pk])
            assert staff.post(url, {"post": "yes"}).status_code == 403
            assert model._default_manager.filter(pk=first.pk).exists()


def test_no_secret_column_is_shown_by_the_read_only_admins():
    for model, model_admin in admin.site._registry.items():
        if isinstance(model_admin, backoffice_admin.ReadOnlyFallbackAdmin):
            shown = [*model_admin.list_display, *model_admin.fields]
            assert not [f for f in shown if any(part in f for part in ("digest", "secret", "password"))], model


def test_offer_usages_stay_countable_after_an_admin_grant(staff, member, exclusive):
    """A grant made in the admin is a real grant: the member can use the offer through the service."""
    staff.post(reverse("admin:loyalty_member_grant_offer", args=[member.pk]), {"offer": exclusive.pk})

    offers_services.offer_use(offer=exclusive, member=member)

    assert OfferUsage.objects.filter(member=member, grant__isnull=False).count() == 1


def test_deleting_a_member_with_a_history_erases_it_with_the_service(staff, club, member, exclusive):
    rewards_services.membership_join(member=member)
    rewards_services.points_grant(member=member, points=30)
    offers_services.offer_grant(offer=exclusive, member=member)
    offers_services.offer_like(offer=exclusive, member=member)

    response = staff.post(f"{MEMBERS}{member.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not Membership.objects.exists() and not Transaction.objects.exists()
    assert OfferGrant.objects.get().member_id is None  # kept, so the offer's grants_count still matches
