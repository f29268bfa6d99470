"""Outbound HTTP of webhook deliveries, refusing addresses inside the deployment (SSRF).

Whoever may register an endpoint chooses where our workers send requests. Unless
`WEBHOOK_ALLOW_PRIVATE_URLS` is on, a delivery only connects to public addresses: the host is resolved
when the connection is made, every address it resolves to must be public (a name that also resolves to
10.0.0.5 is refused as a whole), and the socket is opened to one of those checked addresses, so a DNS
answer that changes between a check and the connection (rebinding) cannot slip an internal address in.
TLS still verifies the certificate against the host name. Refused connections are failed attempts like
any other (retried with backoff, then given up), with the reason in the attempt's error.

Through an egress proxy (`WEBHOOK_PROXY_URL`) the proxy makes the connection and is the guard: requests
then uses its proxy pools, not these. The environment's proxy variables are ignored.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from urllib.parse import urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import create_connection

logger = logging.getLogger("webhooks")

LOCAL_NAMES = ("localhost", "localhost.localdomain")


# IPv6 prefixes whose last 32 bits are an IPv4 address a packet may end up at: IPv4-compatible (deprecated),
# IPv4-mapped, SIIT-translated and the well-known NAT64 prefix. The IPv4 address decides.
_EMBEDDING_IPV4 = tuple(
    ipaddress.ip_network(prefix) for prefix in ("::/96", "::ffff:0:0/96", "::ffff:0:0:0/96", "64:ff9b::/96")
)


def address_is_public(address: str) -> bool:
    """A globally routable unicast address: not private, loopback, link-local (cloud metadata services),
    shared (100.64/10), reserved, site-local, unspecified or multicast. An IPv6 address carrying an IPv4
    one (mapped, compatible, NAT64, 6to4) is judged by that IPv4 address; local-use NAT64 (64:ff9b:1::/48)
    and Teredo are refused, as their IPv4 side cannot be vetted."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone index ("fe80::1%eth0") is not the address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in ipaddress.ip_network("64:ff9b:1::/48") or ip.teredo is not None:
            return False
        if ip.sixtofour is not None:
            ip = ip.sixtofour
        elif any(ip in prefix for prefix in _EMBEDDING_IPV4):
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return False
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified)


def _literal_address(host: str) -> str | None:
    """The address a URL's host names without DNS, in any spelling the resolver accepts for IPv4
    (`2130706433`, `0x7f.1`, `0177.0.0.1`, `127.1`), or None for a name."""
    try:
        return str(ipaddress.ip_address(host.split("%", 1)[0]))
    except ValueError:
        pass
    try:
        return socket.inet_ntoa(socket.inet_aton(host))
    except OSError:
        return None


def url_host_refused(url: str) -> bool:
    """What can be told from the URL alone, without DNS: a local name or a non-public IP literal. Used to
    refuse such URLs when they are registered; names are only resolved when a delivery connects."""
    if settings.WEBHOOK_ALLOW_PRIVATE_URLS:
        return False
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if host in LOCAL_NAMES or host.endswith(".localhost"):
        return True
    address = _literal_address(host)
    return address is not None and not address_is_public(address)


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
            # The addresses go to the server's log only: the delivery log is read through the API by whoever
            # registered the URL, and must not answer what internal names resolve to.
            logger.warning("webhook delivery refused: %s resolves to %s", self.host, ", ".join(refused))
            raise NewConnectionError(
                self,
                f"Refused: {self.host} resolves to a non-public address "
                "(WEBHOOK_ALLOW_PRIVATE_URLS allows deliveries inside the network)",
            )
        error: OSError | None = None
        for address in addresses:  # as urllib3 does: each address in turn, the last error if none answers
            try:
                return create_connection(
                    (address, self.port),
                    self.timeout,
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except OSError as exc:
                error = exc
        if isinstance(error, TimeoutError):
            raise ConnectTimeoutError(
                self, f"Connection to {self.host} timed out. (connect timeout={self.timeout})"
            ) from error
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
    """A session for one delivery: public addresses only unless WEBHOOK_ALLOW_PRIVATE_URLS; through
    WEBHOOK_PROXY_URL when set. Nothing comes from the environment (`trust_env` off): no proxy variable
    silently replaces the guard, and no ~/.netrc credentials go to a host a client registered."""
    session = requests.Session()
    session.trust_env = False
    if settings.WEBHOOK_PROXY_URL:
        session.proxies = {"http": settings.WEBHOOK_PROXY_URL, "https": settings.WEBHOOK_PROXY_URL}
    if not settings.WEBHOOK_ALLOW_PRIVATE_URLS:
        adapter = PublicOnlyAdapter()
        session.mount("http://", adapter)
        session.mount("https://", adapter)
    return session
