"""A loopback webhook receiver: checks every signature, records every event id it is sent."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Arrival:
    """One POST as it reached the receiver."""

    event_id: str
    event_type: str
    received_at: float  # time.time(), comparable with the event's created_at
    signature_valid: bool
    header_matches_body: bool


@dataclass
class Inbox:
    """What arrived, shared between the server's threads and the test."""

    secret: str = ""
    arrivals: list[Arrival] = field(default_factory=list)
    malformed: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def first_arrivals(self) -> dict[str, Arrival]:
        """Each event id's first arrival (later ones are at-least-once duplicates)."""
        with self.lock:
            first: dict[str, Arrival] = {}
            for arrival in self.arrivals:
                first.setdefault(arrival.event_id, arrival)
            return first

    def count(self) -> int:
        with self.lock:
            return len(self.arrivals)


def signature_of(secret: str, timestamp: str, body: bytes) -> str:
    """docs/webhooks.md: `v1=` + hex HMAC-SHA256 of `<timestamp>.<raw body>`."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def _handler(inbox: Inbox) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            timestamp = self.headers.get("Backoffice-Timestamp", "")
            signature = self.headers.get("Backoffice-Signature", "")
            header_id = self.headers.get("Backoffice-Event-Id", "")
            try:
                event = json.loads(body)
                event_id, event_type = str(event["id"]), str(event["type"])
            except (ValueError, KeyError, TypeError):
                with inbox.lock:
                    inbox.malformed.append(body[:200].decode(errors="replace"))
                self._answer(400)
                return
            valid = hmac.compare_digest(signature_of(inbox.secret, timestamp, body), signature)
            with inbox.lock:
                inbox.arrivals.append(
                    Arrival(event_id, event_type, time.time(), valid, header_id == event_id)
                )
            # Recorded either way: a bad signature is the soak's finding, not a reason to
            # make the worker retry for ever.
            self._answer(204)

        def _answer(self, status: int) -> None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass  # thousands of lines of noise

    return Handler


@contextmanager
def running_receiver() -> Iterator[tuple[str, Inbox]]:
    """The receiver's URL and inbox, served from a background thread while the block runs."""
    inbox = Inbox()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(inbox))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks", inbox
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
