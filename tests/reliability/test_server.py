"""The request-body gate and the server's own answers through a real gunicorn (production settings, threaded
workers that keep connections alive), as a streaming or sloppy client meets them: chunked bodies are read
and bounded, a refused body does not break the next request on the same connection, and gunicorn's own
refusals (malformed request line or header, a URI above 4 KiB) are JSON in the contract's shape.

PostgreSQL only: gunicorn shares the test database, which `transaction=True` commits to.
"""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator

import pytest
from django.db import connection

from bench.harness import Gunicorn, bench_env
from loyalty.services.oauth import oauth_tokens_issue
from loyalty.services.tokens import client_token_issue
from rewards import services as rewards
from rewards.models import Membership, Reward, RewardPurchase
from tests.factories import LoyaltyClubFactory, MemberFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

BIG = 5 * 1024 * 1024


@pytest.fixture(scope="module")
def server(django_db_setup) -> Iterator[Gunicorn]:
    database = connection.settings_dict
    url = f"postgres://{database['USER']}@{database['HOST'] or '127.0.0.1'}:{database['PORT'] or 5432}/"
    env = bench_env(url + database["NAME"], LOG_LEVEL="ERROR", DATABASE_CONN_MAX_AGE="0")
    env.pop("PYTEST_CURRENT_TEST", None)
    with Gunicorn(env, workers=1, threads=2) as running:
        yield running


@pytest.fixture
def world(request):
    # A slug of its own per test: the server caches clubs by slug for a moment (API_AUTH_CACHE_SECONDS).
    club = LoyaltyClubFactory(slug=f"server-{abs(hash(request.node.name)) % 10**8}")
    secret = client_token_issue(
        name="server", permits=[], policies=["FullAccess"], loyalty_club_ids=[club.id], product=None
    ).secret
    member = MemberFactory(club=club, email="ada@example.com")
    rewards.membership_join(member=member)
    rewards.points_grant(member=member, points=100)
    reward = Reward.objects.create(club=club, name="Mug", price=3, status=Reward.PUBLISHED, stock=10)
    bearer = oauth_tokens_issue(member=member).access_token
    headers = {"X-Client-Authorization": secret, "X-User-Agent": "pytest", "X-Product-Name": "t"}
    return {
        "headers": headers,
        "bearer": {**headers, "Authorization": f"Bearer {bearer}"},
        "grant": f"/v1/{club.slug}/members/{member.id}/rewards-program/grant_points",
        "purchase": f"/v3/{club.slug}/members/me/rewards-program/rewards/{reward.id}/purchase",
        "club": f"/v3/{club.slug}",
        "member": member,
        "reward": reward,
    }


def _chunks(body: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def _send(conn: http.client.HTTPConnection, method: str, path: str, headers: dict, body=None, *, chunked=False):
    """One request on `conn` (reconnecting only if the server said it would close); (status, json, headers)."""
    headers = {**headers, "Content-Type": "application/json"}
    if chunked:
        conn.request(method, path, body=_chunks(body), headers=headers, encode_chunked=True)
    else:
        conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    content = response.read()
    return response.status, json.loads(content) if content else None, dict(response.getheaders())


def _balance(member) -> int:
    return Membership.objects.get(member=member).balance


def test_chunked_bodies_are_read_and_bounded_under_gunicorn(server, world):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    before = _balance(world["member"])

    small = _send(conn, "POST", world["grant"], world["headers"], b'{"points": 5}', chunked=True)
    big_grant = _send(
        conn, "POST", world["grant"], world["headers"], b'{"points": 5, "x": "' + b"a" * BIG + b'"}', chunked=True
    )
    big_purchase = _send(conn, "POST", world["purchase"], world["bearer"], b" " * BIG, chunked=True)
    not_json = _send(conn, "POST", world["purchase"], world["bearer"], b"{not json", chunked=True)

    assert small[0] == 200, small
    assert big_grant[:2] == (413, {"error": "Request body is larger than 1 MiB"})
    assert big_purchase[:2] == (413, {"error": "Request body is larger than 1 MiB"})
    assert not_json[:2] == (400, {"error": "Invalid JSON"})
    assert _balance(world["member"]) == before + 5
    assert not RewardPurchase.objects.filter(reward=world["reward"]).exists()


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("token", ["valid", "revoked"], ids=["413", "401 before the body"])
def test_a_refused_oversized_body_does_not_break_the_next_request_on_the_connection(server, world, chunked, token):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    body = b'{"points": 5, "x": "' + b"a" * BIG + b'"}'
    headers = world["headers"] if token == "valid" else {**world["headers"], "X-Client-Authorization": "nope"}

    first = _send(conn, "GET", world["club"], world["headers"])
    refused = _send(conn, "POST", world["grant"], headers, body, chunked=chunked)
    after = [_send(conn, "GET", world["club"], world["headers"]) for _ in range(3)]

    assert first[0] == 200 and first[2].get("Connection") == "keep-alive"  # the connection is reused
    assert refused[0] == (413 if token == "valid" else 401), refused
    assert refused[2].get("Connection") == "keep-alive"  # the body was read to its end: no reconnection
    assert [status for status, _, _ in after] == [200, 200, 200]


def test_a_body_too_long_to_read_is_refused_with_connection_close(server, world):
    """Declared far above what the API reads and drops: the answer says the connection closes."""
    head = f"POST {world['grant']} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in world["headers"].items())
    head += f"Content-Length: {1024**3}\r\n\r\n"

    status, headers, body = _raw(server.port, head.encode() + b'{"points": 5, "x": "' + b"a" * 1000)

    assert (status, json.loads(body)) == (413, {"error": "Request body is larger than 1 MiB"})
    assert headers["connection"] == "close"


def _raw(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, value in (line.split(":", 1) for line in lines)}
    return int(status_line.split()[1]), headers, body


@pytest.mark.parametrize(
    ("request_bytes", "status", "error"),
    [
        (b"POST /v3/x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 12abc\r\n\r\n", 400, "Bad request"),
        (b"GET /v3/x HTTP/1.1\r\nHost: 127.0.0.1\r\nX-User-Agent: a\x01b\r\n\r\n", 400, "Bad request"),
        (b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 414, "URI too long"),
        (b"NOT A REQUEST\r\n\r\n", 400, "Bad request"),
    ],
    ids=["malformed content-length", "control byte in a header", "uri over 4 KiB", "garbage request line"],
)
def test_the_servers_own_refusals_are_json_in_the_contracts_shape(server, request_bytes, status, error):
    got_status, headers, body = _raw(server.port, request_bytes)

    assert got_status == status
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {"error": error}
