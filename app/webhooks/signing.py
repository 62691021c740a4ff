"""Webhook signatures: `Backoffice-Signature` and the Standard Webhooks headers (SPEC §12).

Two signatures of every delivery, from one endpoint secret `whsec_<base64 of the key>`:

- `Backoffice-Signature`: `v1=` + hex HMAC-SHA256 of `{timestamp}.{body}`, keyed with the
  whole secret string as shown (what receivers have held since the first release).
- `webhook-signature` (https://www.standardwebhooks.com): `v1,` + base64 HMAC-SHA256 of
  `{webhook-id}.{webhook-timestamp}.{body}`, keyed with the base64-decoded part after
  `whsec_`, as `standardwebhooks.Webhook(secret).verify` checks it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"
# The specification asks for 24 to 64 random bytes. 32 is HMAC-SHA256's own output size:
# RFC 2104's recommended key length, 256 bits that no brute force reaches, and a secret of
# 50 characters that fits the column (String(128)) and any receiver's config file.
KEY_BYTES = 32
MIN_KEY_BYTES, MAX_KEY_BYTES = 24, 64


def new_secret() -> str:
    """A fresh secret in the specification's form: `whsec_` + standard base64 of the key."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


def standard_webhooks_key(secret: str) -> bytes | None:
    """The key a Standard Webhooks receiver derives from `secret`, or None when it cannot.

    A secret of ours is standard base64, so this is its decoded key. Secrets issued before
    (`whsec_` + a url-safe token) are not base64; Python's reference library
    (`standardwebhooks`) still reads them leniently (characters outside the base64 alphabet
    dropped, padding added), and so does `svix`'s where the string needs no padding, to the
    same key: deliveries keep verifying for them without a rotation. A string none of
    them can decode gets no `webhook-signature`: its receivers must rotate (docs/webhooks.md).
    """
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        # What standardwebhooks.Webhook does: unpadded base64 is padded, extra padding ignored.
        key = base64.b64decode(encoded + "==", validate=False)
    except (binascii.Error, ValueError):
        return None
    return key or None


def is_standard_secret(secret: str) -> bool:
    """Whether `secret` is in the specification's form: `whsec_` + standard base64 (padded,
    as every library decodes it) of 24 to 64 bytes. Secrets issued before are not."""
    if not secret.startswith(SECRET_PREFIX):
        return False
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        return False
    return MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES


def signing_summary(secret: str) -> str:
    """What the secret's form means for receivers, in words for staff (never the secret)."""
    if is_standard_secret(secret):
        return "Standard Webhooks and Backoffice-Signature"
    if standard_webhooks_key(secret) is None:
        return "Backoffice-Signature only: rotate the secret for Standard Webhooks"
    return (
        "Backoffice-Signature, and Standard Webhooks for libraries that read this older "
        "secret (Python's); rotate it for any other"
    )


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """`Backoffice-Signature`: keyed with the whole secret string, unchanged since v1."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def sign_standard(key: bytes, message_id: str, timestamp: str, body: bytes) -> str:
    """`webhook-signature`: one `v1,` signature of `{id}.{timestamp}.{body}` with `key`."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    mac = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode("ascii")


def signature_headers(secret: str, event_id: str, timestamp: str, body: bytes) -> dict[str, str]:
    """Every header that identifies and signs one delivery of an event.

    `event_id` is the same for every attempt at one event, so receivers de-duplicate by
    either id header; `timestamp` is the attempt's, in whole seconds.
    """
    headers = {
        "Backoffice-Event-Id": event_id,
        "Backoffice-Timestamp": timestamp,
        "Backoffice-Signature": sign(secret, timestamp, body),
        "webhook-id": event_id,
        "webhook-timestamp": timestamp,
    }
    key = standard_webhooks_key(secret)
    if key is not None:
        headers["webhook-signature"] = sign_standard(key, event_id, timestamp, body)
    return headers


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    """What a receiver does (docs/webhooks.md): recompute and compare in constant time."""
    return hmac.compare_digest(sign(secret, timestamp, body), signature)
