"""SPEC §3.3 member groups (audiences): CRUD, bulk add/remove, membership listings, a member's groups."""

import pytest

from kit.messages import message_for
from loyalty.models import Member, MemberGroup, MemberGroupMembership
from loyalty.selectors import member_in_group
from loyalty.services import groups as group_services
from tests.conftest import make_client
from tests.factories import MemberFactory, MemberGroupFactory

GROUPS = "/v3/infinity-mall/members_groups"


def leaf(error, value=None, **options):
    return {"value": value, "error": error, "options": options, "message": message_for(error, options)}


def add(group, *member_list):
    MemberGroupMembership.objects.bulk_create(MemberGroupMembership(group=group, member=m) for m in member_list)


@pytest.fixture
def group(club):
    return MemberGroupFactory(club=club, name="VIP", description="Our best customers")


# --- CRUD -----------------------------------------------------------------------------------------


def test_creating_a_group_answers_it_with_no_members(api, club):
    response = api.post(GROUPS, {"name": "VIP", "description": "Our best customers"}, format="json")

    assert response.status_code == 200
    group = MemberGroup.objects.get()
    assert response.json() == {
        "members_group": {"id": group.id, "name": "VIP", "description": "Our best customers", "members_count": 0}
    }
    assert group.club == club


def test_a_group_may_also_be_sent_wrapped_like_the_response(api, club):
    response = api.post(GROUPS, {"members_group": {"name": "Newsletter"}}, format="json")

    assert response.status_code == 200
    assert response.json()["members_group"]["name"] == "Newsletter"
    assert response.json()["members_group"]["description"] is None


def test_a_group_needs_a_name(api, club):
    response = api.post(GROUPS, {"description": "x"}, format="json")
    assert response.status_code == 422
    assert response.json() == {"error": "Invalid parameters", "details": {"name": [leaf("presence")]}}

    response = api.post(GROUPS, {"members_group": {"name": ""}}, format="json")
    assert response.json() == {
        "error": "Invalid parameters",
        "details": {"members_group": {"name": [leaf("blank", "")]}},
    }
    assert not MemberGroup.objects.exists()


def test_showing_a_group_counts_its_members(api, club, group):
    add(group, MemberFactory(club=club), MemberFactory(club=club))

    response = api.get(f"{GROUPS}/{group.id}")

    assert response.status_code == 200
    assert response.json() == {
        "members_group": {"id": group.id, "name": "VIP", "description": "Our best customers", "members_count": 2}
    }


def test_an_unknown_group_answers_404(api, club):
    for method in ("get", "put", "delete"):
        response = getattr(api, method)(f"{GROUPS}/424242", {}, format="json")
        assert response.status_code == 404
        assert response.json() == {"error": "MembersGroup#424242 not found"}
    response = api.post(f"{GROUPS}/424242/members", {"member_ids": [1]}, format="json")
    assert response.json() == {"error": "MembersGroup#424242 not found"}


def test_a_group_of_another_club_is_not_found(issue_token, club, other_club):
    foreign = MemberGroupFactory(club=other_club)
    unbound = make_client(issue_token(policies=["FullAccess"]))

    response = unbound.get(f"{GROUPS}/{foreign.id}")

    assert response.status_code == 404
    assert response.json() == {"error": f"MembersGroup#{foreign.id} not found"}
    assert unbound.delete(f"{GROUPS}/{foreign.id}").status_code == 404
    assert MemberGroup.objects.filter(pk=foreign.pk).exists()


def test_updating_a_group_changes_only_what_is_sent(api, club, group):
    add(group, MemberFactory(club=club))

    response = api.put(f"{GROUPS}/{group.id}", {"name": "VIP+"}, format="json")

    assert response.status_code == 200
    assert response.json() == {
        "members_group": {"id": group.id, "name": "VIP+", "description": "Our best customers", "members_count": 1}
    }
    group.refresh_from_db()
    assert (group.name, group.description) == ("VIP+", "Our best customers")


def test_deleting_a_group_keeps_its_members(api, club, group, member):
    add(group, member)

    response = api.delete(f"{GROUPS}/{group.id}")

    assert response.status_code == 200
    assert response.json() == {}
    assert not MemberGroup.objects.exists()
    assert not MemberGroupMembership.objects.exists()
    assert Member.objects.filter(pk=member.pk).exists()


def test_listing_groups_pages_them_with_member_counts_in_a_fixed_number_of_queries(
    api, club, other_club, django_assert_max_num_queries
):
    groups = [MemberGroupFactory(club=club, name=f"G{i}") for i in range(3)]
    MemberGroupFactory(club=other_club)
    for i, group in enumerate(groups):
        add(group, *[MemberFactory(club=club) for _ in range(i)])

    with django_assert_max_num_queries(4):  # client token, club, count, page with the counts
        response = api.get(GROUPS, {"per_page": 2})

    assert response.status_code == 200
    assert response.json() == {
        "members_groups": [
            {"id": groups[0].id, "name": "G0", "description": None, "members_count": 0},
            {"id": groups[1].id, "name": "G1", "description": None, "members_count": 1},
        ],
        "pagination_info": {
            "total_count": 3,
            "per_page": 2,
            "total_pages": 2,
            "current_page": 1,
            "next_page": 2,
            "prev_page": None,
            "is_first_page": True,
            "is_last_page": False,
            "is_out_of_range": False,
        },
    }


def test_listing_groups_asks_at_most_100_per_page(api, club):
    response = api.get(GROUPS, {"per_page": 101})

    assert response.status_code == 422
    assert response.json()["details"] == {"per_page": [leaf("less_or_equal_to", 101, number=100)]}


# --- Adding and removing members ------------------------------------------------------------------


def test_adding_members_reports_ids_that_are_unknown_or_of_another_club(api, club, other_club, group):
    own = [MemberFactory(club=club) for _ in range(2)]
    stranger = MemberFactory(club=other_club)

    response = api.post(
        f"{GROUPS}/{group.id}/members", {"member_ids": [own[0].id, 999999, stranger.id, own[1].id]}, format="json"
    )

    assert response.status_code == 200
    assert response.json() == {"not_found": [999999, stranger.id]}
    assert set(group.memberships.values_list("member_id", flat=True)) == {own[0].id, own[1].id}
    assert not member_in_group(member_id=stranger.id, group_id=group.id)


def test_adding_members_twice_keeps_each_member_once(api, club, group):
    member = MemberFactory(club=club)

    for _ in range(2):
        response = api.post(f"{GROUPS}/{group.id}/members", {"member_ids": [member.id, member.id]}, format="json")
        assert response.json() == {"not_found": []}

    assert group.memberships.count() == 1
    assert api.get(f"{GROUPS}/{group.id}").json()["members_group"]["members_count"] == 1


def test_adding_ten_thousand_members_takes_a_handful_of_queries(api, club, group, django_assert_max_num_queries):
    Member.objects.bulk_create(Member(club=club, email=f"m{i}@example.com") for i in range(10_000))
    ids = list(Member.objects.values_list("id", flat=True))

    # client token, club, group; then the group lock, 2 member lookups and the inserts. SQLite caps a
    # statement at 999 parameters, so its inserts go 333 rows at a time; PostgreSQL takes 5 000 per insert.
    from django.db import connection

    inserts = 2 if connection.vendor == "postgresql" else 31
    with django_assert_max_num_queries(3 + 1 + 2 + inserts + 2):  # + savepoint and release
        response = api.post(f"{GROUPS}/{group.id}/members", {"member_ids": ids}, format="json")

    assert response.status_code == 200
    assert response.json() == {"not_found": []}
    assert group.memberships.count() == 10_000


@pytest.mark.parametrize(
    ("member_ids", "details"),
    [
        ([], {"member_ids": [leaf("size_too_small", [], number=1)]}),
        ("1,2", {"member_ids": [leaf("must_be_an_array", "1,2")]}),
        ([1, "x", True], {"member_ids": {"1": [leaf("not_an_integer", "x")], "2": [leaf("not_an_integer", True)]}}),
        ([0], {"member_ids": {"0": [leaf("greater_or_equal_to", 0, number=1)]}}),
    ],
)
def test_malformed_member_ids_answer_422(api, club, group, member_ids, details):
    response = api.post(f"{GROUPS}/{group.id}/members", {"member_ids": member_ids}, format="json")

    assert response.status_code == 422
    assert response.json() == {"error": "Invalid parameters", "details": details}


def test_more_than_ten_thousand_ids_in_one_call_answer_422(api, club, group):
    ids = list(range(1, 10_002))

    response = api.post(f"{GROUPS}/{group.id}/members", {"member_ids": ids}, format="json")

    assert response.status_code == 422
    assert response.json()["details"] == {"member_ids": [leaf("size_too_large", ids, number=10_000)]}
    assert not MemberGroupMembership.objects.exists()


def test_removing_members_is_idempotent_and_reports_unknown_ids(api, club, other_club, group):
    kept, removed, outsider = (MemberFactory(club=club) for _ in range(3))
    add(group, kept, removed)
    stranger = MemberFactory(club=other_club)

    response = api.delete(
        f"{GROUPS}/{group.id}/members", {"member_ids": [removed.id, outsider.id, stranger.id, 999999]}, format="json"
    )

    assert response.status_code == 200
    assert response.json() == {"not_found": [stranger.id, 999999]}
    assert list(group.memberships.values_list("member_id", flat=True)) == [kept.id]
    assert Member.objects.filter(pk=removed.pk).exists()


def test_listing_a_groups_member_ids_pages_them_in_id_order(api, club, group):
    people = [MemberFactory(club=club) for _ in range(3)]
    add(group, *reversed(people))

    response = api.get(f"{GROUPS}/{group.id}/members", {"per_page": 2, "page_no": 1})

    assert response.status_code == 200
    assert response.json() == {
        "member_ids": [people[0].id, people[1].id],
        "pagination_info": {
            "total_count": 3,
            "per_page": 2,
            "total_pages": 2,
            "current_page": 1,
            "next_page": 2,
            "prev_page": None,
            "is_first_page": True,
            "is_last_page": False,
            "is_out_of_range": False,
        },
    }
    assert api.get(f"{GROUPS}/{group.id}/members", {"per_page": 1001}).status_code == 422


# --- A member's groups ----------------------------------------------------------------------------


def test_a_members_groups_are_listed_with_their_full_member_counts(api, club, member, group):
    other = MemberGroupFactory(club=club, name="Newsletter")
    MemberGroupFactory(club=club, name="Not mine")
    add(group, member, MemberFactory(club=club))
    add(other, member)

    response = api.get(f"/v3/infinity-mall/members/{member.id}/groups")

    assert response.status_code == 200
    assert response.json() == {
        "members_groups": [
            {"id": group.id, "name": "VIP", "description": "Our best customers", "members_count": 2},
            {"id": other.id, "name": "Newsletter", "description": None, "members_count": 1},
        ]
    }


def test_the_groups_of_an_unknown_member_or_of_another_clubs_member_answer_404(api, club, other_club):
    stranger = MemberFactory(club=other_club)

    for member_id in (999999, stranger.id):
        response = api.get(f"/v3/infinity-mall/members/{member_id}/groups")
        assert response.status_code == 404
        assert response.json() == {"error": f"Member#{member_id} not found"}


def test_member_in_group_answers_membership(club, member, group):
    assert not member_in_group(member_id=member.id, group_id=group.id)
    group_services.group_members_add(group=group, member_ids=[member.id])
    assert member_in_group(member_id=member.id, group_id=group.id)


# --- Permits --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "permit"),
    [
        ("get", "members_groups", "BL:Api:MembersGroups:Index"),
        ("post", "members_groups", "BL:Api:MembersGroups:Create"),
        ("get", "members_groups/{group}", "BL:Api:MembersGroups:Get"),
        ("put", "members_groups/{group}", "BL:Api:MembersGroups:Update"),
        ("delete", "members_groups/{group}", "BL:Api:MembersGroups:Destroy"),
        ("get", "members_groups/{group}/members", "BL:Api:MembersGroups:Members:List"),
        ("post", "members_groups/{group}/members", "BL:Api:MembersGroups:Members:Add"),
        ("delete", "members_groups/{group}/members", "BL:Api:MembersGroups:Members:Remove"),
        ("get", "members/{member}/groups", "BL:Api:MembersGroups:Index"),
    ],
)
def test_each_group_endpoint_needs_its_permit(client_with, group, member, method, path, permit):
    url = "/v3/infinity-mall/" + path.format(group=group.id, member=member.id)
    body = {"name": "x", "member_ids": [member.id]}
    others = [p for p in members_group_permits() if p != permit]

    denied = getattr(client_with(*others), method)(url, body, format="json")
    allowed = getattr(client_with(permit), method)(url, body, format="json")

    assert denied.status_code == 403
    assert denied.json() == {"error": f"Missing permit: {permit}"}
    assert allowed.status_code == 200


def members_group_permits():
    from loyalty.permits import PERMITS

    return [p for p in PERMITS if p.startswith("BL:Api:MembersGroups:")]


def test_a_token_bound_to_one_club_gets_401_on_another_clubs_groups(api, other_club):
    foreign = MemberGroupFactory(club=other_club)

    response = api.get(f"/v3/other-mall/members_groups/{foreign.id}")

    assert response.status_code == 401
    assert response.json() == {"error": "Invalid client token"}
