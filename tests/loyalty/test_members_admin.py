"""The Django admin for members and groups: searches, the banned filter, and writes through the services."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.hashers import check_password
from django.utils import timezone

from loyalty.models import Member, MemberGroup, MemberGroupMembership, MemberOAuthToken
from loyalty.services import groups as group_services
from loyalty.services import members
from loyalty.services.oauth import oauth_tokens_issue
from loyalty.signals import member_created
from tests.factories import MemberFactory, MemberGroupFactory

MEMBERS = "/admin/loyalty/member/"
GROUPS = "/admin/loyalty/membergroup/"


def change_form(member, **overrides):
    """The change form as the admin renders it for `member`, with `overrides` typed in."""
    data = {
        "email": member.email or "",
        "msisdn": member.msisdn or "",
        "first_name": member.first_name or "",
        "last_name": member.last_name or "",
        "birthday": member.birthday.isoformat() if member.birthday else "",
        "language": member.language or "",
        "new_password": "",
        "banned_until_0": member.banned_until.strftime("%Y-%m-%d") if member.banned_until else "",
        "banned_until_1": member.banned_until.strftime("%H:%M:%S") if member.banned_until else "",
    }
    return {**data, **overrides}


def listed(response) -> list[int]:
    return [obj.pk for obj in response.context["cl"].result_list]


# --- Member list ----------------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["ada@example", "Lovelace", "4740769", "+47 407 69 126"])
def test_staff_find_members_by_email_msisdn_or_name(admin_client, club, member, query):
    MemberFactory(club=club, email="grace@example.org", first_name="Grace", last_name="Hopper")

    response = admin_client.get(MEMBERS, {"q": query})

    assert response.status_code == 200
    assert listed(response) == [member.pk]


def test_the_banned_filter_lists_members_banned_now(admin_client, club, member):
    banned = MemberFactory(club=club)
    members.member_ban(member=banned, until=timezone.now() + timedelta(days=1))
    members.member_ban(member=MemberFactory(club=club), until=timezone.now() - timedelta(days=1))  # over

    assert listed(admin_client.get(MEMBERS, {"banned": "yes"})) == [banned.pk]
    assert banned.pk not in listed(admin_client.get(MEMBERS, {"banned": "no"}))
    assert member.pk in listed(admin_client.get(MEMBERS, {"banned": "no"}))


# --- Creating and changing members ----------------------------------------------------------------


def test_adding_a_member_in_the_admin_goes_through_the_create_service(admin_client, club):
    received = []

    def receiver(sender, member, **kwargs):
        received.append(member.pk)

    member_created.connect(receiver)
    try:
        response = admin_client.post(
            f"{MEMBERS}add/",
            {
                "club": club.pk,
                "email": "grace@example.com",
                "msisdn": "+47 407 69 126",
                "first_name": "Grace",
                "new_password": "a good password",
            },
        )
    finally:
        member_created.disconnect(receiver)

    assert response.status_code == 302
    member = Member.objects.get()
    assert (member.msisdn, member.first_name, member.club) == ("4740769126", "Grace", club)
    assert check_password("a good password", member.password)
    assert received == [member.pk]


def test_the_admin_refuses_a_taken_email_and_a_bad_msisdn_like_the_api(admin_client, club, member):
    response = admin_client.post(
        f"{MEMBERS}add/", {"club": club.pk, "email": "ADA@example.com", "msisdn": "47abc", "new_password": "short"}
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["email"] == ["has already been taken"]
    assert errors["msisdn"] == ["is not a valid msisdn"]
    assert errors["new_password"] == ["size cannot be less than 8"]
    assert Member.objects.count() == 1


def test_setting_a_password_in_the_admin_hashes_it_and_signs_the_member_out(admin_client, member, member_bearer):
    response = admin_client.post(
        f"{MEMBERS}{member.pk}/change/", change_form(member, new_password="brand new secret", first_name="Augusta")
    )

    assert response.status_code == 302
    member.refresh_from_db()
    assert check_password("brand new secret", member.password)
    assert member.first_name == "Augusta"
    assert not MemberOAuthToken.objects.filter(revoked_at__isnull=True).exists()


def test_removing_a_password_in_the_admin(admin_client, member):
    members.member_set_password(member=member, password="something long")

    admin_client.post(f"{MEMBERS}{member.pk}/change/", change_form(member, remove_password="on"))

    member.refresh_from_db()
    assert member.password == ""


def test_banning_in_the_admin_sets_banned_until(admin_client, member):
    response = admin_client.post(
        f"{MEMBERS}{member.pk}/change/",
        change_form(member, banned_until_0="2137-10-28", banned_until_1="17:24:06"),
    )

    assert response.status_code == 302
    member.refresh_from_db()
    assert member.banned_until == datetime(2137, 10, 28, 17, 24, 6, tzinfo=UTC)


def test_the_ban_and_unban_actions_change_the_selected_members(admin_client, club, member):
    other = MemberFactory(club=club)

    admin_client.post(MEMBERS, {"action": "ban_for_30_days", "_selected_action": [member.pk, other.pk]})
    member.refresh_from_db()
    other.refresh_from_db()
    assert member.is_banned() and other.is_banned()
    assert member.banned_until > timezone.now() + timedelta(days=29)

    admin_client.post(MEMBERS, {"action": "unban", "_selected_action": [member.pk]})
    member.refresh_from_db()
    other.refresh_from_db()
    assert member.banned_until is None
    assert other.is_banned()


def test_the_sign_out_action_revokes_the_members_tokens(admin_client, member):
    oauth_tokens_issue(member=member)
    oauth_tokens_issue(member=member)

    admin_client.post(MEMBERS, {"action": "sign_out", "_selected_action": [member.pk]})

    assert MemberOAuthToken.objects.filter(member=member, revoked_at__isnull=True).count() == 0


def test_deleting_a_member_in_the_admin_erases_it(admin_client, club, member):
    group = MemberGroupFactory(club=club)
    group_services.group_members_add(group=group, member_ids=[member.pk])

    response = admin_client.post(f"{MEMBERS}{member.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not Member.objects.exists()
    assert not MemberGroupMembership.objects.exists()


# --- Groups ---------------------------------------------------------------------------------------


def test_the_group_list_shows_member_counts_from_one_query(admin_client, club, django_assert_max_num_queries):
    groups = [MemberGroupFactory(club=club, name=f"G{i}") for i in range(5)]
    for i, group in enumerate(groups):
        group_services.group_members_add(group=group, member_ids=[MemberFactory(club=club).pk for _ in range(i)])

    with django_assert_max_num_queries(12):
        response = admin_client.get(GROUPS)

    assert response.status_code == 200
    counts = {group.pk: group.members_count for group in response.context["cl"].result_list}
    assert counts == {group.pk: i for i, group in enumerate(groups)}


def test_adding_a_group_with_members_in_the_admin_reports_unknown_ids(admin_client, club, other_club, member):
    stranger = MemberFactory(club=other_club)

    response = admin_client.post(
        f"{GROUPS}add/",
        {"club": club.pk, "name": "VIP", "description": "", "add_member_ids": f"{member.pk}, {stranger.pk} 999999"},
        follow=True,
    )

    group = MemberGroup.objects.get()
    assert list(group.memberships.values_list("member_id", flat=True)) == [member.pk]
    shown = [str(message) for message in response.context["messages"]]
    assert f"Not members of this club, skipped: {stranger.pk}, 999999" in shown


def test_removing_members_from_a_group_in_the_admin(admin_client, club, member):
    group = MemberGroupFactory(club=club, name="VIP")
    group_services.group_members_add(group=group, member_ids=[member.pk])

    response = admin_client.post(
        f"{GROUPS}{group.pk}/change/",
        {"name": "VIP renamed", "description": "", "remove_member_ids": str(member.pk)},
    )

    assert response.status_code == 302
    group.refresh_from_db()
    assert group.name == "VIP renamed"
    assert not group.memberships.exists()


def test_the_group_form_refuses_ids_that_are_not_numbers(admin_client, club):
    response = admin_client.post(f"{GROUPS}add/", {"club": club.pk, "name": "VIP", "add_member_ids": "12, abc"})

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["add_member_ids"] == [
        "Member ids are numbers separated by spaces or commas."
    ]
    assert not MemberGroup.objects.exists()


def test_the_member_and_group_pages_render_without_showing_the_password_hash(admin_client, club, member):
    members.member_set_password(member=member, password="something long")
    group = MemberGroupFactory(club=club)

    for url in (f"{MEMBERS}add/", f"{MEMBERS}{member.pk}/change/", f"{GROUPS}add/", f"{GROUPS}{group.pk}/change/"):
        response = admin_client.get(url)
        assert response.status_code == 200, url
    member.refresh_from_db()
    assert member.password.encode() not in admin_client.get(f"{MEMBERS}{member.pk}/change/").content
