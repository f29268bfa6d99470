"""SPEC §10.1: Idempotency-Key on every POST/PUT/DELETE."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from loyalty import idempotency
from loyalty.models import ClientToken, IdempotencyKey, LoyaltyClub
from loyalty.tasks import idempotency_keys_purge
from tests.conftest import make_client

TOKENS_URL = "/v1/tokens"
CLUB_URL = "/v3/infinity-mall"


def _token_body(name: str = "Kiosk") -> str:
    return json.dumps({"token": {"name": name, "permits": ["BL:Api:LoyaltyClubs:Get"]}})


def _post_token(client, key: str | None, body: str | None = None, **extra):
    if key is not None:
        extra["HTTP_IDEMPOTENCY_KEY"] = key
    return client.post(TOKENS_URL, body or _token_body(), content_type="application/json", **extra)


@pytest.fixture
def admin_api(issue_token):
    """A FullAccess token valid for every club (the token admin API is global)."""
    return make_client(issue_token(policies=["FullAccess"]))


def test_a_retry_replays_the_identical_status_and_body_without_creating_a_second_token(admin_api):
    before = ClientToken.objects.count()
    first = _post_token(admin_api, "create-kiosk-1")
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first

    retry = _post_token(admin_api, "create-kiosk-1")

    assert retry.status_code == 201
    assert retry.content == first.content  # byte-identical, the secret shown once included
    assert retry["Content-Type"] == first["Content-Type"] == "application/json"
    assert retry["Idempotent-Replayed"] == "true"
    assert ClientToken.objects.count() == before + 1


def test_a_replayed_put_does_not_run_again(api, club):
    body = json.dumps({"loyalty_club": {"name": "Renamed once"}})
    first = api.put(CLUB_URL, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="rename")
    assert first.status_code == 200
    LoyaltyClub.objects.filter(pk=club.pk).update(name="Changed by someone else")

    retry = api.put(CLUB_URL, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="rename")

    assert retry.status_code == 200
    assert retry.content == first.content
    club.refresh_from_db()
    assert club.name == "Changed by someone else"


def test_the_same_key_with_a_different_body_answers_422(admin_api):
    assert _post_token(admin_api, "k1", _token_body("A")).status_code == 201
    before = ClientToken.objects.count()

    response = _post_token(admin_api, "k1", _token_body("B"))

    assert response.status_code == 422
    assert response.json() == {"error": "Idempotency key reused with different parameters"}
    assert ClientToken.objects.count() == before


def test_the_same_key_on_another_path_answers_422(api, club):
    body = json.dumps({"loyalty_club": {"name": "X"}})
    assert api.put(CLUB_URL, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k").status_code == 200

    response = api.put(CLUB_URL + "?x=1", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k")

    assert response.status_code == 422
    assert response.json() == {"error": "Idempotency key reused with different parameters"}


def test_the_same_key_with_another_method_answers_422_and_does_nothing(admin_api):
    token_id = _post_token(admin_api, None).json()["token"]["id"]
    url = f"{TOKENS_URL}/{token_id}"
    body = json.dumps({"token": {"name": "Renamed"}})
    assert admin_api.put(url, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k").status_code == 200

    response = admin_api.delete(url, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k")

    assert response.status_code == 422
    assert response.json() == {"error": "Idempotency key reused with different parameters"}
    assert ClientToken.objects.get(pk=token_id).revoked_at is None


def test_a_retry_while_the_first_request_runs_answers_409_and_does_nothing(admin_api, issue_token):
    secret = issue_token(policies=["FullAccess"])
    client = make_client(secret)
    body = _token_body()
    # The first request has claimed the key and is still running.
    idempotency.idempotency_key_claim(
        client_token=ClientToken.objects.get(token_prefix=secret[:8]),
        scope="",
        key="in-flight",
        method="POST",
        path=TOKENS_URL,
        body=body.encode(),
    )
    before = ClientToken.objects.count()

    response = _post_token(client, "in-flight", body)

    assert response.status_code == 409
    assert response.json() == {"error": "Request with this idempotency key is in progress"}
    assert ClientToken.objects.count() == before


def test_an_unfinished_request_older_than_the_lease_no_longer_blocks_a_retry(issue_token, settings):
    secret = issue_token(policies=["FullAccess"])
    body = _token_body()
    long_ago = timezone.now() - timedelta(seconds=settings.IDEMPOTENCY_LEASE_SECONDS + 1)
    idempotency.idempotency_key_claim(
        client_token=ClientToken.objects.get(token_prefix=secret[:8]),
        scope="",
        key="crashed",
        method="POST",
        path=TOKENS_URL,
        body=body.encode(),
        now=long_ago,
    )
    before = ClientToken.objects.count()

    response = _post_token(make_client(secret), "crashed", body)

    assert response.status_code == 201
    assert ClientToken.objects.count() == before + 1
    assert IdempotencyKey.objects.get(key="crashed").state == IdempotencyKey.COMPLETED


def test_a_key_is_per_client_token(issue_token):
    first_client = make_client(issue_token(policies=["FullAccess"]))
    second_client = make_client(issue_token(policies=["FullAccess"]))
    before = ClientToken.objects.count()

    a = _post_token(first_client, "shared-key")
    b = _post_token(second_client, "shared-key")

    assert a.status_code == b.status_code == 201
    assert "Idempotent-Replayed" not in b
    assert a.json()["token"]["id"] != b.json()["token"]["id"]
    assert ClientToken.objects.count() == before + 2


def test_a_key_is_per_loyalty_club(issue_token, club, other_club):
    client = make_client(issue_token(policies=["FullAccess"]))
    body = json.dumps({"loyalty_club": {"name": "Same body"}})

    here = client.put(CLUB_URL, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k")
    there = client.put("/v3/other-mall", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k")

    assert here.status_code == there.status_code == 200
    assert "Idempotent-Replayed" not in there
    other_club.refresh_from_db()
    assert other_club.name == "Same body"


def test_a_4xx_first_response_is_stored_and_replayed(admin_api):
    bad = json.dumps({"token": {"name": "", "permits": ["No:Such:Permit"]}})
    first = _post_token(admin_api, "bad-one", bad)
    assert first.status_code == 422

    retry = _post_token(admin_api, "bad-one", bad)

    assert retry.status_code == 422
    assert retry.content == first.content
    assert retry["Idempotent-Replayed"] == "true"


def test_a_5xx_releases_the_key_so_that_a_retry_runs(admin_api, monkeypatch):
    from loyalty.services import tokens

    real_issue = tokens.client_token_issue

    def broken(**kwargs):
        raise RuntimeError("database fell over")

    monkeypatch.setattr(tokens, "client_token_issue", broken)
    assert _post_token(admin_api, "flaky").status_code == 500
    assert not IdempotencyKey.objects.filter(key="flaky").exists()
    monkeypatch.setattr(tokens, "client_token_issue", real_issue)
    before = ClientToken.objects.count()

    retry = _post_token(admin_api, "flaky")

    assert retry.status_code == 201
    assert "Idempotent-Replayed" not in retry
    assert ClientToken.objects.count() == before + 1


@pytest.mark.parametrize(
    ("key", "error", "options"),
    [
        ("x" * 256, "too_long", {"max_length": 255}),
        ("tab\tinside", "invalid", {"format": "printable ASCII"}),
        ("caf\u00e9", "invalid", {"format": "printable ASCII"}),
        ("   ", "blank", {}),
    ],
)
def test_a_malformed_key_answers_422_on_the_header_and_does_nothing(admin_api, key, error, options):
    before = ClientToken.objects.count()

    response = _post_token(admin_api, key)

    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "Invalid parameters"
    [leaf] = body["details"]["Idempotency-Key"]
    assert (leaf["error"], leaf["options"]) == (error, options)
    assert ClientToken.objects.count() == before
    assert not IdempotencyKey.objects.exists()


def test_a_key_of_255_printable_characters_is_accepted(admin_api):
    key = "".join(chr(c) for c in range(0x21, 0x7F)) * 3
    response = _post_token(admin_api, key[:255])
    assert response.status_code == 201


def test_refusals_before_the_handler_are_never_stored(issue_token, club):
    secret = issue_token(permits=["BL:Api:LoyaltyClubs:Get"], clubs=[club])
    body = json.dumps({"loyalty_club": {"name": "Nope"}})
    no_permit = make_client(secret).put(CLUB_URL, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k")
    missing_header = make_client(secret)
    missing_header.credentials(HTTP_X_CLIENT_AUTHORIZATION=secret, HTTP_X_PRODUCT_NAME="test-app")
    no_agent = missing_header.put(CLUB_URL, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k")

    assert no_permit.status_code == 403
    assert no_agent.status_code == 470
    assert not IdempotencyKey.objects.exists()


def test_reads_ignore_the_key(api):
    assert api.get(CLUB_URL, HTTP_IDEMPOTENCY_KEY="x" * 300).status_code == 200
    assert not IdempotencyKey.objects.exists()


def test_an_expired_key_runs_the_request_again(admin_api):
    assert _post_token(admin_api, "old").status_code == 201
    IdempotencyKey.objects.filter(key="old").update(expires_at=timezone.now() - timedelta(seconds=1))
    before = ClientToken.objects.count()

    response = _post_token(admin_api, "old")

    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response
    assert ClientToken.objects.count() == before + 1


def test_stored_responses_are_kept_at_least_24_hours(admin_api):
    _post_token(admin_api, "kept")
    row = IdempotencyKey.objects.get(key="kept")
    assert row.expires_at - timezone.now() >= timedelta(hours=24) - timedelta(minutes=1)


def test_the_purge_task_deletes_expired_keys_only(admin_api):
    _post_token(admin_api, "fresh")
    _post_token(admin_api, "stale", _token_body("Stale"))
    IdempotencyKey.objects.filter(key="stale").update(expires_at=timezone.now() - timedelta(seconds=1))

    idempotency_keys_purge.delay()

    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["fresh"]


def test_the_purge_works_in_batches(db):
    from loyalty.services.tokens import client_token_issue

    token = client_token_issue(name="t").token
    past = timezone.now() - timedelta(days=2)
    IdempotencyKey.objects.bulk_create(
        IdempotencyKey(client_token=token, scope="", key=f"k{i}", method="POST", path="/", request_digest="d",
                       expires_at=past)
        for i in range(7)
    )  # fmt: skip
    assert idempotency.idempotency_keys_purge(batch_size=3) == 7
    assert not IdempotencyKey.objects.exists()


def test_the_schema_documents_the_header_and_409_on_writes(client, db):
    schema = json.loads(client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").content)
    operation = schema["paths"]["/v1/tokens"]["post"]
    assert "Idempotency-Key" in [p["name"] for p in operation["parameters"]]
    assert "409" in operation["responses"]
    assert "409" not in schema["paths"]["/v1/tokens"]["get"]["responses"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_ten_concurrent_requests_with_one_key_execute_exactly_once(issue_token):
    secret = issue_token(policies=["FullAccess"])
    before = ClientToken.objects.count()
    barrier = threading.Barrier(10)
    results: list = []
    lock = threading.Lock()

    def worker():
        try:
            client = make_client(secret)
            barrier.wait()
            response = _post_token(client, "race")
            with lock:
                results.append((response.status_code, response.get("Idempotent-Replayed"), response.content))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(results) == 10
    assert ClientToken.objects.count() == before + 1
    executed = [r for r in results if r[0] == 201 and r[1] is None]
    assert len(executed) == 1
    for status, replayed, content in results:
        assert (
            status == 409 and json.loads(content) == {"error": "Request with this idempotency key is in progress"}
        ) or (status == 201 and content == executed[0][2]), (status, replayed, content)


# --- The offer use endpoint (issue acceptance: one key, one usage) ----------------------------------


def _use_url(member, offer) -> str:
    return f"/v3/infinity-mall/members/{member.id}/offers/{offer.id}/use"


def test_a_replayed_offer_use_answers_the_same_and_records_no_second_usage(api, club, member):
    from offers.models import Offer, OfferUsage
    from tests.offers.factories import OfferFactory

    LoyaltyClub.objects.filter(pk=club.pk).update(activated_seconds_time=0)  # back-to-back uses are allowed
    offer = OfferFactory(club=club, maximum_uses_per_user=10, stock=100)

    first = api.post(_use_url(member, offer), "{}", content_type="application/json", HTTP_IDEMPOTENCY_KEY="use-1")
    retry = api.post(_use_url(member, offer), "{}", content_type="application/json", HTTP_IDEMPOTENCY_KEY="use-1")
    fresh = api.post(_use_url(member, offer), "{}", content_type="application/json", HTTP_IDEMPOTENCY_KEY="use-2")

    assert first.status_code == retry.status_code == 200
    assert retry.content == first.content
    assert retry["Idempotent-Replayed"] == "true"
    assert fresh.status_code == 200  # another key is another use
    assert OfferUsage.objects.filter(offer=offer, member=member).count() == 2
    assert Offer.objects.get(pk=offer.pk).uses_count == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_ten_concurrent_offer_uses_with_one_key_record_exactly_one_usage(full_token, club, member):
    from offers.models import Offer, OfferUsage
    from tests.offers.factories import OfferFactory

    # Without the key, all ten would be recorded: back-to-back uses allowed, limits far away.
    LoyaltyClub.objects.filter(pk=club.pk).update(activated_seconds_time=0)
    offer = OfferFactory(club=club, maximum_uses_per_user=100, stock=100)
    barrier = threading.Barrier(10)
    statuses: list[int] = []
    lock = threading.Lock()

    def worker():
        try:
            client = make_client(full_token)
            barrier.wait()
            response = client.post(
                _use_url(member, offer), "{}", content_type="application/json", HTTP_IDEMPOTENCY_KEY="use-once"
            )
            with lock:
                statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(set(statuses)) <= [200, 409] and 200 in statuses and len(statuses) == 10
    assert OfferUsage.objects.filter(offer=offer, member=member).count() == 1
    assert Offer.objects.get(pk=offer.pk).uses_count == 1
