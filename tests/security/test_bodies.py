"""The request-body gate (SPEC §1.2, §1.3): every write reads its body once, whether it comes with a
`Content-Length` or chunked; refuses it above 1 MiB (413) and when it is not JSON (400), before doing
anything — including the writes that take no fields (purchase, like, delete …). Operations come from the
URL resolver, never a hand-written list."""

from __future__ import annotations

import pytest

from rewards.models import Membership
from tests.bodies import NOT_JSON, chunked
from tests.conftest import make_client
from tests.security.conftest import footprint
from tests.security.endpoints import api_operations

WRITES = [op for op in api_operations() if op.writes]


def _path(op, world) -> str:
    return op.path(lc=world.slug, member_id=world.member_id, ids={k: v[0] for k, v in world.ids.items()})


@pytest.mark.parametrize("op", WRITES, ids=str)
def test_every_write_refuses_a_body_that_is_not_json_with_400_and_does_nothing(op, world):
    client = make_client(world.full_token, bearer=world.bearer)
    before = footprint(world.member_id)

    for name, (body, content_type) in NOT_JSON.items():
        response = client.generic(op.method.upper(), _path(op, world), body, content_type=content_type)
        streamed = chunked(client, op.method, _path(op, world), body, content_type)

        for answer in (response, streamed):
            assert answer.status_code == 400, (str(op), name, answer.status_code, answer.content[:200])
            assert answer.json() == {"error": "Invalid JSON"}
    assert footprint(world.member_id) == before


@pytest.mark.parametrize("op", WRITES, ids=str)
def test_every_write_refuses_a_chunked_body_above_1_mib_with_413_and_does_nothing(op, world, settings):
    client = make_client(world.full_token, bearer=world.bearer)
    body = b'{"x": "' + b"a" * (5 * settings.API_MAX_BODY_BYTES) + b'"}'
    before = footprint(world.member_id)

    response = chunked(client, op.method, _path(op, world), body)

    assert response.status_code == 413, (str(op), response.status_code, response.content[:200])
    assert response.json() == {"error": "Request body is larger than 1 MiB"}
    assert footprint(world.member_id) == before


def test_a_small_chunked_body_is_read(world):
    client = make_client(world.full_token)
    path = f"/v1/{world.slug}/members/{world.member_id}/rewards-program/grant_points"
    balance = Membership.objects.get(member_id=world.member_id).balance

    response = chunked(client, "post", path, b'{"points": 5}')

    assert response.status_code == 200, response.content
    assert Membership.objects.get(member_id=world.member_id).balance == balance + 5


def test_a_chunked_body_of_exactly_1_mib_is_accepted(world, settings):
    client = make_client(world.full_token)
    path = f"/v1/{world.slug}/members/{world.member_id}/rewards-program/grant_points"
    head = b'{"points": 5, "pad": "'
    body = head + b"a" * (settings.API_MAX_BODY_BYTES - len(head) - 2) + b'"}'
    assert len(body) == settings.API_MAX_BODY_BYTES

    response = chunked(client, "post", path, body)

    assert response.status_code == 200, response.content[:200]


def test_a_chunked_body_the_server_cannot_hand_over_is_411_not_read_as_empty(world):
    """Django's runserver leaves chunks on the connection (no `wsgi.input_terminated`): the body is unknown."""
    client = make_client(world.full_token)
    path = f"/v1/{world.slug}/members/{world.member_id}/rewards-program/grant_points"
    before = footprint(world.member_id)

    response = client.generic(
        "POST",
        path,
        b'{"points": 5}',
        content_type="application/json",
        CONTENT_LENGTH="",
        HTTP_TRANSFER_ENCODING="chunked",
    )

    assert response.status_code == 411
    assert response.json() == {"error": "Content-Length required"}
    assert footprint(world.member_id) == before
