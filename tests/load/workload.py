"""Concurrent API clients: orders on scarce stock, If-Match races, keyed and repeated writes.

Every request and its answer is kept as an `Exchange`; the invariants are checked from
those records and the database afterwards, never from what a client believed.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx

REQUEST_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
# Shorter than uvicorn's 5 s keep-alive: a client never reuses a connection the server is
# closing at that very moment (a race no fault caused).
LIMITS = httpx.Limits(keepalive_expiry=3.0)
# A well-behaved client re-sends a keyed write whose outcome it does not know, for a while.
KEYED_ATTEMPTS = 6
RETRY_AFTER_CAP = 2.0
CONCURRENT_REPEAT_SHARE = 0.10
LATE_REPEAT_SHARE = 0.05
PATCH_RACE_SHARE = 0.10
READ_SHARE = 0.08
ORDER_EVENTS = ("order.placed", "order.paid", "order.shipped", "order.cancelled")


@dataclass
class Clock:
    """Seconds since the load started (monotonic), shared by clients and fault injection."""

    started: float = field(default_factory=time.monotonic)

    def now(self) -> float:
        return time.monotonic() - self.started


@dataclass
class Exchange:
    """One request and its answer (status None: the connection failed, `error` says how)."""

    client: int
    op: str  # create, place, pay, cancel, patch, read, setup
    kind: str  # first, concurrent, retry, late, resolve
    method: str
    path: str
    key: str | None
    body: Any
    if_match: str | None
    request_id: str
    sent_at: float
    seconds: float = 0.0
    status: int | None = None
    error: str | None = None
    answer: Any = None
    retry_after: str | None = None
    etag: str | None = None
    replayed: bool = False

    @property
    def ended_at(self) -> float:
        return self.sent_at + self.seconds

    @property
    def in_progress(self) -> bool:
        """A 409 saying another request under this key still runs (not the request's answer)."""
        if self.status != 409 or not isinstance(self.answer, dict):
            return False
        kind = str(self.answer.get("type", ""))
        detail = str(self.answer.get("detail", ""))
        return kind.endswith("idempotency-in-progress") or (
            "idempotency" in kind and "in progress" in detail
        )

    @property
    def final(self) -> bool:
        """An answer the request's effect can be judged by: not lost, not a server failure,
        not "still in progress"."""
        return self.status is not None and self.status < 500 and not self.in_progress

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def brief(self) -> str:
        what = self.error if self.status is None else _short(self.answer)
        key = f" key={self.key}" if self.key else ""
        return (
            f"t={self.sent_at:6.1f}s {self.method} {self.path} [{self.op}/{self.kind}]{key} "
            f"rid={self.request_id} -> {self.status}: {what}"
        )


def _short(answer: Any) -> str:
    if isinstance(answer, dict):
        if "detail" in answer:
            return f"{answer.get('type')}: {answer.get('detail')}"
        return json.dumps({k: answer[k] for k in list(answer)[:4]}, default=str)[:200]
    return str(answer)[:200]


@dataclass(frozen=True)
class KeyedWrite:
    """A POST sent with an Idempotency-Key: what any repeat of it must send again."""

    op: str
    path: str
    body: Any
    key: str
    client: int


@dataclass
class World:
    """What setup made and the clients share."""

    products: list[int]
    initial_stock: dict[int, int]
    customers: list[int]


def new_key() -> str:
    return f"soak-{uuid.uuid4().hex}"


class Workload:
    """N clients for a while, then the repeats that find out what happened to every key."""

    def __init__(
        self, base_url: str, token: str, world: World, clock: Clock, *, clients: int, seed: int
    ) -> None:
        self.base_url = base_url
        self.token = token
        self.world = world
        self.clock = clock
        self.client_count = clients
        self.seed = seed
        self.exchanges: list[Exchange] = []
        self.keyed: dict[str, KeyedWrite] = {}
        self.load_ended_at: float | None = None

    def http_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=REQUEST_TIMEOUT,
            limits=LIMITS,
        )

    async def run(self, seconds: float) -> None:
        """Every client loops until `seconds` after the clock started."""
        clients = [
            Client(number, self, random.Random(f"{self.seed}-{number}"))
            for number in range(self.client_count)
        ]
        try:
            await asyncio.gather(*(client.loop(until=seconds) for client in clients))
        finally:
            self.load_ended_at = self.clock.now()
            await asyncio.gather(*(client.http.aclose() for client in clients))

    def answers_for(self, key: str) -> list[Exchange]:
        return [e for e in self.exchanges if e.key == key]

    def unresolved_keys(self) -> list[str]:
        """Keys none of whose exchanges got a final answer (lost, 5xx, still in progress)."""
        final = {e.key for e in self.exchanges if e.key and e.final}
        return [key for key in self.keyed if key not in final]

    async def resolve(self, keys: Iterable[str], *, attempts: int, pause: float) -> None:
        """Re-send each key (as its client would) until it has a final answer."""
        await self._each(
            keys, lambda client, write: client.settle(write, attempts, pause, kind="resolve")
        )

    async def repeat_late(self, keys: Iterable[str]) -> None:
        """Re-send each key once: a late repeat must get the first final answer back."""
        await self._each(keys, lambda client, write: client.send_keyed(write, "late"))

    async def _each(
        self, keys: Iterable[str], action: Callable[[Client, KeyedWrite], Awaitable[object]]
    ) -> None:
        clients = [Client(1000 + n, self, random.Random(n)) for n in range(16)]
        queue: asyncio.Queue[KeyedWrite] = asyncio.Queue()
        for key in keys:
            queue.put_nowait(self.keyed[key])

        async def drain(client: Client) -> None:
            while not queue.empty():
                await action(client, queue.get_nowait())

        try:
            await asyncio.gather(*(drain(client) for client in clients))
        finally:
            await asyncio.gather(*(client.http.aclose() for client in clients))


class Client:
    """One API user: its own connections, its own random choices, every exchange recorded."""

    def __init__(self, number: int, workload: Workload, rng: random.Random) -> None:
        self.number = number
        self.workload = workload
        self.rng = rng
        self.http = workload.http_client()
        self.sequence = 0
        self.history: list[KeyedWrite] = []

    # -- one request -------------------------------------------------------------------

    async def send(
        self,
        op: str,
        kind: str,
        method: str,
        path: str,
        *,
        key: str | None = None,
        body: Any = None,
        if_match: str | None = None,
    ) -> Exchange:
        self.sequence += 1
        request_id = f"soak-{self.number:04d}-{self.sequence:06d}"
        headers = {"X-Request-ID": request_id}
        if key:
            headers["Idempotency-Key"] = key
        if if_match:
            headers["If-Match"] = if_match
        exchange = Exchange(
            client=self.number,
            op=op,
            kind=kind,
            method=method,
            path=path,
            key=key,
            body=body,
            if_match=if_match,
            request_id=request_id,
            sent_at=self.workload.clock.now(),
        )
        self.workload.exchanges.append(exchange)
        started = time.monotonic()
        try:
            response = await self.http.request(method, path, json=body, headers=headers)
        except httpx.HTTPError as exc:
            exchange.error = f"{type(exc).__name__}: {exc}"[:300]
        else:
            exchange.status = response.status_code
            exchange.retry_after = response.headers.get("Retry-After")
            exchange.etag = response.headers.get("ETag")
            exchange.replayed = response.headers.get("Idempotent-Replayed") == "true"
            try:
                exchange.answer = response.json()
            except ValueError:
                exchange.answer = response.text[:500]
        exchange.seconds = time.monotonic() - started
        return exchange

    async def send_keyed(self, write: KeyedWrite, kind: str) -> Exchange:
        return await self.send(write.op, kind, "POST", write.path, key=write.key, body=write.body)

    # -- keyed writes, as a careful client makes them -------------------------------------

    async def write(self, op: str, path: str, body: Any) -> Exchange | None:
        """POST with a new key (now and then twice at once), re-sent until it has a final
        answer or the attempts run out; the final answer, or None if it never came."""
        write = KeyedWrite(op, path, body, new_key(), self.number)
        self.workload.keyed[write.key] = write
        self.history.append(write)
        if self.rng.random() < CONCURRENT_REPEAT_SHARE:
            pair = await asyncio.gather(
                self.send_keyed(write, "first"), self.send_keyed(write, "concurrent")
            )
            done = [e for e in pair if e.final]
            if done:
                return next((e for e in done if e.succeeded), done[0])
            last = pair[0]
        else:
            last = await self.send_keyed(write, "first")
            if last.final:
                return last
        return await self.settle(write, KEYED_ATTEMPTS - 1, pause=0.3, last=last)

    async def settle(
        self,
        write: KeyedWrite,
        attempts: int,
        pause: float,
        last: Exchange | None = None,
        kind: str = "retry",
    ) -> Exchange | None:
        """Re-send `write` until a final answer (honouring Retry-After, capped)."""
        for _ in range(attempts):
            wait = pause
            if last is not None and last.retry_after and last.retry_after.isdigit():
                wait = min(float(last.retry_after), RETRY_AFTER_CAP)
            await asyncio.sleep(wait * self.rng.uniform(0.8, 1.2))
            last = await self.send_keyed(write, kind)
            if last.final:
                return last
        return None

    # -- what a client does ---------------------------------------------------------------

    async def loop(self, until: float) -> None:
        while self.workload.clock.now() < until:
            roll = self.rng.random()
            if roll < PATCH_RACE_SHARE:
                await self.patch_race()
            elif roll < PATCH_RACE_SHARE + READ_SHARE:
                await self.read()
            elif roll < PATCH_RACE_SHARE + READ_SHARE + LATE_REPEAT_SHARE and self.history:
                await self.send_keyed(self.rng.choice(self.history), "late")
            else:
                await self.order_life()

    def pick_items(self) -> list[dict[str, int]]:
        """1–3 scarce products in a random order (not sorted: lock order is the server's job)."""
        products = self.rng.sample(self.workload.world.products, self.rng.randint(1, 3))
        return [{"product_id": pid, "quantity": self.rng.randint(1, 3)} for pid in products]

    async def order_life(self) -> None:
        """Create a draft with items; then cancel it, or place it and pay, cancel or keep."""
        body = {
            "customer_id": self.rng.choice(self.workload.world.customers),
            "items": self.pick_items(),
        }
        # The notes carry a tag of the create, so the database tells which request made
        # a row even when its answer was lost.
        body["notes"] = f"soak-order-{uuid.uuid4().hex}"
        created = await self.write("create", "/api/v1/orders", body)
        if created is None or created.status != 201 or not isinstance(created.answer, dict):
            return
        order = f"/api/v1/orders/{created.answer['id']}"
        if self.rng.random() < 0.12:
            await self.write("cancel", f"{order}/cancel", None)
            return
        placed = await self.write("place", f"{order}/place", None)
        if placed is None or placed.status != 200:
            if self.rng.random() < 0.5:
                await self.write("cancel", f"{order}/cancel", None)
            return
        roll = self.rng.random()
        if roll < 0.30:
            await self.write("cancel", f"{order}/cancel", None)
        elif roll < 0.85:
            paid = await self.write("pay", f"{order}/pay", None)
            if paid is not None and paid.status == 200 and self.rng.random() < 0.25:
                await self.write("cancel", f"{order}/cancel", None)

    async def patch_race(self) -> None:
        """Read a product, then 2–3 PATCHes with the same If-Match at once: one may win."""
        path = f"/api/v1/products/{self.rng.choice(self.workload.world.products)}"
        read = await self.send("read", "first", "GET", path)
        if read.status != 200 or not read.etag:
            return
        bodies = [
            {
                "description": f"soak-patch-{uuid.uuid4().hex}",
                "price": f"{self.rng.randint(100, 9999) / 100:.2f}",
            }
            for _ in range(self.rng.choice((2, 2, 3)))
        ]
        await asyncio.gather(
            *(
                self.send(
                    "patch",
                    "first" if index == 0 else "concurrent",
                    "PATCH",
                    path,
                    body=body,
                    if_match=read.etag,
                )
                for index, body in enumerate(bodies)
            )
        )

    async def read(self) -> None:
        path = self.rng.choice(
            ("/api/v1/orders?limit=20", "/api/v1/products?limit=50", "/api/v1/orders?status=placed")
        )
        await self.send("read", "first", "GET", path)
