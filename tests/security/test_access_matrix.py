"""OWASP API1/API5: every operation refuses a token without its permit, and a token of another club.

The operations are enumerated from the URL resolver, so endpoints added later are covered automatically.
"""

import pytest

from loyalty.permits import PERMITS
from tests.conftest import make_client
from tests.security.endpoints import api_operations

OPERATIONS = api_operations()
WITH_PERMIT = [op for op in OPERATIONS if op.permit]


def test_every_api_operation_declares_a_permit():
    assert OPERATIONS, "no API operations found"
    missing = [str(op) for op in OPERATIONS if not op.permit]
    assert missing == []


def test_every_declared_permit_is_in_the_catalogue():
    unknown = sorted({op.permit for op in WITH_PERMIT} - set(PERMITS))
    assert unknown == []


@pytest.mark.parametrize("op", WITH_PERMIT, ids=str)
def test_a_token_lacking_the_operations_permit_gets_403_naming_it(op, issue_token, club, member):
    everything_else = [p for p in PERMITS if p != op.permit]
    client = make_client(issue_token(permits=everything_else, clubs=[club]))
    response = getattr(client, op.method)(op.path(lc=club.slug, member_id=member.id), {}, format="json")
    assert response.status_code == 403, (str(op), response.content)
    assert response.json() == {"error": f"Missing permit: {op.permit}"}


@pytest.mark.parametrize("op", [op for op in WITH_PERMIT if op.club_scoped], ids=str)
def test_a_token_bound_to_another_club_gets_401_and_no_data(op, issue_token, club, other_club, member):
    client = make_client(issue_token(policies=["FullAccess"], clubs=[other_club]))
    response = getattr(client, op.method)(op.path(lc=club.slug, member_id=member.id), {}, format="json")
    assert response.status_code == 401, (str(op), response.content)
    assert response.json() == {"error": "Invalid client token"}
