"""The changelog (07.02.2019): `/v3/loyalty_clubs/:loyalty_club_slug/…` paths "will still work"."""

from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator

from loyalty.models import Member
from tests.security.endpoints import api_operations

LEGACY = "v3/loyalty_clubs/<slug:lc>"
CURRENT = "v3/<slug:lc>"


def test_every_club_route_has_its_legacy_alias_with_the_same_view_context_and_permit():
    operations = api_operations()
    by_route = {(op.method, op.route, op.ctx): op for op in operations}
    current = [op for op in operations if op.route.startswith(CURRENT)]
    assert len(current) > 50  # the enumeration found the API, not an empty list

    missing = []
    for op in current:
        alias = by_route.get((op.method, LEGACY + op.route[len(CURRENT) :], op.ctx))
        if alias is None or (alias.view, alias.permit) != (op.view, op.permit):
            missing.append(str(op))
    assert missing == []


def test_the_legacy_prefix_answers_as_the_current_one(docs, member):
    for path in ("members/by_email/ada@example.com", f"members/{member.id}", "members/guest/offers"):
        legacy = docs.get(f"/v3/loyalty_clubs/infinity-mall/{path}")
        current = docs.get(f"/v3/infinity-mall/{path}")
        assert (legacy.status_code, legacy.json()) == (current.status_code, current.json()), path
        assert legacy.status_code == 200, path
    assert docs.get("/v3/loyalty_clubs/infinity-mall").json() == docs.get("/v3/infinity-mall").json()


def test_the_legacy_prefix_writes_and_keeps_permits_and_club_checks(docs, docs_with, club):
    body = {"properties": {"email": "legacy@example.com"}, "send_sms_welcome_message": False}

    assert docs.post("/v3/loyalty_clubs/infinity-mall/members", body).status_code == 200
    assert Member.objects.filter(email="legacy@example.com").exists()

    denied = docs_with("BL:Api:Members:Get").post("/v3/loyalty_clubs/infinity-mall/members", body)
    assert (denied.status_code, denied.json()) == (403, {"error": "Missing permit: BL:Api:Members:Create"})
    # The docs' token is bound to infinity-mall: any other slug is 401 on both prefixes.
    assert docs.get("/v3/loyalty_clubs/nowhere/members/me/offers").status_code == 401


@pytest.mark.django_db
def test_the_openapi_schema_lists_each_operation_once_without_the_alias():
    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]

    assert "/v3/{lc}/members/by_email/{email}" in paths
    assert not [path for path in paths if path.startswith("/v3/loyalty_clubs/")]
