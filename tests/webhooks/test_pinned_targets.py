"""A delivery connects to the addresses its host resolved to when checked, not to whatever the
name answers next (DNS rebinding), while the receiver still sees its own name: the Host
header, and over TLS the server name and the certificate check."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import trustme

from app.webhooks.delivery import send
from app.webhooks.urls import resolve_targets
from tests.conftest import test_settings as settings_for
from tests.webhooks.helpers import PUBLIC_ADDRESS, job_for


@dataclass
class Seen:
    """What a test server saw: Host headers and TLS server names."""

    hosts: list[str] = field(default_factory=list)
    server_names: list[str | None] = field(default_factory=list)


@contextmanager
def serving(tls: ssl.SSLContext | None = None) -> Iterator[tuple[int, Seen]]:
    """A localhost server answering 200 to every POST, over TLS when given a context."""
    seen = Seen()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keeps connections open unless asked to close

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            seen.hosts.append(self.headers.get("Host", ""))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:

        def remember(_socket: Any, server_name: str | None, _context: Any) -> None:
            seen.server_names.append(server_name)

        tls.sni_callback = remember
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server.server_address[1], seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def resolver(*answers: str) -> tuple[Any, list[str]]:
    """A getaddrinfo answering each lookup with the next address (the last one repeats)."""
    asked: list[str] = []

    async def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        answer = answers[min(len(asked), len(answers) - 1)]
        asked.append(str(host))
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answer, port))]

    return getaddrinfo, asked


async def test_a_name_rebound_to_loopback_after_the_check_is_not_reached(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The check sees a public address; a second lookup would answer loopback. The request
    # must be aimed at the address checked, never at the name again. The client's transport
    # only records what it was asked to reach: nothing connects to the public address.
    settings = settings_for("sqlite+aiosqlite://", webhooks_allow_private=False)
    sent: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200)

    getaddrinfo, asked = resolver(PUBLIC_ADDRESS, "127.0.0.1")
    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", getaddrinfo)
    async with httpx.AsyncClient(transport=httpx.MockTransport(record)) as client:
        attempt = await send(client, job_for("http://rebind.example:8080/hook"), settings)
    monkeypatch.undo()
    assert asked == ["rebind.example"], "the name was resolved again after the check"
    assert [(r.url.host, r.url.port, r.headers["host"]) for r in sent] == [
        (PUBLIC_ADDRESS, 8080, "rebind.example:8080")
    ]
    assert attempt.status_code == 200, attempt


async def test_https_to_a_pinned_address_keeps_the_hosts_name_and_certificate_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("hooks.example").configure_cert(server_context)
    client_context = ssl.create_default_context()
    authority.configure_trust(client_context)
    # Loopback is where the test server is; the address is still pinned.
    settings = settings_for("sqlite+aiosqlite://", webhooks_allow_private=True)
    with serving(server_context) as (port, seen):
        getaddrinfo, asked = resolver("127.0.0.1")
        monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", getaddrinfo)
        async with httpx.AsyncClient(verify=client_context) as client:
            trusted = await send(client, job_for(f"https://hooks.example:{port}/hook"), settings)
            # Served with hooks.example's certificate, a name it is not for is refused, even
            # right after a connection to the same address was opened for hooks.example.
            wrong = await send(client, job_for(f"https://other.example:{port}/hook"), settings)
        monkeypatch.undo()
    assert trusted.status_code == 200, trusted
    assert seen.hosts == [f"hooks.example:{port}"]
    assert seen.server_names[0] == "hooks.example"
    assert wrong.status_code is None and "CERTIFICATE_VERIFY_FAILED" in wrong.error, wrong
    assert asked == ["hooks.example", "other.example"]


async def test_the_next_address_is_tried_when_one_refuses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = settings_for("sqlite+aiosqlite://", webhooks_allow_private=True)
    with serving() as (port, seen):

        async def three_addresses(host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
            # Nothing listens on 127.0.0.2 or .3 (refused at once); the server is on .1.
            return [
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))
                for address in ("127.0.0.2", "127.0.0.1", "127.0.0.3")
            ]

        monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", three_addresses)
        async with httpx.AsyncClient() as client:
            attempt = await send(client, job_for(f"http://three.example:{port}/hook"), settings)
        monkeypatch.undo()
    assert attempt.status_code == 200, attempt
    assert seen.hosts == [f"three.example:{port}"]


async def test_targets_are_the_checked_addresses_with_the_original_host() -> None:
    [target] = await resolve_targets("https://127.0.0.1:8443/h?x=1", allow_private=True)
    assert target.url == "https://127.0.0.1:8443/h?x=1"
    assert target.headers == {"Host": "127.0.0.1:8443", "Connection": "close"}
    assert target.extensions == {"sni_hostname": "127.0.0.1"}
