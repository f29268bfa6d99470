"""`member.created` reaches the outbox through loyalty's `member_created` signal, in the member's transaction."""

from __future__ import annotations

import pytest
from django.db import transaction

from loyalty.models import Member
from loyalty.services.imports import members_import
from loyalty.services.members import member_create
from loyalty.signals import member_created
from tests.factories import MemberFactory
from webhooks.models import Delivery, OutboxEvent
from webhooks.services import webhook_endpoint_create

MEMBERS = "/v3/infinity-mall/members"


@pytest.fixture
def listening(club):
    return webhook_endpoint_create(club=club, url="https://hooks.example.com/in", events=["member.created"])


def events():
    return [(e.type, e.member_id, e.data) for e in OutboxEvent.objects.order_by("id")]


def test_a_member_created_through_the_api_writes_one_member_created_event_for_the_listening_endpoint(
    api, club, listening
):
    response = api.post(MEMBERS, {"member": {"properties": {"email": "a@example.com"}}}, format="json")

    assert response.status_code == 201
    member_id = response.json()["member"]["id"]
    assert events() == [("member.created", member_id, {"member_id": member_id, "loyalty_club_id": club.id})]
    assert list(Delivery.objects.values_list("endpoint_id", flat=True)) == [listening.id]


def test_a_refused_create_writes_no_event(api, member, listening):
    response = api.post(MEMBERS, {"member": {"properties": {"email": "ADA@example.com"}}}, format="json")

    assert response.status_code == 422
    assert events() == []


def test_the_event_rolls_back_with_the_member_when_a_later_receiver_fails(club, listening):
    def failing(sender, member, **kwargs):
        raise RuntimeError("a receiver after webhooks fails")

    member_created.connect(failing, dispatch_uid="test.failing")
    try:
        with pytest.raises(RuntimeError):
            member_create(club=club, email="a@example.com")
    finally:
        member_created.disconnect(dispatch_uid="test.failing")

    assert not Member.objects.exists()
    assert events() == []


def test_the_event_rolls_back_with_the_callers_transaction(club, listening):
    class CallerFailed(Exception):
        pass

    with pytest.raises(CallerFailed), transaction.atomic():
        member_create(club=club, email="a@example.com")
        assert len(events()) == 1  # written inside the transaction, next to the member
        raise CallerFailed

    assert not Member.objects.exists()
    assert events() == []


def test_a_notifying_import_writes_one_event_per_created_member_and_none_for_updated_ones(club, listening):
    old = MemberFactory(club=club, email="old@example.com")
    rows = [(2, {"email": "old@example.com", "first_name": "Changed"}), (3, {"email": "new@example.com"})]

    report = members_import(club=club, rows=rows, notify=True)

    assert (report.created, report.updated) == (1, 1)
    new = Member.objects.get(email="new@example.com")
    assert events() == [("member.created", new.id, {"member_id": new.id, "loyalty_club_id": club.id})]
    assert old.id != new.id


def test_an_import_without_notify_writes_no_event(club, listening):
    members_import(club=club, rows=[(2, {"email": "new@example.com"})], notify=False)

    assert Member.objects.filter(email="new@example.com").exists()
    assert events() == []
