"""The text gate: NUL and lone surrogates, which PostgreSQL cannot store and UTF-8 cannot encode, are refused
wherever they are — typed text fields, free-form JSON keys and values at any depth — with 422 in the
contract's tree; the answer always encodes what it echoes (a lone surrogate comes back escaped, `\\ud800`)."""

from __future__ import annotations

import json

import pytest

from offers.models import OfferEvent
from rewards.models import Transaction
from tests.conftest import make_client
from tests.security.conftest import footprint

UNSAFE = {"nul": "a\x00b", "surrogate": "a\ud800b", "low surrogate": "\udfff"}
FORMAT = {"format": "text without NUL or surrogate characters"}


def _post(client, path, body: dict):
    # ensure_ascii escapes the surrogate the way a client must send it (`\ud800` in the JSON text)
    return client.post(path, json.dumps(body), content_type="application/json")


def _leaf(value) -> dict:
    return {
        "value": value,
        "error": "invalid",
        "options": FORMAT,
        "message": "is in invalid format (" + FORMAT["format"] + ")",
    }


@pytest.mark.parametrize("text", UNSAFE.values(), ids=UNSAFE.keys())
@pytest.mark.parametrize("field", ["first_name", "last_name", "email", "msisdn", "language"])
def test_a_typed_text_field_refuses_it_with_422_and_echoes_it_encodable(world, field, text):
    client = make_client(world.full_token)

    response = _post(client, f"/v3/{world.slug}/members", {"member": {"properties": {field: text}}})

    assert response.status_code == 422, response.content[:300]
    assert response.json() == {
        "error": "Invalid parameters",
        "details": {"member": {"properties": {field: [_leaf(text)]}}},
    }


def _grant(world, properties):
    client = make_client(world.full_token)
    path = f"/v1/{world.slug}/members/{world.member_id}/rewards-program/grant_points"
    return _post(client, path, {"points": 5, "grant_properties": properties})


@pytest.mark.parametrize("text", UNSAFE.values(), ids=UNSAFE.keys())
def test_free_form_grant_properties_refuse_it_in_values_and_keys_at_any_depth(world, text):
    before = footprint(world.member_id)
    value = _grant(world, {"store": text})
    key = _grant(world, {text: "x"})
    deep = _grant(world, {"a": [{"b": {"c": ["ok", text]}}]})

    assert value.status_code == key.status_code == deep.status_code == 422
    assert value.json()["details"] == {"grant_properties": {"store": [_leaf(text)]}}
    assert key.json()["details"] == {"grant_properties": {text: [_leaf(text)]}}
    assert deep.json()["details"] == {"grant_properties": {"a": {"0": {"b": {"c": {"1": [_leaf(text)]}}}}}}
    assert footprint(world.member_id) == before
    assert not Transaction.objects.filter(membership__member_id=world.member_id, amount=5).exists()


@pytest.mark.parametrize("text", UNSAFE.values(), ids=UNSAFE.keys())
def test_free_form_event_context_refuses_it_in_values_and_keys(world, text):
    client = make_client(world.full_token, bearer=world.bearer)
    path = f"/v3/{world.slug}/members/me/events/offers_seen"
    offer_id = world.ids["offer_id"][0]
    events = OfferEvent.objects.count()

    value = _post(client, path, {"events": [{"offer_id": offer_id, "context": {"screen": text}}]})
    key = _post(client, path, {"events": [{"offer_id": offer_id, "context": {text: 1}}]})

    assert value.status_code == key.status_code == 422, (value.content[:300], key.content[:300])
    assert value.json()["details"] == {"events": {"0": {"context": {"screen": [_leaf(text)]}}}}
    assert key.json()["details"] == {"events": {"0": {"context": {text: [_leaf(text)]}}}}
    assert OfferEvent.objects.count() == events
