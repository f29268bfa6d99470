"""SPEC §3.1: the loyalty club resource."""

from loyalty.models import LoyaltyClub


def test_showing_the_club_returns_its_settings_without_the_usage_tokens(api, club):
    club.usage_authorization_tokens = ["s3cret-a", "s3cret-b"]
    club.save(update_fields=["usage_authorization_tokens"])
    response = api.get("/v3/infinity-mall")
    assert response.status_code == 200
    assert response.json() == {
        "loyalty_club": {
            "id": club.id,
            "slug": "infinity-mall",
            "name": "Infinity Mall",
            "timezone": "UTC",
            "default_language": "en",
            "offers_enabled": True,
            "rewards_enabled": True,
            "activated_seconds_time": 30,
            "usage_authorization_tokens_count": 2,
            "access_token_ttl_seconds": 86400,
            "refresh_token_ttl_seconds": 31536000,
        }
    }
    assert b"s3cret" not in response.content


def test_updating_the_club_is_partial_and_slug_is_read_only(api, club):
    response = api.put(
        "/v3/infinity-mall",
        {
            "loyalty_club": {
                "timezone": "Europe/Oslo",
                "activated_seconds_time": 0,
                "slug": "hijack",
                "usage_authorization_tokens": ["t1"],
            }
        },
        format="json",
    )
    assert response.status_code == 200
    body = response.json()["loyalty_club"]
    assert body["timezone"] == "Europe/Oslo"
    assert body["activated_seconds_time"] == 0
    assert body["slug"] == "infinity-mall"
    assert body["name"] == "Infinity Mall"
    club.refresh_from_db()
    assert club.usage_authorization_tokens == ["t1"]
    assert not LoyaltyClub.objects.filter(slug="hijack").exists()


def test_an_invalid_update_changes_nothing(api, club):
    response = api.put(
        "/v3/infinity-mall", {"loyalty_club": {"name": "Renamed", "timezone": "Mars/Olympus"}}, format="json"
    )
    assert response.status_code == 422
    assert response.json()["details"]["loyalty_club"]["timezone"][0]["error"] == "invalid"
    club.refresh_from_db()
    assert club.name == "Infinity Mall"
