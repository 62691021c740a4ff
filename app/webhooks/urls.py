"""Webhook target safety (SSRF): which URLs may be saved, which addresses may be reached."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from app.errors import ValidationFailed

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH = 2048
# Addresses of one host tried in turn when connecting fails (all within one deadline).
MAX_ADDRESSES = 3
# Save time asks DNS too, but only to refuse early: a name that does not answer in time is
# accepted and checked at every send, where the answer decides.
SAVE_RESOLVE_SECONDS = 3.0
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})
REFUSED = "resolves to a private or reserved address"

# Refused by name although `is_global` already refuses most of them: the addresses an
# attacker aims at first, and the ranges Python's tables call global but nobody routes.
REFUSED_NETWORKS = tuple(
    ipaddress.ip_network(network)
    for network in (
        "100.64.0.0/10",  # shared address space (carrier NAT); Alibaba's metadata service
        "198.18.0.0/15",  # benchmarking
        "192.0.0.0/24",  # IETF protocol assignments (Oracle's legacy metadata, 192.0.0.192)
        "64:ff9b:1::/48",  # local-use NAT64: translates to addresses of this network
        "169.254.169.254/32",  # AWS, GCP, Azure, OpenStack metadata
        "169.254.170.2/32",  # AWS ECS task metadata
        "100.100.100.200/32",  # Alibaba Cloud metadata
        "fd00:ec2::254/128",  # AWS metadata over IPv6
    )
)
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # well-known prefix: the last 32 bits are IPv4
# A host that ends in a number is an IPv4 address to resolvers ("2130706433", "0x7f.1").
NUMERIC_LABEL = re.compile(r"(0x[0-9a-f]*|[0-9]+)", re.IGNORECASE)


class UnsafeTarget(Exception):
    """The URL points somewhere webhooks must not go; the message says why (no addresses)."""


def is_public_address(ip: IPAddress) -> bool:
    """THE rule for every webhook address, literal or resolved: globally routable only.

    IPv6 forms that stand for an IPv4 address (IPv4-mapped, NAT64) are judged as that
    address; tunnels (6to4, Teredo) only when the IPv4 ends they embed are public too.
    """
    if isinstance(ip, ipaddress.IPv6Address):
        translated = ip.ipv4_mapped or (
            ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) if ip in NAT64 else None
        )
        if translated is not None:
            return is_public_address(translated)
        tunnelled = [ip.sixtofour] if ip.sixtofour else list(ip.teredo or ())
        if not all(is_public_address(end) for end in tunnelled if end is not None):
            return False
        if ip.is_site_local:
            return False
    if any(ip in network for network in REFUSED_NETWORKS):
        return False
    # is_global alone lets multicast and (IPv6) reserved space through.
    return ip.is_global and not ip.is_multicast and not ip.is_reserved


def literal_address(host: str) -> IPAddress | None:
    """The address a URL's host spells, in any spelling a resolver reads as one
    (`127.1`, `2130706433`, `0x7f000001`, `017700000001`), or None for a name.

    Raises ValueError for a host that ends in a number but is no address.
    """
    host = host.removesuffix(".")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if not NUMERIC_LABEL.fullmatch(host.rsplit(".", 1)[-1]):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        raise ValueError("not a valid address") from None


def _refusal(message: str) -> ValidationFailed:
    return ValidationFailed(
        f"Webhook URL refused: {message}.",
        errors=[{"loc": ["body", "url"], "message": message, "type": "unsafe_url"}],
    )


def check_url_shape(url: str, *, require_https: bool, allow_private: bool) -> str:
    """Scheme, host and (for literal addresses) the address; raises ValidationFailed."""
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise _refusal("too long")
    try:
        parts = urlsplit(url)
        host, _port = parts.hostname, parts.port  # the port is checked when it is read
    except ValueError:
        raise _refusal("not a valid URL") from None
    allowed = {"https"} if require_https else {"https", "http"}
    if parts.scheme not in allowed:
        raise _refusal("use https" if require_https else "use http or https")
    if not host or parts.username or parts.password:
        raise _refusal("a host is required and credentials are not allowed in the URL")
    if allow_private:
        return url
    name = host.removesuffix(".")
    if name in LOOPBACK_NAMES or name.endswith(".localhost"):
        raise _refusal("loopback hosts are not allowed")
    try:
        address = literal_address(host)
    except ValueError:
        raise _refusal("the host is not a valid name or address") from None
    if address is not None and not is_public_address(address):
        raise _refusal("the host is a private or reserved address")
    return url


async def check_url(url: str, *, require_https: bool, allow_private: bool) -> str:
    """Save-time check: the shape, and every address the host resolves to now.

    Raises ValidationFailed; the message never says which address was found.
    """
    url = check_url_shape(url, require_https=require_https, allow_private=allow_private)
    parts = urlsplit(url)
    if allow_private or literal_address(parts.hostname or "") is not None:
        return url
    try:
        async with asyncio.timeout(SAVE_RESOLVE_SECONDS):
            addresses = await _resolve(parts.hostname or "", parts.port or 0)
    except (OSError, TimeoutError):
        return url  # not resolvable now: every send resolves and checks again
    if not all(is_public_address(ipaddress.ip_address(a)) for a in addresses):
        raise _refusal(REFUSED)
    return url


async def _resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to, first answer first (each once)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class Target:
    """One address to send a delivery to: the URL aimed at it, and the host it stands for."""

    url: str
    headers: dict[str, str]  # Host: the name the receiver expects; Connection: close
    extensions: dict[str, Any]  # sni_hostname: TLS's server name and certificate check
    address: str  # what the error messages must not show


async def resolve_targets(url: str, *, allow_private: bool) -> list[Target]:
    """Resolve the host once and aim the request at the addresses found, in order.

    Refuses (UnsafeTarget) when any address is not public, unless private targets are
    allowed. Checked at send time, so a DNS answer that changes after registration cannot
    reach the network inside; and the request connects to the addresses checked, not to
    the name again, so a name answering a public address to the check and a private one to
    the connect (DNS rebinding) cannot either. The Host header and TLS's server name stay
    the original host's, so virtual hosts and certificate checks work as before.
    """
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        raise UnsafeTarget("not a usable URL") from None
    host = parsed.raw_host.decode("ascii")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        addresses = await _resolve(host, port)
    except OSError as exc:
        raise UnsafeTarget(f"cannot resolve {host}: {exc.strerror or 'no answer'}") from None
    if not addresses:
        raise UnsafeTarget(f"cannot resolve {host}: no addresses")
    if not allow_private and not all(is_public_address(ipaddress.ip_address(a)) for a in addresses):
        raise UnsafeTarget(f"{host} {REFUSED}")
    extensions = {"sni_hostname": host} if parsed.scheme == "https" else {}
    # One connection per delivery (`Connection: close`, whatever the client's pool
    # settings): httpx pools connections by address, and a connection opened (and its
    # certificate checked) for one name must never carry another name's request to the
    # same address.
    headers = {"Host": parsed.netloc.decode("ascii"), "Connection": "close"}
    return [
        Target(str(parsed.copy_with(host=address)), headers, extensions, address)
        for address in addresses[:MAX_ADDRESSES]
    ]


def origin(url: str) -> str:
    """scheme://host[:port] of a URL, for logs and messages (paths and queries hold secrets)."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
        host = parts.hostname or ""
    except ValueError:
        return "(unparsable URL)"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}{port}"
