"""Deliveries connect to public addresses only (webhooks/egress.py), unless WEBHOOK_ALLOW_PRIVATE_URLS."""

from __future__ import annotations

import socket

import pytest
from django.db import transaction

from webhooks.egress import address_is_public
from webhooks.models import Delivery, DeliveryAttempt, WebhookEndpoint
from webhooks.services import event_emit, webhook_endpoint_create

URL = "/v3/infinity-mall/webhooks"


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata services
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.0",
        "224.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1%eth0",
        "fc00::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::127.0.0.1",  # IPv4-compatible
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "64:ff9b:1::a00:5",  # local-use NAT64
        "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
        "fec0::1",  # site-local
        "5f00::1",  # reserved
    ],
)
def test_addresses_inside_networks_are_not_public(address):
    assert not address_is_public(address)


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "93.184.216.34", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]
)
def test_routable_addresses_are_public(address):
    assert address_is_public(address)


def deliver(club, member, django_capture_on_commit_callbacks) -> DeliveryAttempt:
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        event_emit(club_id=club.id, type="points.earned", data={"balance": 1}, member_id=member.id)
    return DeliveryAttempt.objects.get()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_delivery_to_an_internal_address_is_refused_before_connecting(
    club, member, receiver, fast_webhooks, settings, django_capture_on_commit_callbacks, host
):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False  # the receiver fixture allows them; production does not
    url = receiver.url.replace("127.0.0.1", host)
    webhook_endpoint_create(club=club, url=url, events=["points.earned"])

    attempt = deliver(club, member, django_capture_on_commit_callbacks)

    assert receiver.requests == []  # nothing reached the listening receiver
    assert f"Refused: {host} resolves to a non-public address" in attempt.error
    if host == "localhost":  # what a name resolves to goes to the server's log only
        assert "127.0.0.1" not in attempt.error
    assert attempt.status_code is None
    assert Delivery.objects.get().state == Delivery.PENDING  # a failed attempt: retried, then given up


def test_the_same_receiver_gets_the_delivery_when_private_urls_are_allowed(
    club, member, receiver, fast_webhooks, django_capture_on_commit_callbacks
):
    webhook_endpoint_create(club=club, url=receiver.url.replace("127.0.0.1", "localhost"), events=["points.earned"])

    attempt = deliver(club, member, django_capture_on_commit_callbacks)

    assert attempt.status_code == 200 and attempt.error == ""
    assert len(receiver.requests) == 1


def test_a_name_with_one_internal_address_among_public_ones_is_refused_as_a_whole(
    club, member, fast_webhooks, settings, monkeypatch, django_capture_on_commit_callbacks
):
    """A name answering both a public and an internal address must not get a chance to use the internal one."""
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host != "hooks.example.net":
            return real_getaddrinfo(host, port, *args, **kwargs)
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", port)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)  # DNS is outside the project
    webhook_endpoint_create(club=club, url="http://hooks.example.net/x", events=["points.earned"])

    attempt = deliver(club, member, django_capture_on_commit_callbacks)

    assert "Refused: hooks.example.net resolves to a non-public address" in attempt.error
    assert "10.0.0.5" not in attempt.error


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hooks",
        "http://localhost/hooks",
        "https://api.localhost/hooks",
        "http://10.0.0.7/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hooks",
        "http://[::ffff:192.168.0.1]/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://2130706433/",  # 127.0.0.1 as one number
        "http://0x7f.1/",
        "http://0177.0.0.1/",
        "http://127.1/",
        "http://0/",
    ],
)
def test_the_api_refuses_internal_hosts_when_registering(api, settings, url):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    response = api.post(URL, {"url": url, "events": ["offer.used"]}, format="json")

    assert response.status_code == 422
    [leaf] = response.json()["details"]["url"]
    assert (leaf["error"], leaf["value"]) == ("invalid", url)
    assert leaf["options"] == {"format": "http or https URL of a public host"}
    assert not WebhookEndpoint.objects.exists()


def test_the_api_accepts_internal_hosts_when_allowed(api, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    response = api.post(URL, {"url": "http://10.0.0.7/hooks", "events": ["offer.used"]}, format="json")

    assert response.status_code == 201


def test_the_admin_refuses_internal_hosts(admin_client, club, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    response = admin_client.post(
        "/admin/webhooks/webhookendpoint/add/",
        {"club": club.id, "url": "http://169.254.169.254/latest", "events": '["offer.used"]', "active": "on"},
    )

    assert response.status_code == 200
    assert b"This host is inside the network" in response.content
    assert not WebhookEndpoint.objects.exists()


def test_a_delivery_through_the_guard_reaches_a_vetted_address(
    club, member, receiver, fast_webhooks, settings, monkeypatch, django_capture_on_commit_callbacks
):
    """The guarded connection itself delivers: resolution, the check, the socket to the checked address.
    Only the verdict on 127.0.0.1 is changed, so that the receiver of this machine counts as public."""
    from webhooks import egress

    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    verdict = egress.address_is_public
    monkeypatch.setattr(egress, "address_is_public", lambda address: address == "127.0.0.1" or verdict(address))
    webhook_endpoint_create(club=club, url=receiver.url, events=["points.earned"])

    attempt = deliver(club, member, django_capture_on_commit_callbacks)

    assert (attempt.status_code, attempt.error) == (200, "")
    assert len(receiver.requests) == 1


def test_proxy_variables_of_the_environment_are_ignored(
    club, member, receiver, fast_webhooks, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("NO_PROXY", "")
    webhook_endpoint_create(club=club, url=receiver.url, events=["points.earned"])

    attempt = deliver(club, member, django_capture_on_commit_callbacks)

    assert (attempt.status_code, attempt.error) == (200, "")


def test_deliveries_go_through_the_configured_proxy(
    club, member, receiver, fast_webhooks, settings, django_capture_on_commit_callbacks
):
    """With WEBHOOK_PROXY_URL the proxy connects (and decides): the name is never resolved here. The
    receiver stands in for the proxy and gets the request in absolute form."""
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    settings.WEBHOOK_PROXY_URL = receiver.url.removesuffix("/hooks")
    webhook_endpoint_create(club=club, url="http://hooks.invalid/x", events=["points.earned"])

    attempt = deliver(club, member, django_capture_on_commit_callbacks)

    assert (attempt.status_code, attempt.error) == (200, "")
    assert len(receiver.requests) == 1
