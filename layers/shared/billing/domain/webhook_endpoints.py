"""A project's outbound webhook endpoints: where its backend wants changes pushed, and the
rules that keep the service from being pointed at anything but the public internet (SSRF).

An endpoint URL must be ``https`` and name a host whose every address is a public unicast one:
private (RFC 1918, fc00::/7), loopback, link-local (169.254/16, fe80::/10, so the cloud
metadata services at 169.254.169.254 and fd00:ec2::254 too), shared CGNAT (100.64/10),
multicast, documentation, benchmarking and reserved ranges are refused, and so is an IPv6
address that embeds a refused IPv4 one (mapped, 6to4, Teredo, NAT64). The host is checked as
written (a literal address) and after DNS resolution, when the endpoint is added and again
before every delivery (a name may be pointed elsewhere later); a delivery then connects to
the address it checked, never resolving twice. Only the local stack allows ``http`` to
``localhost``, ``127.0.0.1`` or ``[::1]`` (and loopback addresses only).

Each endpoint has its own signing secrets (Standard Webhooks: ``whsec_`` + base64 of 32
random bytes). A rotation puts a new secret first and keeps the old ones until they expire, so
a delivery carries one signature per secret and a receiver may switch at its own pace.
"""

from __future__ import annotations

import base64
import ipaddress
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from urllib.parse import SplitResult, urlsplit

from billing.errors import ValidationError

URL_FIELD = "url"
MAX_URL_LENGTH = 2048
MAX_ENDPOINTS_PER_PROJECT = 10
SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix of every secret, not a secret
SECRET_BYTES = 32  # Standard Webhooks: 24 to 64 random bytes
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


@dataclass(frozen=True)
class EndpointUrl:
    """A URL that passed the rules as written; ``host`` is lowercase, IPv6 without brackets."""

    url: str
    scheme: str
    host: str
    port: int
    target: str  # path and query, as sent in the request line

    @property
    def literal_address(self) -> IpAddress | None:
        try:
            return ipaddress.ip_address(self.host)
        except ValueError:
            return None


@dataclass(frozen=True)
class EndpointSecret:
    value: str
    created_at: datetime
    expires_at: datetime | None = None  # set when a newer secret replaced it

    def valid_at(self, moment: datetime) -> bool:
        return self.expires_at is None or moment < self.expires_at


@dataclass(frozen=True)
class WebhookEndpoint:
    project_id: str
    endpoint_id: str
    url: str
    secrets: tuple[EndpointSecret, ...]  # newest first
    created_at: datetime
    description: str = ""

    def signing_secrets(self, moment: datetime) -> list[str]:
        """The secrets a delivery at ``moment`` is signed with: every one not expired."""
        return [secret.value for secret in self.secrets if secret.valid_at(moment)]


def _refused(message: str) -> ValidationError:
    return ValidationError(URL_FIELD, message)


def parse_endpoint_url(text: str, *, allow_loopback: bool) -> EndpointUrl:
    """The URL, if it may be an endpoint as written; ValidationError naming ``url`` saying
    why not. Names are resolved and checked by :func:`check_addresses`."""
    parts = _url_parts(text)
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise _refused("must name a host")
    port = _port(parts)
    if parts.scheme == "http" and not (allow_loopback and host in LOOPBACK_HOSTS):
        raise _refused("must be an https:// URL (http:// only to localhost, on the local stack)")
    endpoint = EndpointUrl(
        url=text,
        scheme=parts.scheme,
        host=host,
        port=port,
        target=(parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
    )
    literal = endpoint.literal_address
    if literal is not None:
        problem = address_problem(literal, allow_loopback=allow_loopback)
        if problem:
            raise _refused(f"{host} is {problem}: only public addresses are allowed")
    elif host == "localhost" and not allow_loopback:
        raise _refused("localhost is a loopback address: only public addresses are allowed")
    return endpoint


def _url_parts(text: str) -> SplitResult:
    """The URL's parts, once its form is one an endpoint may have."""
    if len(text) > MAX_URL_LENGTH:
        raise _refused(f"must be at most {MAX_URL_LENGTH} characters")
    if any(ord(char) <= 0x20 or ord(char) == 0x7F for char in text):  # noqa: PLR2004 - C0, space
        raise _refused("must not contain spaces or control characters")
    parts = urlsplit(text)
    if parts.scheme not in ("https", "http"):
        raise _refused("must be an https:// URL")
    if parts.username is not None or parts.password is not None:
        raise _refused("must not carry a user name or password")
    if parts.fragment:
        raise _refused("must not have a #fragment")
    return parts


def _port(parts: SplitResult) -> int:
    try:
        port = parts.port
    except ValueError:
        raise _refused("has an invalid port (1-65535)") from None
    if port == 0:
        raise _refused("has an invalid port (1-65535)")
    return port or (443 if parts.scheme == "https" else 80)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, Teredo's client, NAT64)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_problem(address: IpAddress, *, allow_loopback: bool) -> str | None:
    """What kind of non-public address this is (None: a public unicast one). Loopback is
    fine only with ``allow_loopback`` (the local stack)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            problem = address_problem(embedded, allow_loopback=allow_loopback)
            if problem:
                return f"an IPv6 address embedding {embedded}, {problem}"
    kinds = (
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address (cloud metadata lives there)"),
        (address.is_multicast, "a multicast address"),
        (address.is_unspecified, "an unspecified address"),
        (address.is_reserved, "a reserved address"),
        (address.is_private, "a private address"),
        (not address.is_global, "not a public address"),
    )
    for found, kind in kinds:
        if found:
            return None if kind == "a loopback address" and allow_loopback else kind
    return None


def check_addresses(
    endpoint: EndpointUrl, addresses: list[str], *, allow_loopback: bool
) -> IpAddress:
    """The address to connect to: the first of what the host resolved to, once every one of
    them is allowed (a name resolving to one private address among public ones is refused:
    which one a client picks is not ours to know). ValidationError naming ``url``."""
    if not addresses:
        raise _refused(f"{endpoint.host} does not resolve to any address")
    parsed = []
    for text in addresses:
        address = ipaddress.ip_address(text.split("%", 1)[0])  # no IPv6 zone id
        problem = address_problem(address, allow_loopback=allow_loopback)
        if problem:
            raise _refused(
                f"{endpoint.host} resolves to {address}, {problem}: only public addresses "
                "are allowed"
            )
        parsed.append(address)
    if endpoint.scheme == "http" and not all(a.is_loopback for a in parsed):
        raise _refused("must be an https:// URL (http:// only to localhost, on the local stack)")
    return parsed[0]


def new_secret(random_bytes: bytes) -> str:
    """A Standard Webhooks secret from ``SECRET_BYTES`` random bytes: ``whsec_<base64>``."""
    if len(random_bytes) != SECRET_BYTES:
        raise ValueError(f"a secret takes {SECRET_BYTES} random bytes")
    return SECRET_PREFIX + base64.b64encode(random_bytes).decode()


def with_new_secret(
    endpoint: WebhookEndpoint, secret: str, now: datetime, overlap: timedelta
) -> WebhookEndpoint:
    """The endpoint signing with ``secret`` first; the secrets in use keep signing until
    ``now + overlap`` (those already ending sooner keep their end), expired ones go."""
    ends = now + overlap
    kept = tuple(
        replace(s, expires_at=min(s.expires_at, ends) if s.expires_at else ends)
        for s in endpoint.secrets
        if s.valid_at(now)
    )
    return replace(endpoint, secrets=(EndpointSecret(secret, now), *kept))
