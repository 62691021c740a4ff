"""Webhook URL safety (SSRF): https in production, no private, loopback or link-local targets."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from app.errors import ValidationFailed

MAX_URL_LENGTH = 2048
# Addresses of one host tried in turn when connecting fails (each within the send timeout).
MAX_ADDRESSES = 3


class UnsafeTarget(Exception):
    """The URL points somewhere webhooks must not go; the message says why."""


def _forbidden_address(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


def check_url_shape(url: str, *, require_https: bool, allow_private: bool) -> str:
    """Scheme, host and (for literal IPs) the address; raises ValidationFailed."""

    def refuse(message: str) -> ValidationFailed:
        return ValidationFailed(
            f"Webhook URL refused: {message}.",
            errors=[{"loc": ["body", "url"], "message": message, "type": "unsafe_url"}],
        )

    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise refuse("too long")
    parts = urlsplit(url)
    allowed = {"https"} if require_https else {"https", "http"}
    if parts.scheme not in allowed:
        raise refuse("use https" if require_https else "use http or https")
    if not parts.hostname or parts.username or parts.password:
        raise refuse("a host is required and credentials are not allowed in the URL")
    host = parts.hostname
    if not allow_private:
        if host in {"localhost", "localhost.localdomain"} or host.endswith(".localhost"):
            raise refuse("loopback hosts are not allowed")
        try:
            if _forbidden_address(host):
                raise refuse("private, loopback and link-local addresses are not allowed")
        except ValueError:
            pass  # a name: its addresses are checked when it is resolved for delivery
    return url


@dataclass(frozen=True)
class Target:
    """One address to send a delivery to: the URL aimed at it, and the host it stands for."""

    url: str
    headers: dict[str, str]  # Host: the name the receiver expects; Connection: close
    extensions: dict[str, Any]  # sni_hostname: TLS's server name and certificate check


async def resolve_targets(url: str, *, allow_private: bool) -> list[Target]:
    """Resolve the host once and aim the request at the addresses found, in order.

    Refuses (UnsafeTarget) when any address is private, unless private targets are
    allowed. Checked at send time, so a DNS answer that changes after registration cannot
    reach the network inside; and the request connects to the addresses checked, not to
    the name again, so a name answering a public address to the check and a private one to
    the connect (DNS rebinding) cannot either. The Host header and TLS's server name stay
    the original host's, so virtual hosts and certificate checks work as before.
    """
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise UnsafeTarget(f"not a usable URL: {exc}") from None
    host = parsed.raw_host.decode("ascii")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise UnsafeTarget(f"cannot resolve {host}: {exc.strerror or exc}") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise UnsafeTarget(f"cannot resolve {host}: no addresses")
    if not allow_private:
        for address in addresses:
            if _forbidden_address(address):
                raise UnsafeTarget(f"{host} resolves to a private address ({address})")
    extensions = {"sni_hostname": host} if parsed.scheme == "https" else {}
    # One connection per delivery (`Connection: close`, whatever the client's pool
    # settings): httpx pools connections by address, and a connection opened (and its
    # certificate checked) for one name must never carry another name's request to the
    # same address.
    headers = {"Host": parsed.netloc.decode("ascii"), "Connection": "close"}
    return [
        Target(str(parsed.copy_with(host=address)), headers, extensions)
        for address in addresses[:MAX_ADDRESSES]
    ]
