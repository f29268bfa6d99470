"""SPEC §9 loyalty_bootstrap, /healthz and the OpenAPI schema (§10.3)."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from loyalty.models import ClientToken, LoyaltyClub
from tests.conftest import make_client


def test_bootstrap_creates_the_club_and_prints_a_working_token_as_json(db):
    out = StringIO()
    call_command("loyalty_bootstrap", "--club", "demo-mall", "--timezone", "Europe/Oslo", "--json", stdout=out)
    printed = json.loads(out.getvalue())
    assert set(printed) == {"club", "token"}
    assert printed["club"] == "demo-mall"
    club = LoyaltyClub.objects.get(slug="demo-mall")
    assert (club.timezone, club.offers_enabled, club.rewards_enabled) == ("Europe/Oslo", True, True)
    token = ClientToken.objects.get()
    assert token.policies == ["FullAccess"] and token.loyalty_club_ids == [club.id]
    response = make_client(printed["token"]).get("/v3/demo-mall")
    assert response.status_code == 200
    assert response.json()["loyalty_club"]["slug"] == "demo-mall"


def test_bootstrap_twice_keeps_one_club_and_issues_a_second_token(db):
    call_command("loyalty_bootstrap", "--club", "demo-mall", "--json", stdout=StringIO())
    call_command("loyalty_bootstrap", "--club", "demo-mall", "--json", stdout=StringIO())
    assert LoyaltyClub.objects.filter(slug="demo-mall").count() == 1
    assert ClientToken.objects.count() == 2


def test_bootstrap_without_json_prints_a_curl_hint(db):
    out = StringIO()
    call_command("loyalty_bootstrap", "--club", "demo-mall", stdout=out)
    assert "curl" in out.getvalue() and "X-Client-Authorization" in out.getvalue()


def test_bootstrap_refuses_an_unknown_time_zone(db):
    with pytest.raises(CommandError):
        call_command("loyalty_bootstrap", "--club", "x", "--timezone", "Mars/Olympus", stdout=StringIO())


def test_health_reports_the_database(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["checks"]["database"] == "ok"


def test_the_openapi_schema_is_served_and_names_permits(client, db):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    operation = schema["paths"]["/v3/{lc}"]["put"]
    assert "BL:Api:LoyaltyClubs:Update" in operation["description"]
    assert {"clientToken": []} in operation["security"]
    headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
    assert {"X-User-Agent", "X-Product-Name", "X-Loyalty-Club-Slug", "Idempotency-Key"} <= headers


def test_swagger_ui_is_served_without_a_cdn(client, db):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert b"cdn.jsdelivr" not in response.content
