"""Outbound HTTP of webhook deliveries, refusing addresses inside the deployment (SSRF).

Whoever may register an endpoint chooses where our workers send requests. Unless
`WEBHOOK_ALLOW_PRIVATE_URLS` is on, a delivery only connects to public addresses: the host is resolved
when the connection is made, every address it resolves to must be public (a name that also resolves to
10.0.0.5 is refused as a whole), and the socket is opened to one of those checked addresses, so a DNS
answer that changes between a check and the connection (rebinding) cannot slip an internal address in.
TLS still verifies the certificate against the host name. Refused connections are failed attempts like
any other (retried with backoff, then given up), with the reason in the attempt's error.

Through an egress proxy (`HTTPS_PROXY` / `HTTP_PROXY` in the worker's environment) the proxy makes the
connection and is the guard: requests then uses its proxy pools, not these.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import create_connection

LOCAL_NAMES = ("localhost", "localhost.localdomain")


def address_is_public(address: str) -> bool:
    """A globally routable unicast address: not private, loopback, link-local (cloud metadata services),
    shared (100.64/10), reserved, unspecified or multicast. IPv4-mapped IPv6 addresses count as their IPv4."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone index ("fe80::1%eth0") is not the address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def url_host_refused(url: str) -> bool:
    """What can be told from the URL alone, without DNS: a local name or a non-public IP literal. Used to
    refuse such URLs when they are registered; names are only resolved when a delivery connects."""
    if settings.WEBHOOK_ALLOW_PRIVATE_URLS:
        return False
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if host in LOCAL_NAMES or host.endswith(".localhost"):
        return True
    try:
        return not address_is_public(host)
    except ValueError:  # a name, not an address
        return False


class _PublicOnlyConnection:
    """`_new_conn` of urllib3's connections, connecting to checked public addresses only."""

    host: str
    port: int
    timeout: float | None
    source_address: tuple[str, int] | None
    socket_options: list | None

    def _new_conn(self) -> socket.socket:
        try:
            infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc
        addresses = list(dict.fromkeys(info[4][0] for info in infos))
        refused = [address for address in addresses if not address_is_public(address)]
        if refused or not addresses:
            raise NewConnectionError(
                self,
                f"Refused: {self.host} resolves to a non-public address ({', '.join(refused)}); "
                "set WEBHOOK_ALLOW_PRIVATE_URLS to deliver inside the network",
            )
        error: OSError | None = None
        for address in addresses:
            try:
                return create_connection(
                    (address, self.port),
                    self.timeout,
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except TimeoutError as exc:
                raise ConnectTimeoutError(
                    self, f"Connection to {self.host} timed out. (connect timeout={self.timeout})"
                ) from exc
            except OSError as exc:
                error = exc
        raise NewConnectionError(self, f"Failed to establish a new connection: {error}") from error


class PublicHTTPConnection(_PublicOnlyConnection, HTTPConnection):
    pass


class PublicHTTPSConnection(_PublicOnlyConnection, HTTPSConnection):
    pass


class PublicHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = PublicHTTPConnection


class PublicHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = PublicHTTPSConnection


class PublicOnlyAdapter(HTTPAdapter):
    """requests' adapter whose direct connections go to public addresses only."""

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": PublicHTTPConnectionPool,
            "https": PublicHTTPSConnectionPool,
        }


def session() -> requests.Session:
    """A session for one delivery: public addresses only unless WEBHOOK_ALLOW_PRIVATE_URLS."""
    session = requests.Session()
    if not settings.WEBHOOK_ALLOW_PRIVATE_URLS:
        adapter = PublicOnlyAdapter()
        session.mount("http://", adapter)
        session.mount("https://", adapter)
    return session
