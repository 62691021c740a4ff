"""Standard Webhooks (issue 18, SPEC §12): real deliveries verified by the `standardwebhooks`
library itself, `Backoffice-Signature` unchanged beside them, the secret's form, and what
endpoints holding a secret of the old form get."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from standardwebhooks import Webhook, WebhookVerificationError

from app.auth.principal import Principal
from app.infra.db import transaction
from app.models import WebhookEndpoint
from app.models.base import utcnow
from app.webhooks import delivery, service
from app.webhooks.signing import (
    KEY_BYTES,
    is_standard_secret,
    new_secret,
    sign_standard,
    signature_headers,
    standard_webhooks_key,
)
from tests.webhooks.conftest import CommittedDatabase
from tests.webhooks.helpers import (
    add_endpoint,
    emit_committed,
    make_due,
    only_delivery,
    run_once,
    worker_settings,
)
from tests.webhooks.receivers import Behaviour, Request, running_receiver

# Secrets as the first releases issued them (`whsec_` + secrets.token_urlsafe(32)), one of
# each kind a base64 reader meets: the count of base64-alphabet characters after `whsec_`
# (`-` and `_` are not in it) modulo 4 decides what a lenient decoder does with them.
OLD_READ_BY_EVERY_PYTHON_LIBRARY = "whsec__zjj1O7blhAw-kqwdKPJrzU04IG4_heg2nEAltNhdp8"  # 40
OLD_READ_WITH_ADDED_PADDING = "whsec_MSNlkYSW6nlq7pPSmuZDTpMLGbCF2SV_t0pv2SZzhiQ"  # 42
OLD_READ_BY_NONE = "whsec_enWFQJPlHQWWiAj96ycyshwe2SjVGh_ZypLch3_ZMMk"  # 41
EVENTS = ["customer.created"]


def _headers(request: Request) -> dict[str, str]:
    return dict(request.headers)


def _backoffice_signature(secret: str, timestamp: str, body: bytes) -> str:
    """SPEC §12's signature, computed here without the product's code."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "v1=" + digest.hexdigest()


async def _set_secret(committed: CommittedDatabase, endpoint_id: int, secret: str) -> None:
    """Store a secret as an older release would have issued it (what the table holds)."""
    async with transaction(committed.database.sessionmaker) as session:
        await session.execute(
            update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id).values(secret=secret)
        )


# --- the secret's form ---------------------------------------------------------------------


def test_a_new_secret_is_whsec_and_standard_base64_of_32_random_bytes() -> None:
    issued = {new_secret() for _ in range(50)}
    assert len(issued) == 50
    for secret in issued:
        assert re.fullmatch(r"whsec_[A-Za-z0-9+/]{43}=", secret), secret
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        assert len(key) == KEY_BYTES == 32
        assert standard_webhooks_key(secret) == key and is_standard_secret(secret)
        at = datetime(2026, 12, 3, tzinfo=UTC)  # the receiver's library reads the same key
        assert Webhook(secret).sign("m", at, "{}") == Webhook(key).sign("m", at, "{}")


@pytest.mark.parametrize(
    ("secret", "standard"),
    [
        (OLD_READ_BY_EVERY_PYTHON_LIBRARY, False),
        (OLD_READ_WITH_ADDED_PADDING, False),
        (OLD_READ_BY_NONE, False),
        ("whsec_" + base64.b64encode(b"k" * 23).decode(), False),  # too short a key
        ("whsec_" + base64.b64encode(b"k" * 24).decode(), True),
        ("whsec_" + base64.b64encode(b"k" * 64).decode(), True),
        ("whsec_" + base64.b64encode(b"k" * 65).decode(), False),  # too long
        ("whsec_" + base64.b64encode(b"k" * 32).decode().rstrip("="), False),  # unpadded
        (base64.b64encode(b"k" * 32).decode(), False),  # no prefix
        ("whsec_Zö" + "A" * 42, False),
    ],
)
def test_only_secrets_in_the_specifications_form_count_as_standard(
    secret: str, standard: bool
) -> None:
    assert is_standard_secret(secret) is standard


@pytest.mark.parametrize(
    "secret",
    [new_secret(), new_secret(), OLD_READ_BY_EVERY_PYTHON_LIBRARY, OLD_READ_WITH_ADDED_PADDING],
    ids=["new", "another-new", "old-40", "old-42"],  # the same ids in every xdist worker
)
def test_our_signature_is_the_librarys_for_the_same_message(secret: str) -> None:
    key = standard_webhooks_key(secret)
    assert key is not None
    body = '{"id": "evt_7", "data": {"name": "Zoë", "note": "a.b"}}'.encode()
    at = datetime(2026, 12, 3, 15, 0, 5, tzinfo=UTC)
    timestamp = str(int(at.timestamp()))

    ours = sign_standard(key, "evt_7", timestamp, body)

    assert ours == Webhook(secret).sign("evt_7", at, body.decode())
    assert ours != sign_standard(key, "evt_8", timestamp, body)  # the id is signed too


def test_an_old_secret_no_library_can_read_gets_no_webhook_signature() -> None:
    with pytest.raises(binascii.Error):
        Webhook(OLD_READ_BY_NONE)
    assert standard_webhooks_key(OLD_READ_BY_NONE) is None
    headers = signature_headers(OLD_READ_BY_NONE, "evt_1", "1795660000", b"{}")
    assert "webhook-signature" not in headers
    assert headers["webhook-id"] == "evt_1" and headers["webhook-timestamp"] == "1795660000"
    assert headers["Backoffice-Signature"] == _backoffice_signature(
        OLD_READ_BY_NONE, "1795660000", b"{}"
    )


# --- real deliveries -----------------------------------------------------------------------


async def test_a_real_delivery_verifies_with_the_standardwebhooks_library(
    committed: CommittedDatabase,
) -> None:
    settings = worker_settings(committed.url)
    with running_receiver() as receiver:
        _, secret = await add_endpoint(
            committed.database, settings, receiver.url, ["customer.created"]
        )
        receiver.set_secret(secret)
        event_id = await emit_committed(
            committed.database, "customer.created", {"customer": {"id": 1, "name": "Zoë"}}
        )
        assert await run_once(committed.database, settings) == 1
    [request] = receiver.behaviour.requests
    headers = _headers(request)

    assert Webhook(secret).verify(request.body, headers) == request.json
    assert request.json["id"] == f"evt_{event_id}"
    assert headers["webhook-id"] == headers["Backoffice-Event-Id"] == f"evt_{event_id}"
    assert headers["webhook-timestamp"] == headers["Backoffice-Timestamp"]
    assert re.fullmatch(r"v1,[A-Za-z0-9+/]{43}=", headers["webhook-signature"])
    # Tampered with, or checked with another secret: the library refuses.
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(request.body.replace(b"Zo", b"Jo"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(request.body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(request.body, {**headers, "webhook-id": "evt_999"})
    # The example receiver of docs/webhooks.md accepted it by Backoffice-Signature.
    assert request.status == 200 and receiver.events == [request.json]


async def test_backoffice_signature_is_unchanged_beside_the_standard_headers(
    committed: CommittedDatabase,
) -> None:
    settings = worker_settings(committed.url)
    with running_receiver() as receiver:
        _, secret = await add_endpoint(committed.database, settings, receiver.url, EVENTS)
        await emit_committed(committed.database, "customer.created", {"customer": {"id": "hi"}})
        await run_once(committed.database, settings)
    [request] = receiver.behaviour.requests
    headers = _headers(request)
    timestamp = headers["Backoffice-Timestamp"]
    assert re.fullmatch(r"[0-9]{10}", timestamp)
    assert headers["Backoffice-Signature"] == _backoffice_signature(secret, timestamp, request.body)
    # Keyed with the whole string as shown, not with the key the string encodes.
    key = base64.b64decode(secret.removeprefix("whsec_"))
    assert headers["Backoffice-Signature"] != (
        "v1=" + hmac.new(key, f"{timestamp}.".encode() + request.body, hashlib.sha256).hexdigest()
    )


@pytest.mark.parametrize("shift", [timedelta(minutes=-6), timedelta(minutes=6)])
async def test_a_delivery_signed_outside_the_tolerance_is_refused_by_the_library(
    committed: CommittedDatabase, monkeypatch: pytest.MonkeyPatch, shift: timedelta
) -> None:
    """A real delivery whose clock is six minutes off (the library allows five)."""
    settings = worker_settings(committed.url)
    with running_receiver() as receiver:
        _, secret = await add_endpoint(committed.database, settings, receiver.url, EVENTS)
        await emit_committed(committed.database, "customer.created", {"customer": {"id": "hi"}})
        [job] = await delivery.claim_due(committed.database)
        monkeypatch.setattr(delivery, "utcnow", lambda: utcnow() + shift)
        async with httpx.AsyncClient() as client:
            attempt = await delivery.send(client, job, settings)
    assert attempt.status_code == 400  # the example receiver refuses stale timestamps too
    [request] = receiver.behaviour.requests
    headers = _headers(request)
    sent_at = int(headers["webhook-timestamp"])
    assert abs(sent_at - (utcnow() + shift).timestamp()) < 60

    with pytest.raises(WebhookVerificationError, match=r"too old|too new"):
        Webhook(secret).verify(request.body, headers)
    # Only the time is wrong: the same signature over the same content is the library's.
    at = datetime.fromtimestamp(sent_at, UTC)
    expected = Webhook(secret).sign(headers["webhook-id"], at, request.body.decode())
    assert headers["webhook-signature"] == expected


async def test_every_retry_of_an_event_carries_the_same_webhook_id(
    committed: CommittedDatabase,
) -> None:
    settings = worker_settings(committed.url)
    with running_receiver(Behaviour(fail_times=1)) as receiver:
        _, secret = await add_endpoint(committed.database, settings, receiver.url, EVENTS)
        receiver.set_secret(secret)
        await emit_committed(committed.database, "customer.created", {"customer": {"id": "hi"}})
        await run_once(committed.database, settings)
        await make_due(committed.database)
        await run_once(committed.database, settings)
    first, second = receiver.behaviour.requests
    assert [first.status, second.status] == [500, 200]
    assert _headers(first)["webhook-id"] == _headers(second)["webhook-id"]
    for request in (first, second):
        Webhook(secret).verify(request.body, _headers(request))


async def test_a_rotated_secret_signs_the_very_next_delivery(
    committed: CommittedDatabase,
) -> None:
    settings = worker_settings(committed.url)
    with running_receiver() as receiver:
        endpoint_id, old = await add_endpoint(committed.database, settings, receiver.url, EVENTS)
        async with transaction(committed.database.sessionmaker) as session:
            _, new = await service.rotate_secret(
                session, Principal.system(), endpoint_id, expected_version=None
            )
        await emit_committed(committed.database, "customer.created", {"customer": {"id": "hi"}})
        await run_once(committed.database, settings)
    [request] = receiver.behaviour.requests
    headers = _headers(request)
    Webhook(new).verify(request.body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(request.body, headers)
    timestamp = headers["Backoffice-Timestamp"]
    assert headers["Backoffice-Signature"] == _backoffice_signature(new, timestamp, request.body)


# --- endpoints whose secret is of the old form -----------------------------------------------


@pytest.mark.parametrize("old", [OLD_READ_BY_EVERY_PYTHON_LIBRARY, OLD_READ_WITH_ADDED_PADDING])
async def test_an_old_secret_the_library_reads_keeps_verifying_both_ways(
    committed: CommittedDatabase, old: str
) -> None:
    """No rotation needed: the receiver's `Webhook(secret)` derives the key we signed with,
    and its Backoffice-Signature check is as before."""
    settings = worker_settings(committed.url)
    with running_receiver(secret=old) as receiver:
        endpoint_id, _ = await add_endpoint(committed.database, settings, receiver.url, EVENTS)
        await _set_secret(committed, endpoint_id, old)
        await emit_committed(committed.database, "customer.created", {"customer": {"id": "hi"}})
        await run_once(committed.database, settings)
    [request] = receiver.behaviour.requests
    headers = _headers(request)
    assert request.status == 200  # the documented receiver checks Backoffice-Signature
    assert headers["Backoffice-Signature"] == _backoffice_signature(
        old, headers["Backoffice-Timestamp"], request.body
    )
    assert Webhook(old).verify(request.body, headers) == request.json


async def test_an_old_secret_no_library_reads_is_told_to_rotate_by_the_library(
    committed: CommittedDatabase,
) -> None:
    """Backoffice-Signature as before; no webhook-signature (there is no key a receiver could
    hold), so a Standard Webhooks receiver fails loudly until the secret is rotated."""
    settings = worker_settings(committed.url)
    with running_receiver(secret=OLD_READ_BY_NONE) as receiver:
        endpoint_id, _ = await add_endpoint(committed.database, settings, receiver.url, EVENTS)
        await _set_secret(committed, endpoint_id, OLD_READ_BY_NONE)
        await emit_committed(committed.database, "customer.created", {"customer": {"id": "hi"}})
        await run_once(committed.database, settings)
        async with transaction(committed.database.sessionmaker) as session:
            _, rotated = await service.rotate_secret(
                session, Principal.system(), endpoint_id, expected_version=None
            )
        receiver.set_secret(rotated)
        await emit_committed(committed.database, "customer.created", {"customer": {"id": "again"}})
        await run_once(committed.database, settings)
    before, after = receiver.behaviour.requests
    assert before.status == 200 and "webhook-signature" not in _headers(before)
    assert _headers(before)["webhook-id"] == before.json["id"]
    with pytest.raises(binascii.Error):
        Webhook(OLD_READ_BY_NONE)  # the receiver's own set-up refuses the string
    # Rotated: the new secret is standard and the next delivery verifies.
    assert after.status == 200
    assert Webhook(rotated).verify(after.body, _headers(after)) == after.json


async def test_an_old_secret_is_never_rewritten_behind_the_receivers_back(
    committed: CommittedDatabase,
) -> None:
    settings = worker_settings(committed.url)
    with running_receiver(secret=OLD_READ_WITH_ADDED_PADDING) as receiver:
        endpoint_id, _ = await add_endpoint(committed.database, settings, receiver.url, EVENTS)
        await _set_secret(committed, endpoint_id, OLD_READ_WITH_ADDED_PADDING)
        await emit_committed(committed.database, "customer.created", {"customer": {"id": "hi"}})
        await run_once(committed.database, settings)
    assert (await only_delivery(committed.database)).status == "succeeded"
    async with committed.database.sessionmaker() as session:
        stored = await session.get(WebhookEndpoint, endpoint_id)
        assert stored is not None and stored.secret == OLD_READ_WITH_ADDED_PADDING


# --- the documented receiver -----------------------------------------------------------------

DOCS = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def _documented_receiver(secret: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Run the Python block docs/webhooks.md shows after its marker; its namespace."""
    marked = DOCS.read_text().split("<!-- standard-webhooks-receiver -->", 1)[1]
    code = marked.split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.setenv("WEBHOOK_SECRET", secret)
    namespace: dict[str, Any] = {}
    exec(compile(code, str(DOCS), "exec"), namespace)
    return namespace


async def test_the_documented_standard_webhooks_receiver_verifies_a_real_delivery(
    committed: CommittedDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = worker_settings(committed.url)
    with running_receiver() as receiver:
        _, secret = await add_endpoint(committed.database, settings, receiver.url, EVENTS)
        await emit_committed(committed.database, "customer.created", {"customer": {"id": 5}})
        await run_once(committed.database, settings)
    [request] = receiver.behaviour.requests
    verified_event = _documented_receiver(secret, monkeypatch)["verified_event"]

    assert verified_event(request.body, _headers(request)) == request.json
    assert verified_event(request.body + b" ", _headers(request)) is None
    assert (
        _documented_receiver(new_secret(), monkeypatch)["verified_event"](
            request.body, _headers(request)
        )
        is None
    )
