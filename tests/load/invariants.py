"""The promises a soak checks (issue 19), from the clients' records, the database and the
webhook receiver; each broken one is listed with samples."""

from __future__ import annotations

import json
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import asyncpg

from tests.load.receiver import Inbox
from tests.load.workload import ORDER_EVENTS, Exchange, Workload, World

HOLDS_STOCK = ("placed", "paid", "shipped")
ACTION_AUDIT = {"place": "order.placed", "pay": "order.paid", "cancel": "order.cancelled"}
# Which state changes each final status implies (cancelled: checked separately).
CHANGES_OF_STATUS = {
    "draft": set(),
    "placed": {"order.placed"},
    "paid": {"order.placed", "order.paid"},
    "shipped": {"order.placed", "order.paid", "order.shipped"},
}
STATE_CHANGES = ("order.placed", "order.paid", "order.shipped", "order.cancelled")
SAMPLES = 6


@dataclass(frozen=True)
class FaultWindow:
    """When a fault may break connections: from its start to its recovery plus a grace."""

    name: str
    start: float
    end: float
    excuses_connections: bool = True

    def covers(self, exchange: Exchange) -> bool:
        return exchange.sent_at <= self.end and exchange.ended_at >= self.start


@dataclass
class Findings:
    """Violations by invariant, in the order found."""

    violations: dict[str, list[str]] = field(default_factory=dict)

    def add(self, invariant: str, detail: str) -> None:
        self.violations.setdefault(invariant, []).append(detail)

    def listing(self) -> str:
        lines = []
        for invariant, details in self.violations.items():
            lines.append(f"✗ {invariant}: {len(details)}")
            lines += [f"    {detail}" for detail in details[:SAMPLES]]
            if len(details) > SAMPLES:
                lines.append(f"    … and {len(details) - SAMPLES} more")
        return "\n".join(lines)


@dataclass
class Stored:
    """The database after the soak (one read, after every process stopped writing)."""

    stock: dict[int, int]
    orders: dict[int, dict[str, Any]]
    items: dict[int, list[dict[str, Any]]]
    audit: list[dict[str, Any]]
    events: list[dict[str, Any]]
    deliveries: dict[int, dict[str, Any]]
    keys_in_progress: int


async def read_database(url: str, endpoint_id: int) -> Stored:
    connection = await asyncpg.connect(url)
    try:
        products = await connection.fetch("SELECT id, stock FROM products")
        orders = await connection.fetch("SELECT id, notes, status, total FROM orders")
        items = await connection.fetch(
            "SELECT order_id, product_id, quantity, unit_price FROM order_items"
        )
        audit = await connection.fetch(
            "SELECT action, resource_id, changes::text AS changes FROM audit_events "
            "WHERE resource_type IN ('order', 'product')"
        )
        events = await connection.fetch(
            "SELECT id, type, extract(epoch FROM created_at)::float8 AS created, "
            "(data->'order'->>'id')::int AS order_id FROM webhook_events"
        )
        deliveries = await connection.fetch(
            "SELECT event_id, status, attempt_count, last_error FROM webhook_deliveries "
            "WHERE endpoint_id = $1",
            endpoint_id,
        )
        in_progress = await connection.fetchval(
            "SELECT count(*) FROM idempotency_records WHERE response_status IS NULL"
        )
    finally:
        await connection.close()
    by_order: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in items:
        by_order[row["order_id"]].append(dict(row))
    return Stored(
        stock={row["id"]: row["stock"] for row in products},
        orders={row["id"]: dict(row) for row in orders},
        items=by_order,
        audit=[{**dict(row), "changes": json.loads(row["changes"] or "{}")} for row in audit],
        events=[dict(row) for row in events],
        deliveries={row["event_id"]: dict(row) for row in deliveries},
        keys_in_progress=int(in_progress or 0),
    )


# -- answers ---------------------------------------------------------------------------


def check_answers(
    exchanges: list[Exchange],
    windows: list[FaultWindow],
    logs_by_request: dict[str, list[str]],
    findings: Findings,
) -> None:
    """No 500; 503 says when to retry; connections break only while a fault lasts."""
    for exchange in exchanges:
        if exchange.status is not None and exchange.status >= 500 and exchange.status != 503:
            # Grouped by what the server logged for this request id: one line per cause.
            logged = logs_by_request.get(exchange.request_id, ["nothing logged"])
            findings.add(f"no 5xx but 503 ({logged[0]})", exchange.brief())
        if exchange.status == 503 and not exchange.retry_after:
            findings.add("every 503 carries Retry-After", exchange.brief())
        if exchange.status is None and not any(w.covers(exchange) for w in windows):
            findings.add("no connection error outside a fault window", exchange.brief())


def check_keys(workload: Workload, findings: Findings) -> None:
    """Every key found out in the end; every final answer under a key is the first one."""
    by_key: dict[str, list[Exchange]] = defaultdict(list)
    for exchange in workload.exchanges:
        if exchange.key:
            by_key[exchange.key].append(exchange)
    for key in workload.keyed:
        answers = sorted(by_key[key], key=lambda e: e.ended_at)
        final = [e for e in answers if e.final]
        if not final:
            findings.add(
                "a lost answer is found out by re-sending its key",
                " | ".join(e.brief() for e in (answers[0], answers[-1])),
            )
            continue
        first = final[0]
        for other in final[1:]:
            if (other.status, other.answer) != (first.status, first.answer):
                findings.add(
                    f"same key, same answer ({first.status} then {other.status})",
                    f"{first.brief()}\n      then {other.brief()}",
                )
                break


# -- effects in the database -----------------------------------------------------------


def _outcome(answers: list[Exchange]) -> str:
    """acknowledged (a 2xx), refused (final answers, none 2xx) or unknown."""
    if any(e.succeeded for e in answers):
        return "acknowledged"
    return "refused" if any(e.final for e in answers) else "unknown"


def check_writes(workload: Workload, stored: Stored, findings: Findings) -> None:
    """Acknowledged writes are stored, refused ones are not, keyed ones happen once."""
    by_key: dict[str, list[Exchange]] = defaultdict(list)
    for exchange in workload.exchanges:
        if exchange.key:
            by_key[exchange.key].append(exchange)
    orders_by_tag: dict[str, list[int]] = defaultdict(list)
    for order in stored.orders.values():
        orders_by_tag[order["notes"]].append(order["id"])
    changes = _state_changes(stored)
    for key, write in workload.keyed.items():
        answers = by_key[key]
        outcome = _outcome(answers)
        if write.op == "create":
            _check_create(write.body, answers, outcome, orders_by_tag, stored, findings)
        else:
            order_id = int(write.path.split("/")[4])
            recorded = changes.get((order_id, ACTION_AUDIT[write.op]), 0)
            if outcome == "acknowledged" and recorded == 0:
                findings.add(
                    "every acknowledged write is stored",
                    f"{_acknowledgement(answers).brief()}; no {ACTION_AUDIT[write.op]} audit row",
                )
            if outcome == "refused" and recorded:
                findings.add(
                    "no refused write is stored",
                    f"{answers[0].brief()}; yet {ACTION_AUDIT[write.op]} is recorded",
                )
    for (order_id, action), count in changes.items():
        if count > 1:
            findings.add("no keyed effect doubled", f"order {order_id}: {count} × {action}")


def _acknowledgement(answers: list[Exchange]) -> Exchange:
    return next(e for e in answers if e.succeeded)


def _check_create(
    body: dict[str, Any],
    answers: list[Exchange],
    outcome: str,
    orders_by_tag: dict[str, list[int]],
    stored: Stored,
    findings: Findings,
) -> None:
    rows = orders_by_tag.get(body["notes"], [])
    if len(rows) > 1:
        findings.add(
            "no keyed effect doubled",
            f"{answers[0].brief()}; {len(rows)} orders stored: {sorted(rows)}",
        )
    if outcome == "refused" and rows:
        findings.add("no refused write is stored", f"{answers[0].brief()}; stored as {rows}")
    if outcome != "acknowledged":
        return
    answer = _acknowledgement(answers)
    if not rows:
        findings.add("every acknowledged write is stored", f"{answer.brief()}; no such order")
        return
    acknowledged_id = answer.answer.get("id") if isinstance(answer.answer, dict) else None
    if acknowledged_id not in rows:
        findings.add(
            "every acknowledged write is stored",
            f"{answer.brief()}; the order stored for it is {rows}",
        )
        return
    wanted: Counter[int] = Counter()
    for item in body["items"]:
        wanted[item["product_id"]] += item["quantity"]
    got = Counter({i["product_id"]: i["quantity"] for i in stored.items.get(acknowledged_id, [])})
    if got != wanted:
        findings.add(
            "every acknowledged write is stored",
            f"order {acknowledged_id}: items {dict(got)}, asked for {dict(wanted)}",
        )
    if Decimal(str(answer.answer["total"])) != stored.orders[acknowledged_id]["total"]:
        findings.add(
            "every acknowledged write is stored",
            f"order {acknowledged_id}: answered total {answer.answer['total']}, "
            f"stored {stored.orders[acknowledged_id]['total']}",
        )


def _state_changes(stored: Stored) -> Counter[tuple[int, str]]:
    changes: Counter[tuple[int, str]] = Counter()
    for row in stored.audit:
        if row["action"] in STATE_CHANGES:
            changes[(int(row["resource_id"]), row["action"])] += 1
    return changes


def check_patches(workload: Workload, stored: Stored, findings: Findings) -> None:
    """At most one PATCH wins per If-Match; what won is stored, what lost is not."""
    winners: dict[tuple[str, str], list[Exchange]] = defaultdict(list)
    patches = [e for e in workload.exchanges if e.op == "patch"]
    for exchange in patches:
        if exchange.succeeded and exchange.if_match:
            winners[(exchange.path, exchange.if_match)].append(exchange)
    for (path, etag), won in winners.items():
        if len(won) > 1:
            findings.add(
                "no two PATCHes with the same If-Match both succeed",
                f"{path} If-Match {etag}: {len(won)} × 2xx "
                f"({', '.join(e.request_id for e in won)})",
            )
    stored_tags = {
        str(row["changes"].get("description", [None, None])[1])
        for row in stored.audit
        if row["action"] == "product.updated"
    }
    for exchange in patches:
        tag = exchange.body["description"]
        if exchange.succeeded and tag not in stored_tags:
            findings.add("every acknowledged write is stored", f"{exchange.brief()}; not audited")
        if exchange.final and not exchange.succeeded and tag in stored_tags:
            findings.add("no refused write is stored", f"{exchange.brief()}; yet stored")


# -- the data's own rules ---------------------------------------------------------------


def check_stock(world: World, stored: Stored, findings: Findings) -> None:
    """Stock never negative, and initial − what placed/paid/shipped orders hold."""
    held: Counter[int] = Counter()
    for order_id, order in stored.orders.items():
        if order["status"] in HOLDS_STOCK:
            for item in stored.items.get(order_id, []):
                held[item["product_id"]] += item["quantity"]
    for product_id in world.products:
        stock = stored.stock[product_id]
        if stock < 0:
            findings.add("stock never negative", f"product {product_id}: {stock}")
        expected = world.initial_stock[product_id] - held[product_id]
        if stock != expected:
            findings.add(
                "stock = initial − held",
                f"product {product_id}: stock {stock}, initial {world.initial_stock[product_id]}"
                f" − held {held[product_id]} = {expected}",
            )


def check_totals(stored: Stored, findings: Findings) -> None:
    for order_id, order in stored.orders.items():
        items = stored.items.get(order_id, [])
        total = sum((i["unit_price"] * i["quantity"] for i in items), Decimal("0.00"))
        if total != order["total"]:
            findings.add(
                "order total = sum of its items",
                f"order {order_id}: total {order['total']}, items sum to {total}",
            )


def check_audit(stored: Stored, findings: Findings) -> None:
    """One audit row per state change, matching the order's status; one event per change."""
    actions: dict[int, Counter[str]] = defaultdict(Counter)
    for row in stored.audit:
        if row["action"].startswith("order.") and str(row["resource_id"]).isdigit():
            actions[int(row["resource_id"])][row["action"]] += 1
    events: Counter[tuple[int, str]] = Counter(
        (e["order_id"], e["type"]) for e in stored.events if e["type"] in ORDER_EVENTS
    )
    for order_id, order in stored.orders.items():
        seen = actions.get(order_id, Counter())
        if seen["order.created"] != 1:
            findings.add(
                "one audit row per state change",
                f"order {order_id}: {seen['order.created']} × order.created",
            )
        changed = {a for a in STATE_CHANGES if seen[a]}
        status = order["status"]
        if status == "cancelled":
            consistent = "order.cancelled" in changed and (
                "order.paid" not in changed or "order.placed" in changed
            )
        else:
            consistent = changed == CHANGES_OF_STATUS.get(status)
        if not consistent:
            findings.add(
                "one audit row per state change",
                f"order {order_id} is {status}; audited {sorted(changed)}",
            )
        for action in STATE_CHANGES:
            if events[(order_id, action)] != seen[action]:
                findings.add(
                    "one outbox event per state change",
                    f"order {order_id}: {seen[action]} × {action} audited, "
                    f"{events[(order_id, action)]} events",
                )
    for order_id in set(actions) - set(stored.orders):
        findings.add("one audit row per state change", f"audit rows for missing order {order_id}")


def check_deliveries(stored: Stored, inbox: Inbox, findings: Findings) -> None:
    """Every subscribed event reached the receiver, signed with the endpoint's secret."""
    arrived = inbox.first_arrivals()
    subscribed = {f"evt_{e['id']}": e for e in stored.events if e["type"] in ORDER_EVENTS}
    for event_id, event in subscribed.items():
        if event_id in arrived:
            continue
        delivery = stored.deliveries.get(event["id"])
        state = (
            "no delivery row"
            if delivery is None
            else f"delivery {delivery['status']} after {delivery['attempt_count']} attempt(s)"
            f" {delivery['last_error'][:120]!r}"
        )
        findings.add("every subscribed event delivered", f"{event_id} {event['type']}: {state}")
    with inbox.lock:
        arrivals = list(inbox.arrivals)
        malformed = list(inbox.malformed)
    for arrival in arrivals:
        if not arrival.signature_valid:
            findings.add("every signature valid", f"{arrival.event_id} {arrival.event_type}")
        if not arrival.header_matches_body:
            findings.add("Backoffice-Event-Id names the body's event", arrival.event_id)
        if arrival.event_id not in subscribed:
            findings.add(
                "only subscribed events arrive", f"{arrival.event_id} {arrival.event_type}"
            )
    for body in malformed:
        findings.add("every delivery is an event", body)


# -- the summary -----------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def summary(
    workload: Workload,
    stored: Stored,
    inbox: Inbox,
    windows: list[FaultWindow],
    load_seconds: float,
) -> str:
    exchanges = workload.exchanges
    answered = [e for e in exchanges if e.status is not None]
    writes = [e for e in answered if e.method in ("POST", "PATCH")]
    statuses = Counter(e.status if e.status is not None else "conn-error" for e in exchanges)
    by_op: dict[str, Counter[Any]] = defaultdict(Counter)
    for e in exchanges:
        by_op[e.op][e.status if e.status is not None else "conn-error"] += 1
    kinds = Counter(e.kind for e in exchanges)
    arrivals = inbox.count()
    first = inbox.first_arrivals()
    created = {f"evt_{e['id']}": e["created"] for e in stored.events if e["type"] in ORDER_EVENTS}
    delays = [a.received_at - created[i] for i, a in first.items() if i in created]
    in_load = [e for e in exchanges if e.kind in ("first", "concurrent", "retry", "late")]
    lines = [
        f"requests: {len(exchanges)} ({len(in_load) / max(load_seconds, 1):.0f}/s during "
        f"{load_seconds:.0f} s of load); by kind {dict(kinds)}",
        f"statuses: {dict(sorted(statuses.items(), key=str))}",
        *(f"  {op}: {dict(sorted(c.items(), key=str))}" for op, c in sorted(by_op.items())),
        f"latency all: p50 {percentile([e.seconds for e in answered], 0.5) * 1000:.0f} ms, "
        f"p99 {percentile([e.seconds for e in answered], 0.99) * 1000:.0f} ms; writes: p50 "
        f"{percentile([e.seconds for e in writes], 0.5) * 1000:.0f} ms, "
        f"p99 {percentile([e.seconds for e in writes], 0.99) * 1000:.0f} ms",
        f"replayed answers: {sum(e.replayed for e in exchanges)}; "
        f"'in progress' 409s: {sum(e.in_progress for e in exchanges)}; "
        f"keys left in progress in the database: {stored.keys_in_progress}",
        f"orders: {len(stored.orders)} "
        f"{dict(Counter(o['status'] for o in stored.orders.values()))}; "
        f"stock left {sum(stored.stock.values())}",
        f"webhooks: {len(created)} subscribed events, {arrivals} arrivals ({len(first)} distinct, "
        f"{arrivals - len(first)} duplicates); first arrival after the event p50 "
        f"{percentile(delays, 0.5):.2f} s, p99 {percentile(delays, 0.99):.2f} s",
    ]
    for window in windows:
        lost = [e for e in exchanges if e.status is None and window.covers(e)]
        unavailable = [e for e in exchanges if e.status == 503 and window.covers(e)]
        lines.append(
            f"fault {window.name}: {window.start:.1f}–{window.end:.1f} s; "
            f"{len(lost)} connection errors, {len(unavailable)} × 503 in it"
        )
    if delays:
        lines.append(f"delivery delay mean {statistics.fmean(delays):.2f} s")
    return "\n".join(lines)
