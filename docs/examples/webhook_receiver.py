"""A complete Backoffice webhook receiver using only the standard library.

Run it:   WEBHOOK_SECRET=whsec_... python docs/examples/webhook_receiver.py 8080
It verifies every signature, refuses stale timestamps, de-duplicates by event id and
prints each new event. The test suite drives this very file (tests/webhooks/).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOLERANCE_SECONDS = 300  # refuse replays of old deliveries


def signature_is_valid(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    """`Backoffice-Signature` is `v1=` + hex HMAC-SHA256 of `timestamp.body`."""
    expected = (
        "v1="
        + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    )
    return hmac.compare_digest(expected, signature)


def timestamp_is_fresh(timestamp: str, now: float | None = None) -> bool:
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    return abs((now if now is not None else time.time()) - sent) <= TOLERANCE_SECONDS


class Receiver(BaseHTTPRequestHandler):
    """Answers 2xx only after the event is verified and recorded (so Backoffice retries)."""

    secret: str = ""
    seen: set[str] = set()  # use a database table with a unique key in production
    events: list[dict[str, object]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        timestamp = self.headers.get("Backoffice-Timestamp", "")
        signature = self.headers.get("Backoffice-Signature", "")
        event_id = self.headers.get("Backoffice-Event-Id", "")
        if not timestamp_is_fresh(timestamp) or not signature_is_valid(
            self.secret, timestamp, body, signature
        ):
            self._answer(400, b"bad signature")
            return
        if event_id in self.seen:
            self._answer(200, b"duplicate ignored")  # at-least-once delivery: de-duplicate
            return
        event = json.loads(body)
        self.seen.add(event_id)
        self.events.append(event)
        print(f"{event['type']} {event['id']}: {json.dumps(event['data'])[:200]}", flush=True)
        self._answer(200, b"ok")

    def _answer(self, status: int, text: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text)

    def log_message(self, format: str, *args: object) -> None:  # keep the output to events
        pass


def main() -> None:
    Receiver.secret = os.environ["WEBHOOK_SECRET"]
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8080
    server = ThreadingHTTPServer(("127.0.0.1", port), Receiver)
    print(f"listening on http://127.0.0.1:{port}/", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
