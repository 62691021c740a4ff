"""Real HTTP receivers for the webhook tests, built on docs/examples/webhook_receiver.py."""

from __future__ import annotations

import importlib.util
import io
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "webhook_receiver.py"


def _load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("webhook_receiver_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


example = _load_example()


@dataclass
class Request:
    """One POST as the receiver saw it, and what it answered."""

    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data


@dataclass
class Behaviour:
    """What a test receiver does; shared with its handler threads (guarded by `lock`)."""

    fail_times: int = 0  # answer 500 to this many requests first
    redirect_to: str | None = None  # answer 302 with this Location
    hold_first: bool = False  # hold the first request until `release` is set
    hold_seconds: float = 0.0  # keep every request in flight this long
    trickle: bool = False  # answer one byte a second (until released or cut off)
    requests: list[Request] = field(default_factory=list)
    in_flight: set[str] = field(default_factory=set)
    overlaps: list[str] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def statuses(self) -> list[int]:
        with self.lock:
            return [r.status for r in self.requests]


class ControlledReceiver(example.Receiver):  # type: ignore[name-defined,misc]
    """The documented receiver, plus failure, redirect and hold switches and a request log."""

    behaviour: Behaviour
    received: bytes = b""  # the body of the request being answered

    def do_POST(self) -> None:
        b = self.behaviour
        event_id = self.headers.get("Backoffice-Event-Id", "")
        with b.lock:
            if event_id in b.in_flight:
                b.overlaps.append(event_id)
            b.in_flight.add(event_id)
            first = not b.arrived.is_set()
            b.arrived.set()
        try:
            if b.trickle:
                self._trickle(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                return
            if b.hold_first and first:
                b.release.wait(timeout=30)
                self._record(self.rfile.read(int(self.headers.get("Content-Length", "0"))), 0)
                return
            if b.hold_seconds:
                time.sleep(b.hold_seconds)
            with b.lock:
                failing = b.fail_times > 0
                b.fail_times -= 1 if failing else 0
            if failing or b.redirect_to:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status = 500 if failing else 302
                self._record(body, status)
                if status == 302:
                    self.send_response(302)
                    self.send_header("Location", str(b.redirect_to))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                else:
                    super()._answer(500, b"try again later")
                return
            # The example reads the body itself: hand it a copy, and keep the bytes as sent.
            self.received = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.rfile = io.BytesIO(self.received)
            super().do_POST()
        finally:
            with b.lock:
                b.in_flight.discard(event_id)

    def _trickle(self, body: bytes) -> None:
        """A 200 that takes a second per byte: each read gets a byte well within any read
        timeout, so only a deadline on the whole exchange ends it."""
        self._record(body, 200)
        answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
        for byte in answer:
            if self.behaviour.release.wait(1.0):
                return
            try:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
            except OSError:
                return  # the client hung up
        self.close_connection = True

    def _answer(self, status: int, text: bytes) -> None:
        # The example answers through here after reading and verifying the body itself.
        self._record(self.received, status)
        super()._answer(status, text)

    def _record(self, body: bytes, status: int) -> None:
        with self.behaviour.lock:
            self.behaviour.requests.append(Request(dict(self.headers.items()), body, status))


@dataclass
class RunningReceiver:
    """A running receiver: its URL, its behaviour, and the events it verified and kept."""

    url: str
    behaviour: Behaviour
    handler: type[ControlledReceiver]

    @property
    def events(self) -> list[dict[str, Any]]:
        return list(self.handler.events)

    def set_secret(self, secret: str) -> None:
        self.handler.secret = secret


@contextmanager
def running_receiver(
    behaviour: Behaviour | None = None, secret: str = ""
) -> Iterator[RunningReceiver]:
    """Serve a fresh receiver class on a free localhost port in a thread."""
    behaviour = behaviour or Behaviour()
    handler = type(
        "Handler",
        (ControlledReceiver,),
        {"behaviour": behaviour, "secret": secret, "seen": set(), "events": []},
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield RunningReceiver(
            f"http://127.0.0.1:{server.server_address[1]}/hook", behaviour, handler
        )
    finally:
        behaviour.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
