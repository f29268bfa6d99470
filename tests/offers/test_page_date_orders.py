"""A member page ordered by a date (`order_by` usable_since / usable_until / created_at, SPEC §4.4) is walked from
an index and stops after the page: its cost does not grow with the catalogue (issue 21, target 1). The answers
are the order the contract gives: nulls last ascending, first descending, then by id."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from offers.models import Offer, Scope
from offers.selectors.listing import _page_ids_lookup
from tests.offers.factories import OfferFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)
ORDERS = [
    (attribute, descending)
    for attribute in ("usable_since", "usable_until", "created_at")
    for descending in (False, True)
]


def _catalogue(club) -> list[Offer]:
    """Offers with many equal dates and a third without usable dates (the list shows them whatever their
    usable dates: those decide `usable`, not visibility)."""
    rng = random.Random(7)
    offers = []
    for i in range(40):
        day = NOW - timedelta(days=rng.randrange(1, 5))
        offers.append(
            OfferFactory(
                club=club,
                name=f"offer {i}",
                scope=Scope.STANDARD,
                usable_since=None if i % 3 == 0 else day,
                usable_until=None if i % 3 == 1 else NOW + timedelta(days=rng.randrange(1, 5)),
                created_at=day,
            )
        )
    return offers


def _expected(offers: list[Offer], attribute: str, descending: bool) -> list[int]:
    dated = sorted((o for o in offers if getattr(o, attribute) is not None), key=lambda o: o.id)
    dated.sort(key=lambda o: getattr(o, attribute), reverse=descending)  # stable: equal dates stay by id
    undated = sorted(o.id for o in offers if getattr(o, attribute) is None)
    ids = [o.id for o in dated]
    return undated + ids if descending else ids + undated


@pytest.mark.parametrize(("attribute", "descending"), ORDERS)
def test_every_page_by_a_date_is_the_contract_order(member_api, club, attribute, descending):
    offers = _catalogue(club)
    order = f"{attribute} {'DESC' if descending else 'ASC'}"
    seen = []
    for page_no in (1, 2, 3, 4, 5):
        response = member_api.get(
            f"/v3/{club.slug}/members/me/offers", {"order_by": order, "per_page": 9, "page_no": page_no}
        )
        assert response.status_code == 200, response.json()
        seen += [offer["id"] for offer in response.json()["offers"]]
    assert seen == _expected(offers, attribute, descending)


def _plan_nodes(plan: dict) -> list[str]:
    nodes = [plan["Node Type"]]
    for child in plan.get("Plans", []):
        nodes += _plan_nodes(child)
    return nodes


@pytest.mark.postgres
@pytest.mark.parametrize(("attribute", "descending"), ORDERS)
def test_a_page_by_a_date_is_read_in_index_order_without_sorting_the_club(member, club, attribute, descending):
    """With sorting priced out, the page-ids statement the list sends needs no Sort node: an index gives its
    order. Without the indexes of migration offers 0011 every plan sorts the club's offers. (created_at, never
    null, walks its one index backwards for DESC, sorting the ids of equal instants incrementally.)"""
    _catalogue(club)
    (lookup,) = _page_ids_lookup(guest=False, order_by=[(attribute, descending)], languages=["en"])
    sql, params = lookup.statement(club_id=club.pk, member_id=member.pk, scope="standard", now=NOW, limit=9, offset=0)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    nodes = _plan_nodes(plan[0]["Plan"])
    assert "Sort" not in nodes, nodes
    if attribute != "created_at":
        # A nullable date has an index per direction: the other one, walked backwards, would need an incremental
        # sort of the ids within each date, and all the offers without a date are one such group.
        assert "Incremental Sort" not in nodes, nodes
