"""The soak's checks catch what they exist for: synthetic records, no server (runs always)."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from tests.load.invariants import (
    FaultWindow,
    Findings,
    Stored,
    check_answers,
    check_audit,
    check_deliveries,
    check_keys,
    check_patches,
    check_stock,
    check_totals,
    check_writes,
)
from tests.load.receiver import Arrival, Inbox
from tests.load.workload import Clock, Exchange, KeyedWrite, Workload, World

WORLD = World(products=[1, 2], initial_stock={1: 10, 2: 5}, customers=[1])
ORDER_BODY = {"customer_id": 1, "notes": "tag-a", "items": [{"product_id": 1, "quantity": 2}]}
ORDER_ANSWER = {"id": 7, "total": "20.00", "status": "draft"}


def _exchange(
    op: str,
    path: str,
    status: int | None,
    answer: Any = None,
    *,
    key: str | None = "key-a",
    body: Any = None,
    kind: str = "first",
    sent_at: float = 1.0,
    **fields: Any,
) -> Exchange:
    exchange = Exchange(
        client=0,
        op=op,
        kind=kind,
        method="PATCH" if op == "patch" else "POST",
        path=path,
        key=key,
        body=body,
        if_match=fields.pop("if_match", None),
        request_id=f"rid-{op}-{kind}-{sent_at}",
        sent_at=sent_at,
        seconds=0.1,
        status=status,
        answer=answer,
    )
    for name, value in fields.items():
        setattr(exchange, name, value)
    return exchange


def _workload(writes: list[KeyedWrite], exchanges: list[Exchange]) -> Workload:
    workload = Workload("http://127.0.0.1:1", "token", WORLD, Clock(), clients=1, seed=0)
    workload.keyed = {write.key: write for write in writes}
    workload.exchanges = exchanges
    return workload


def _stored(**overrides: Any) -> Stored:
    """A consistent database: order 7 (draft, product 1 × 2 at 10.00), audited once."""
    values: dict[str, Any] = {
        "stock": {1: 10, 2: 5},
        "orders": {7: {"id": 7, "notes": "tag-a", "status": "draft", "total": Decimal("20.00")}},
        "items": defaultdict(
            list, {7: [{"product_id": 1, "quantity": 2, "unit_price": Decimal("10.00")}]}
        ),
        "audit": [{"action": "order.created", "resource_id": "7", "changes": {}}],
        "events": [],
        "deliveries": {},
        "keys_in_progress": 0,
    }
    return Stored(**(values | overrides))


CREATE = KeyedWrite("create", "/api/v1/orders", ORDER_BODY, "key-a", 0)


def test_a_consistent_run_breaks_nothing() -> None:
    exchanges = [
        _exchange("create", CREATE.path, 201, ORDER_ANSWER, body=ORDER_BODY),
        _exchange("create", CREATE.path, 201, ORDER_ANSWER, body=ORDER_BODY, kind="late"),
    ]
    workload = _workload([CREATE], exchanges)
    findings = Findings()
    check_answers(exchanges, [], {}, findings)
    check_keys(workload, findings)
    check_writes(workload, _stored(), findings)
    check_stock(WORLD, _stored(), findings)
    check_totals(_stored(), findings)
    check_audit(_stored(), findings)
    assert findings.violations == {}


def test_a_repeat_that_runs_again_is_a_different_answer_and_a_doubled_effect() -> None:
    second = {**ORDER_ANSWER, "id": 8}
    exchanges = [
        _exchange("create", CREATE.path, 201, ORDER_ANSWER, body=ORDER_BODY),
        _exchange("create", CREATE.path, 201, second, body=ORDER_BODY, kind="late", sent_at=9),
    ]
    orders = _stored().orders | {8: {**_stored().orders[7], "id": 8}}
    findings = Findings()
    workload = _workload([CREATE], exchanges)
    check_keys(workload, findings)
    check_writes(workload, _stored(orders=orders), findings)
    assert list(findings.violations) == [
        "same key, same answer (201 then 201)",
        "no keyed effect doubled",
    ]


def test_an_in_progress_409_is_not_an_answer_but_a_lost_key_must_be_found_out() -> None:
    busy = {"type": "/problems/idempotency-in-progress", "detail": "still running"}
    exchanges = [
        _exchange("create", CREATE.path, None, error="RemoteProtocolError: disconnected"),
        _exchange("create", CREATE.path, 409, busy, kind="resolve", sent_at=5),
    ]
    findings = Findings()
    check_keys(_workload([CREATE], exchanges), findings)
    assert list(findings.violations) == ["a lost answer is found out by re-sending its key"]


def test_acknowledged_writes_missing_and_refused_writes_stored_are_caught() -> None:
    place = KeyedWrite("place", "/api/v1/orders/7/place", None, "key-b", 0)
    exchanges = [
        _exchange("create", CREATE.path, 201, ORDER_ANSWER, body=ORDER_BODY),
        _exchange("place", place.path, 409, {"detail": "Insufficient stock"}, key="key-b"),
    ]
    audit = [
        {"action": "order.created", "resource_id": "7", "changes": {}},
        {"action": "order.placed", "resource_id": "7", "changes": {}},
    ]
    findings = Findings()
    workload = _workload([CREATE, place], exchanges)
    check_writes(workload, _stored(orders={}, audit=audit), findings)
    assert set(findings.violations) == {
        "every acknowledged write is stored",
        "no refused write is stored",
    }


def test_server_errors_bare_503s_and_connection_errors_outside_faults_are_caught() -> None:
    window = FaultWindow("web worker SIGKILL", start=10, end=15)
    exchanges = [
        _exchange("create", CREATE.path, 500, {"detail": "boom"}),
        _exchange("create", CREATE.path, 503, {"detail": "down"}, retry_after=None),
        _exchange("create", CREATE.path, 503, {"detail": "down"}, retry_after="1"),
        _exchange("create", CREATE.path, None, sent_at=12, error="ConnectError"),
        _exchange("create", CREATE.path, None, sent_at=30, error="ConnectError"),
    ]
    findings = Findings()
    check_answers(exchanges, [window], {"rid-create-first-1.0": ["deadlock"]}, findings)
    assert {name: len(found) for name, found in findings.violations.items()} == {
        "no 5xx but 503 (deadlock)": 1,
        "every 503 carries Retry-After": 1,
        "no connection error outside a fault window": 1,
    }


def test_stock_totals_audit_and_outbox_mismatches_are_caught() -> None:
    orders = {7: {"id": 7, "notes": "tag-a", "status": "placed", "total": Decimal("25.00")}}
    findings = Findings()
    stored = _stored(orders=orders, stock={1: 9, 2: -1})
    check_stock(WORLD, stored, findings)
    check_totals(stored, findings)
    check_audit(stored, findings)
    assert set(findings.violations) == {
        "stock never negative",
        "stock = initial − held",
        "order total = sum of its items",
        "one audit row per state change",
    }


def test_two_winning_patches_on_one_if_match_are_caught() -> None:
    path = "/api/v1/products/1"
    patches = [
        _exchange("patch", path, 200, {}, key=None, body={"description": d}, if_match='"3"')
        for d in ("tag-1", "tag-2")
    ]
    audit = [
        {"action": "product.updated", "resource_id": "1", "changes": {"description": ["", d]}}
        for d in ("tag-1", "tag-2")
    ]
    findings = Findings()
    check_patches(_workload([], patches), _stored(audit=audit), findings)
    assert list(findings.violations) == ["no two PATCHes with the same If-Match both succeed"]


def test_undelivered_events_and_bad_signatures_are_caught() -> None:
    events = [
        {"id": 1, "type": "order.placed", "created": 0.0, "order_id": 7},
        {"id": 2, "type": "order.paid", "created": 0.0, "order_id": 7},
    ]
    inbox = Inbox(secret="s")
    inbox.arrivals.append(Arrival("evt_1", "order.placed", 1.0, False, True))
    findings = Findings()
    check_deliveries(_stored(events=events), inbox, findings)
    assert set(findings.violations) == {"every subscribed event delivered", "every signature valid"}
