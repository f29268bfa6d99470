"""The Django admin issues and revokes client tokens through the same services as the API."""

import re

import pytest
from django.contrib.auth import get_user_model

from loyalty.models import ClientToken, LoyaltyClub
from loyalty.secrets import digest
from tests.conftest import make_client


@pytest.fixture
def staff_client(client, db):
    user = get_user_model().objects.create_superuser("staff", "staff@example.com", "pw-123456789")
    client.force_login(user)
    return client


def test_issuing_a_token_in_the_admin_shows_the_secret_once_and_stores_its_digest(staff_client, club):
    response = staff_client.post(
        "/admin/loyalty/clienttoken/add/",
        {"name": "Kiosk", "policies": ["MemberAppAccess"], "clubs": [club.id], "product": "kiosk"},
        follow=True,
    )
    assert response.status_code == 200
    messages = [str(m) for m in response.context["messages"]]
    secret = re.search(r"not shown again\): (\S+)", " ".join(messages)).group(1)
    token = ClientToken.objects.get(name="Kiosk")
    assert token.token_digest == digest(secret)
    assert token.loyalty_club_ids == [club.id] and token.policies == ["MemberAppAccess"]
    assert make_client(secret, product="kiosk").get("/v3/infinity-mall").status_code == 200

    page = staff_client.get(f"/admin/loyalty/clienttoken/{token.id}/change/")
    assert secret not in page.content.decode()


def test_the_admin_refuses_a_token_without_clubs_or_permits(staff_client, club):
    response = staff_client.post("/admin/loyalty/clienttoken/add/", {"name": "Nothing"})
    assert response.status_code == 200  # the form is shown again with errors
    assert not ClientToken.objects.filter(name="Nothing").exists()


def test_the_revoke_action_revokes_the_selected_tokens(staff_client, club, issue_token):
    secret = issue_token(permits=["BL:Api:LoyaltyClubs:Get"], clubs=[club], name="old")
    token = ClientToken.objects.get(name="old")
    staff_client.post("/admin/loyalty/clienttoken/", {"action": "revoke", "_selected_action": [token.id]}, follow=True)
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert make_client(secret).get("/v3/infinity-mall").status_code == 401


def test_clubs_are_listed_and_editable_in_the_admin(staff_client, club):
    assert staff_client.get("/admin/loyalty/loyaltyclub/").status_code == 200
    response = staff_client.get(f"/admin/loyalty/loyaltyclub/{club.id}/change/")
    assert response.status_code == 200
    assert LoyaltyClub.objects.count() == 1
