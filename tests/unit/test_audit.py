"""The audit log writer (SPEC §9): diffs, snapshots, redaction, rows in the caller's transaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import audit
from app.auth.principal import Principal, RequestMeta
from app.models import AuditEvent
from tests.factories import make_product, make_user

WHEN = datetime(2031, 5, 17, 12, 30, tzinfo=UTC)
META = RequestMeta(request_id="req-audit-1", ip="203.0.113.9", user_agent="curl/8.5")
API_CALLER = Principal(
    user_id=41,
    email="ops@example.com",
    channel="api",
    auth_method="personal_token",
    permissions=frozenset({"products:update"}),
    token_id=7,
    meta=META,
)


async def stored(session: AsyncSession, event: AuditEvent) -> AuditEvent:
    """The audit row as the database returns it (JSON decoded by the backend)."""
    await session.flush()
    session.expunge(event)
    return await session.get_one(AuditEvent, event.id, populate_existing=True)


# --- diff ----------------------------------------------------------------------------------


def test_diff_of_a_create_has_none_as_every_old_value() -> None:
    changes = audit.diff(None, {"name": "Widget", "stock": 3, "is_active": True})

    assert changes == {"name": [None, "Widget"], "stock": [None, 3], "is_active": [None, True]}


def test_diff_of_an_update_lists_only_changed_fields() -> None:
    before = {"name": "Widget", "stock": 3, "version": 1, "updated_at": WHEN}
    after = {
        "name": "Widget",
        "stock": 5,
        "version": 2,
        "updated_at": WHEN + timedelta(minutes=1),
    }

    assert audit.diff(before, after) == {"stock": [3, 5]}


def test_diff_with_only_bookkeeping_changes_is_empty() -> None:
    before = {"name": "Widget", "version": 1, "updated_at": WHEN}
    after = {"name": "Widget", "version": 2, "updated_at": WHEN + timedelta(seconds=1)}

    assert audit.diff(before, after) == {}


def test_diff_of_a_delete_has_none_as_every_new_value() -> None:
    changes = audit.diff({"sku": "AB-1", "price": Decimal("2.50")}, None)

    assert changes == {"sku": ["AB-1", None], "price": ["2.50", None]}


@pytest.mark.parametrize("field", ["password_hash", "token_hash", "secret", "security_stamp"])
def test_diff_redacts_secrets(field: str) -> None:
    changes = audit.diff({field: "old-value"}, {field: "new-value"})

    assert changes == {field: [audit.REDACTED, audit.REDACTED]}


def test_diff_of_a_secret_being_set_keeps_the_missing_side_none() -> None:
    assert audit.diff(None, {"secret": "whsec_abc"}) == {"secret": [None, audit.REDACTED]}


def test_diff_turns_decimals_and_datetimes_into_json_strings() -> None:
    plus_two = timezone(timedelta(hours=2))
    changes = audit.diff(
        {"price": Decimal("9.99"), "placed_at": None},
        {"price": Decimal("12.50"), "placed_at": datetime(2031, 5, 17, 14, 30, tzinfo=plus_two)},
    )

    assert changes == {
        "price": ["9.99", "12.50"],
        "placed_at": [None, "2031-05-17T14:30:00+02:00"],
    }


# --- snapshot ------------------------------------------------------------------------------


async def test_snapshot_is_every_column_as_json_ready_values(session: AsyncSession) -> None:
    product = await make_product(session, price=Decimal("19.90"), stock=4)

    snap = audit.snapshot(product)

    assert snap["sku"] == product.sku
    assert snap["price"] == "19.90"
    assert snap["stock"] == 4
    assert snap["id"] == product.id
    assert isinstance(snap["created_at"], str)
    assert datetime.fromisoformat(snap["created_at"]) == product.created_at
    assert {"description", "reorder_level", "is_active", "version", "updated_at"} <= set(snap)


async def test_snapshot_with_fields_takes_only_those(session: AsyncSession) -> None:
    product = await make_product(session)

    assert audit.snapshot(product, ["sku", "stock"]) == {"sku": product.sku, "stock": 10}


async def test_snapshots_of_a_user_diff_without_the_password_hash(session: AsyncSession) -> None:
    user = await make_user(session)
    before = audit.snapshot(user)
    after = {**before, "password_hash": "$argon2id$new", "full_name": "Renamed"}

    changes = audit.diff(before, after)

    assert changes == {
        "full_name": [user.full_name, "Renamed"],
        "password_hash": [audit.REDACTED, audit.REDACTED],
    }
    assert "$argon2id$" not in repr(changes)


# --- record --------------------------------------------------------------------------------


async def test_record_stores_who_how_and_where_from_the_principal(session: AsyncSession) -> None:
    event = audit.record(
        session,
        API_CALLER,
        "product.updated",
        resource_type="product",
        resource_id=123,
        changes={"stock": [3, 5]},
    )

    row = await stored(session, event)

    assert (row.actor_user_id, row.actor_email) == (41, "ops@example.com")
    assert row.channel == "api"
    assert row.token_id == 7
    assert row.action == "product.updated"
    assert (row.resource_type, row.resource_id) == ("product", "123")
    assert row.changes == {"stock": [3, 5]}
    assert (row.request_id, row.ip, row.user_agent) == ("req-audit-1", "203.0.113.9", "curl/8.5")
    assert row.occurred_at.utcoffset() == timedelta(0)


async def test_record_redacts_secrets_in_hand_built_changes(session: AsyncSession) -> None:
    event = audit.record(
        session,
        API_CALLER,
        "token.created",
        changes={
            "password_hash": ["$argon2id$old", "$argon2id$new"],
            "token_hash": [None, "f" * 64],
            "secret": ["whsec_old", "whsec_new"],
            "name": [None, "ci"],
        },
    )

    row = await stored(session, event)

    assert row.changes == {
        "password_hash": [audit.REDACTED, audit.REDACTED],
        "token_hash": [None, audit.REDACTED],
        "secret": [audit.REDACTED, audit.REDACTED],
        "name": [None, "ci"],
    }
    for leaked in ("argon2id", "f" * 64, "whsec_"):
        assert leaked not in repr(row.changes)


async def test_record_stores_decimals_and_datetimes_as_json_strings(
    session: AsyncSession,
) -> None:
    event = audit.record(
        session,
        API_CALLER,
        "order.placed",
        changes={"total": [Decimal("0.00"), Decimal("37.45")], "placed_at": [None, WHEN]},
    )

    row = await stored(session, event)

    assert row.changes == {
        "total": ["0.00", "37.45"],
        "placed_at": [None, "2031-05-17T12:30:00+00:00"],
    }


async def test_record_can_name_the_actor_a_failed_login_tried(session: AsyncSession) -> None:
    anonymous = Principal.anonymous("admin", META)

    event = audit.record(
        session, anonymous, "login.failed", actor_user_id=99, actor_email="who@example.com"
    )
    row = await stored(session, event)

    assert (row.actor_user_id, row.actor_email, row.channel) == (99, "who@example.com", "admin")
    assert row.token_id is None


async def test_record_truncates_a_long_user_agent(session: AsyncSession) -> None:
    caller = API_CALLER.with_meta(RequestMeta(request_id="r", user_agent="A" * 1000))

    row = await stored(session, audit.record(session, caller, "product.viewed"))

    assert row.user_agent == "A" * 255


async def test_record_only_adds_to_the_callers_session(session: AsyncSession) -> None:
    event = audit.record(session, Principal.system(), "housekeeping.purged")

    assert event in session.new
    assert event.id is None  # nothing written until the caller flushes or commits
    assert event.channel == "system"


async def test_record_is_rolled_back_with_the_callers_transaction(session: AsyncSession) -> None:
    action = "product.deleted"
    count_rows = (
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.action == action, AuditEvent.request_id == META.request_id)
    )
    savepoint = await session.begin_nested()
    audit.record(session, API_CALLER, action, resource_type="product", resource_id=5)
    await session.flush()
    assert await session.scalar(count_rows) == 1

    await savepoint.rollback()

    assert await session.scalar(count_rows) == 0


async def test_diff_output_is_what_record_stores(session: AsyncSession) -> None:
    product = await make_product(session, price=Decimal("5.00"))
    before = audit.snapshot(product)
    product.price = Decimal("6.25")
    product.name = "Renamed"
    await session.flush()
    changes = audit.diff(before, audit.snapshot(product))

    row = await stored(
        session, audit.record(session, API_CALLER, "product.updated", changes=changes)
    )

    assert row.changes == {"price": ["5.00", "6.25"], "name": [before["name"], "Renamed"]}
