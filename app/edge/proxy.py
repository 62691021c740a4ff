"""Client address and scheme behind trusted proxies (SPEC §10), as pure ASGI middleware.

The client IP is the rightmost X-Forwarded-For entry that a trusted proxy added: walking
from the right, trusted proxies are skipped and the first other address is the client.
With FORWARDED_ALLOW_IPS="*" (Heroku: only the router can reach the dyno) the rightmost
entry is taken — never the leftmost, which the client writes itself (uvicorn's own
middleware returns the leftmost when every host is trusted, so it is not used).
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from starlette.types import ASGIApp, Receive, Scope, Send

from app.edge.asgi_parts import header


def _valid_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


class TrustedProxies:
    """FORWARDED_ALLOW_IPS: addresses, networks (CIDR) or other literals, or `*` for all."""

    def __init__(self, spec: str) -> None:
        entries = [entry.strip() for entry in spec.split(",") if entry.strip()]
        self.always_trust = "*" in entries
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        self.literals: set[str] = set()
        for entry in entries:
            try:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                self.literals.add(entry)  # e.g. a unix socket's peer name

    def __contains__(self, host: str) -> bool:
        if self.always_trust:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return host in self.literals
        return any(address in network for network in self.networks)


class TrustedProxyMiddleware:
    """Rewrites scope["client"] and scope["scheme"] from headers of trusted proxies only."""

    def __init__(self, app: ASGIApp, trusted_hosts: str) -> None:
        self.app = app
        self.trusted = TrustedProxies(trusted_hosts)
        # The membership test parses the address and walks the networks on every call
        # (~tens of µs); the peers of a deployment are a handful of proxy addresses.
        self.is_trusted = lru_cache(maxsize=1024)(self.trusted.__contains__)

    def client_from(self, forwarded_for: str) -> str | None:
        entries = [entry.strip() for entry in forwarded_for.split(",") if entry.strip()]
        if not entries:
            return None
        if self.trusted.always_trust:
            candidate = entries[-1]
            return candidate if _valid_ip(candidate) else None
        for entry in reversed(entries):
            if not self.is_trusted(entry):
                return entry if _valid_ip(entry) else None
        # Every hop was a trusted proxy: the leftmost one is the closest we know.
        return entries[0] if _valid_ip(entries[0]) else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            peer = scope.get("client")
            if peer and (self.trusted.always_trust or self.is_trusted(peer[0])):
                forwarded_for = header(scope, b"x-forwarded-for")
                if forwarded_for:
                    client = self.client_from(forwarded_for)
                    if client is not None:
                        scope["client"] = (client, 0)
                proto = header(scope, b"x-forwarded-proto")
                if proto:
                    scheme = proto.split(",")[-1].strip().lower()
                    if scheme in {"http", "https", "ws", "wss"}:
                        if scope["type"] == "websocket":
                            scheme = "wss" if scheme in {"https", "wss"} else "ws"
                        scope["scheme"] = scheme
        await self.app(scope, receive, send)
