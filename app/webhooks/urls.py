"""Webhook URL safety (SSRF): https in production, no private, loopback or link-local targets."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from app.errors import ValidationFailed

MAX_URL_LENGTH = 2048


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


async def check_resolved(url: str, *, allow_private: bool) -> None:
    """Resolve the host now and refuse if any address is private (checked at send time,
    so a DNS answer that changes after registration cannot reach the network inside)."""
    if allow_private:
        return
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise UnsafeTarget(f"cannot resolve {host}: {exc.strerror or exc}") from None
    for info in infos:
        address = str(info[4][0])
        if _forbidden_address(address):
            raise UnsafeTarget(f"{host} resolves to a private address ({address})")
