"""OWASP API1 (broken object-level authorization): a member's Bearer token reaches that member's data and
nobody else's, through every `/me/` path and every `{member_id}` path. Operations come from the URL resolver,
so endpoints added later are covered without editing this file.

Ada holds the Bearer token; Bob is the victim (see conftest). Every request also tries to smuggle Bob's id in
through the query string and the body; `/me/` must ignore it.
"""

from __future__ import annotations

import pytest

from loyalty.permits import POLICIES
from tests.conftest import make_client
from tests.security.conftest import BOB_MARKERS, footprint
from tests.security.endpoints import api_operations

OPERATIONS = api_operations()
AS_BEARER = [op for op in OPERATIONS if op.acts_as_bearer]
BY_MEMBER_ID = [op for op in OPERATIONS if op.names_a_member]

# Bodies that let each /me/ write do its work (others take {}); Bob's id rides along in every one.
BODIES = {
    "members/me": {"member": {"properties": {"first_name": "Adeline"}}},
    "rewards-program/achievements": {"type": "app_opened"},
    "events/offers_clicked": {"events": [{"offer_id": "OFFER"}]},
    "events/offers_seen": {"events": [{"offer_id": "OFFER"}]},
}
# /me/ writes that may leave Ada unchanged (already joined; nothing to unlike).
IDEMPOTENT = ("rewards-program/join", "/unlike")


def _ids(world) -> dict[str, int]:
    return {name: values[0] for name, values in world.ids.items()}


def _body(op, world) -> dict:
    body = next((b for suffix, b in BODIES.items() if op.route.endswith(suffix)), {})
    body = {**body, "member_id": world.other_member_id, "resource_owner_id": world.other_member_id}
    if "events" in body:
        body["events"] = [{"offer_id": world.ids["offer_id"][0]}]
    return body


def _call(client, op, url, body):
    if op.method == "get":
        return client.get(url)
    return getattr(client, op.method)(url, body, format="json")


def test_the_bearer_and_member_id_operations_were_found():
    assert len(AS_BEARER) >= 20 and len(BY_MEMBER_ID) >= 15


@pytest.mark.parametrize("op", AS_BEARER, ids=str)
def test_a_me_operation_acts_on_the_bearer_and_never_reads_or_writes_another_member(op, world):
    bob_before, ada_before = footprint(world.other_member_id), footprint(world.member_id)
    client = make_client(world.full_token, bearer=world.bearer)
    url = op.path(lc=world.slug, member_id=world.member_id, ids=_ids(world)) + f"?member_id={world.other_member_id}"

    response = _call(client, op, url, _body(op, world))

    assert response.status_code == 200, (str(op), response.content)
    assert not [m for m in BOB_MARKERS if m in response.content.decode()], str(op)
    body = response.json()
    for owner in (body.get("resource_owner_id"), (body.get("member") or {}).get("id")):
        assert owner in (None, world.member_id), str(op)
    assert footprint(world.other_member_id) == bob_before, str(op)
    if op.writes and not op.route.endswith(IDEMPOTENT):
        assert footprint(world.member_id) != ada_before, f"{op} did not act on the Bearer's member"


@pytest.mark.parametrize("op", AS_BEARER, ids=str)
def test_a_me_operation_refuses_the_bearer_of_another_clubs_member_with_460(op, world, stranger_bearer):
    bearer, _ = stranger_bearer
    client = make_client(world.full_token, bearer=bearer)
    response = _call(client, op, op.path(lc=world.slug, member_id=world.member_id, ids=_ids(world)), {})
    assert response.status_code == 460, (str(op), response.content)
    assert response.json() == {"error": "Invalid member access token"}


def test_the_mobile_app_policy_holds_no_permit_of_an_operation_by_member_id():
    app_permits = POLICIES["MemberAppAccess"][1]
    assert sorted({op.permit for op in BY_MEMBER_ID} & app_permits) == []


@pytest.mark.parametrize("whose", ["other", "own"])
@pytest.mark.parametrize("op", BY_MEMBER_ID, ids=str)
def test_a_bearer_does_not_stand_in_for_the_by_member_id_permit(op, whose, world, issue_token):
    """A mobile-app token (MemberAppAccess) with Ada's Bearer, on Bob's id or her own: 403, nothing done."""
    member_id = world.other_member_id if whose == "other" else world.member_id
    before = footprint(member_id)
    client = make_client(issue_token(policies=["MemberAppAccess"]), bearer=world.bearer)

    response = _call(client, op, op.path(lc=world.slug, member_id=member_id, ids=_ids(world)), {})

    assert response.status_code == 403, (str(op), response.content)
    assert response.json() == {"error": f"Missing permit: {op.permit}"}
    assert footprint(member_id) == before


@pytest.mark.parametrize("op", BY_MEMBER_ID, ids=str)
def test_a_member_of_another_club_is_not_found_by_id(op, world, stranger_bearer):
    _, stranger_id = stranger_bearer
    before = footprint(stranger_id)
    client = make_client(world.full_token)

    response = _call(client, op, op.path(lc=world.slug, member_id=stranger_id, ids=_ids(world)), {})

    assert response.status_code == 404, (str(op), response.content)
    assert response.json() == {"error": f"Member#{stranger_id} not found"}
    assert footprint(stranger_id) == before
