"""The measurements: baselines side by side, the product's scenarios, cost growth, CSV."""

from __future__ import annotations

import random
import re
from typing import TYPE_CHECKING

import httpx

from bench.clients import (
    admin_cookie,
    admin_cursor,
    api_cursor,
    bearer,
    expect_status,
    export_csv,
    import_csv,
    import_file,
    page_ids,
)
from bench.context import PEER_ADMIN_USER, RESULTS_DIR, Context
from bench.database import SEED, fetch_column, fetch_value
from bench.load import Measurement, Target, WrkRun, median_of, run_wrk
from bench.processes import Peak, Server, rss_mb
from bench.report import ScalingRow, ThroughputRow
from bench.statements import Probe, database_times

if TYPE_CHECKING:
    from pathlib import Path

LIST_PATH = "/api/v1/products?limit=50"
BASELINE_NAMES = {
    "ceiling": "(a) ASGI ceiling: Starlette, page from memory",
    "floor": "(b) raw floor: Starlette + asyncpg + orjson",
    "drf": "(c) DRF peer: gunicorn, 1 sync worker",
}
PRODUCT_LIST = "products list, limit 50"
SEARCH_TERM = "oak"
ORDER_DETAIL = "order detail, every order in turn (customer + items)"
ORDERS_LIST = "orders list, limit 50 (customer + items)"
ADMIN_SEARCH = f"admin product list page, search {SEARCH_TERM} + active only"
PEER_NAMES = {
    "drf_nested": "(d) DRF nested order detail peer: gunicorn, 1 sync worker",
    "django_admin": "(e) Django admin changelist peer: gunicorn, 1 sync worker",
}
# The same page on both sides: 25 a page, newest first, the search and the is_active filter.
OUR_ADMIN_SEARCH = f"/admin/product/list?search={SEARCH_TERM}&is_active=true"
DJANGO_ADMIN_SEARCH = f"/admin/app/product/?q={SEARCH_TERM}&is_active__exact=1"
EXPECTED_ADMIN_ROWS = (
    "SELECT sku FROM products WHERE is_active AND (name ILIKE $1 OR sku ILIKE $1) "
    "ORDER BY id DESC LIMIT 25"
)
DJANGO_CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
PageKey = tuple[str, str, str | None]
# Page probes: 1 connection, this many 1-second wrk runs after a 1-second warm-up; median p50.
PROBE_RUNS = 5
CUSTOMER_BODY = '{"name": "Bench {unique}", "email": "bench-{unique}@example.com"}'


def _row(label: str, measurement: Measurement, rss: float | None) -> ThroughputRow:
    return ThroughputRow(scenario=label, measurement=measurement, rss_mb=rss)


async def _same_first_pages(
    client: httpx.AsyncClient, servers: dict[str, Server], token: str
) -> None:
    """Every implementation must answer the same first page before any of them is timed."""
    pages = {
        name: await page_ids(client, server.base_url + LIST_PATH, bearer(token))
        for name, server in servers.items()
    }
    expected = pages["product"]
    if len(expected) != 50 or any(ids != expected for ids in pages.values()):
        raise RuntimeError(f"the first pages differ: { {k: v[:3] for k, v in pages.items()} }")


async def head_to_head(ctx: Context, product: Server) -> None:
    """The product list and the three baselines, interleaved round by round at each concurrency."""
    servers = {"product": product} | {mode: ctx.baseline(mode) for mode in BASELINE_NAMES}
    try:
        async with httpx.AsyncClient(timeout=30) as client:
            await _same_first_pages(client, servers, ctx.credentials.token)
        targets = {
            name: Target(server.base_url + LIST_PATH, bearer(ctx.credentials.token))
            for name, server in servers.items()
        }
        pairs = {name: (server, targets[name]) for name, server in servers.items()}
        for connections in ctx.options.connections:
            results, peaks = await _interleaved(ctx, pairs, connections)
            _add_head_to_head_rows(ctx, results, peaks)
    finally:
        for mode in BASELINE_NAMES:
            ctx.stop(servers[mode])


async def _interleaved(
    ctx: Context, pairs: dict[str, tuple[Server, Target]], connections: int
) -> tuple[dict[str, Measurement], dict[str, Peak]]:
    """Warm each up, then round 1 of each, round 2 of each, …: a burst of other work on
    the machine hits them all alike. (median measurement, peak RSS) by name."""
    for _, target in pairs.values():
        await ctx.warm(target, connections)
    peaks = {name: Peak() for name in pairs}
    runs: dict[str, list[WrkRun]] = {name: [] for name in pairs}
    for _ in range(ctx.options.rounds):
        for name, (server, target) in pairs.items():
            runs[name].append(await ctx.one_round(server, target, connections, peaks[name]))
    return {name: median_of(measured, connections) for name, measured in runs.items()}, peaks


def _add_head_to_head_rows(
    ctx: Context, results: dict[str, Measurement], peaks: dict[str, Peak]
) -> None:
    ceiling = results["ceiling"].rps
    for mode, label in BASELINE_NAMES.items():
        row = _row(label, results[mode], peaks[mode].mb)
        if mode != "ceiling" and ceiling:
            row.ratios["ceiling"] = results[mode].rps / ceiling
        ctx.report.throughput.append(row)
    row = _row(f"{PRODUCT_LIST}, 1 worker", results["product"], peaks["product"].mb)
    row.ratios = {
        mode: results["product"].rps / results[mode].rps
        for mode in BASELINE_NAMES
        if results[mode].rps
    }
    ctx.report.throughput.append(row)


def product_targets(ctx: Context, server: Server, cookie: str) -> dict[str, Target]:
    """The product's own scenarios without a peer, at the server's URL (the order detail
    and the admin search page are measured beside their Django peers)."""
    token = bearer(ctx.credentials.token)
    base = server.base_url
    return {
        ORDERS_LIST: Target(f"{base}/api/v1/orders?limit=50", token),
        "create customer (POST, Idempotency-Key)": Target(
            f"{base}/api/v1/customers",
            token | {"Content-Type": "application/json"},
            method="POST",
            body=CUSTOMER_BODY,
            unique_header="Idempotency-Key",
        ),
        "GET /api/v1/me": Target(f"{base}/api/v1/me", token),
        "admin product list page": Target(f"{base}/admin/product/list", {"Cookie": cookie}),
    }


async def product_scenarios(ctx: Context, server: Server) -> None:
    """Each product scenario at the first concurrency level, one after the other."""
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        cookie = await admin_cookie(client, ctx.credentials)
        await expect_status(
            client, "GET", "/admin/product/list", 200, {"Cookie": cookie}
        )  # a logged-in page, not the login form again
    connections = ctx.options.connections[0]
    for label, target in product_targets(ctx, server, cookie).items():
        measurement, rss = await ctx.measure(server, target, connections)
        ctx.report.throughput.append(_row(label, measurement, rss))


async def against_django_peers(ctx: Context, product: Server) -> None:
    """Order detail beside DRF's nested detail, the admin search page beside Django's admin
    changelist: each pair interleaved round by round at the first concurrency."""
    connections = ctx.options.connections[0]
    await _order_detail_pair(ctx, product, connections)
    await _admin_pair(ctx, product, connections)


async def _order_paths(ctx: Context) -> Path:
    """Every order's `/api/v1/orders/{id}`, in one fixed shuffled order, for both sides."""
    ids = await fetch_column(ctx.database_url, "SELECT id FROM orders ORDER BY id")
    random.Random(SEED).shuffle(ids)
    path = RESULTS_DIR / "order-paths.txt"
    path.write_text("".join(f"/api/v1/orders/{i}\n" for i in ids))
    return path


async def _order_detail_pair(ctx: Context, product: Server, connections: int) -> None:
    peer = ctx.baseline("drf_nested")
    try:
        paths = await _order_paths(ctx)
        first = paths.read_text().split("\n", 1)[0]
        token = bearer(ctx.credentials.token)
        pairs = {
            name: (server, Target(server.base_url + first, token, paths_file=paths))
            for name, server in (("product", product), ("peer", peer))
        }
        async with httpx.AsyncClient(timeout=30) as client:
            await _same_orders(client, pairs, token, paths.read_text().split()[::500])
        results, peaks = await _interleaved(ctx, pairs, connections)
    finally:
        ctx.stop(peer)
    _add_pair_rows(ctx, "drf_nested", ORDER_DETAIL, "drf", results, peaks)


async def _same_orders(
    client: httpx.AsyncClient,
    pairs: dict[str, tuple[Server, Target]],
    headers: dict[str, str],
    paths: list[str],
) -> None:
    """Both sides must answer the same JSON for a sample of the orders before timing."""
    for path in paths:
        answers = [
            (await expect_status(client, "GET", server.base_url + path, 200, headers)).json()
            for server, _ in pairs.values()
        ]
        if answers[0] != answers[1]:
            raise RuntimeError(f"GET {path}: the peer answers differently: {answers}")


async def _admin_pair(ctx: Context, product: Server, connections: int) -> None:
    peer = ctx.baseline("django_admin")
    try:
        expected = [
            str(sku)
            for sku in await fetch_column(ctx.database_url, EXPECTED_ADMIN_ROWS, f"%{SEARCH_TERM}%")
        ]
        async with httpx.AsyncClient(base_url=product.base_url, timeout=30) as client:
            ours = await admin_cookie(client, ctx.credentials)
            page = await expect_status(client, "GET", OUR_ADMIN_SEARCH, 200, {"Cookie": ours})
            _expect_rows("admin product list", page.text, expected)
        async with httpx.AsyncClient(base_url=peer.base_url, timeout=30) as client:
            theirs = await _django_admin_cookie(client, ctx.peer_admin_password)
            page = await expect_status(client, "GET", DJANGO_ADMIN_SEARCH, 200, {"Cookie": theirs})
            _expect_rows("Django admin changelist", page.text, expected)
        pairs = {
            "product": (product, Target(product.base_url + OUR_ADMIN_SEARCH, {"Cookie": ours})),
            "peer": (peer, Target(peer.base_url + DJANGO_ADMIN_SEARCH, {"Cookie": theirs})),
        }
        results, peaks = await _interleaved(ctx, pairs, connections)
    finally:
        ctx.stop(peer)
    _add_pair_rows(ctx, "django_admin", ADMIN_SEARCH, "admin", results, peaks)


def _expect_rows(page: str, html: str, skus: list[str]) -> None:
    """The page shows the 25 expected rows (by SKU) and says it is logged in (no form)."""
    missing = [sku for sku in skus if sku not in html]
    if len(skus) != 25 or missing or 'type="password"' in html:
        raise RuntimeError(f"{page}: not the expected logged-in page (missing {missing[:3]})")


async def _django_admin_cookie(client: httpx.AsyncClient, password: str) -> str:
    """Log in to the Django admin (its CSRF form); the `Cookie` header of the session."""
    page = await expect_status(client, "GET", "/admin/login/", 200, {})
    match = DJANGO_CSRF_FIELD.search(page.text)
    if match is None:
        raise RuntimeError("Django admin login page: no CSRF field")
    response = await client.post(
        "/admin/login/?next=/admin/",
        data={
            "username": PEER_ADMIN_USER,
            "password": password,
            "csrfmiddlewaretoken": match.group(1),
            "next": "/admin/",
        },
        follow_redirects=False,
    )
    session = response.cookies.get("sessionid")
    if response.status_code != 302 or session is None:
        raise RuntimeError(f"Django admin login refused: HTTP {response.status_code}")
    return f"sessionid={session}"


def _add_pair_rows(
    ctx: Context,
    peer: str,
    label: str,
    ratio: str,
    results: dict[str, Measurement],
    peaks: dict[str, Peak],
) -> None:
    ctx.report.throughput.append(_row(PEER_NAMES[peer], results["peer"], peaks["peer"].mb))
    row = _row(label, results["product"], peaks["product"].mb)
    if results["peer"].rps:
        row.ratios[ratio] = results["product"].rps / results["peer"].rps
    ctx.report.throughput.append(row)


async def two_workers(ctx: Context) -> None:
    """The product list again with `--workers 2` (compared with the 1-worker baselines)."""
    server = ctx.product(2)
    try:
        target = Target(server.base_url + LIST_PATH, bearer(ctx.credentials.token))
        baselines = {
            row.measurement.connections: row
            for row in ctx.report.throughput
            if row.scenario.startswith(f"{PRODUCT_LIST}, 1 worker")
        }
        for connections in ctx.options.connections:
            measurement, rss = await ctx.measure(server, target, connections)
            row = _row(f"{PRODUCT_LIST}, 2 workers", measurement, rss)
            one = baselines.get(connections)
            if one is not None and one.ratios:
                # Ratios to the same baselines (1 worker each): a second process, same cores.
                scale = measurement.rps / one.measurement.rps
                row.ratios = {name: ratio * scale for name, ratio in one.ratios.items()}
            ctx.report.throughput.append(row)
    finally:
        ctx.stop(server)


def statement_probes(ctx: Context) -> list[Probe]:
    probes = [
        Probe(f"{resource} list, limit={limit}", f"/api/v1/{resource}?limit={limit}")
        for resource in ("products", "orders", "customers")
        for limit in (1, 50, 200)
    ]
    return [
        *probes,
        Probe("order detail", f"/api/v1/orders/{ctx.order_id}"),
        Probe(
            "create customer",
            "/api/v1/customers",
            method="POST",
            status=201,
            body=lambda u: {"name": f"Count {u}", "email": f"count-{u}@example.com"},
        ),
        Probe("GET /api/v1/me", "/api/v1/me"),
        Probe("admin product list", "/admin/product/list", admin=True),
        Probe("admin product list, search + filter", OUR_ADMIN_SEARCH, admin=True),
        Probe(
            "unknown token (401): the token lookup alone",
            "/api/v1/products?limit=50",
            status=401,
            headers={"Authorization": "Bearer bo_" + "x" * 43},
        ),
    ]


# The statements column of the throughput table: scenario label prefix → probe label
# (the longest matching prefix wins).
STATEMENT_COLUMN = {
    PRODUCT_LIST: "products list, limit=50",
    "order detail": "order detail",
    "orders list": "orders list, limit=50",
    "create customer": "create customer",
    "GET /api/v1/me": "GET /api/v1/me",
    "admin product list": "admin product list",
    ADMIN_SEARCH: "admin product list, search + filter",
}


def fill_statement_column(ctx: Context) -> None:
    for row in ctx.report.throughput:
        prefixes = [p for p in STATEMENT_COLUMN if row.scenario.startswith(p)]
        if prefixes:
            row.statements = ctx.report.statements.get(STATEMENT_COLUMN[max(prefixes, key=len)])


def page_urls(ctx: Context, max_id: int) -> dict[PageKey, tuple[str, bool]]:
    """(list, page, search) → (path, is_admin) for the first, a middle and the last page."""
    middle = max_id // 2
    urls: dict[PageKey, tuple[str, bool]] = {}
    for search in (None, SEARCH_TERM):
        q = f"&q={search}" if search else ""
        urls[("API", "first", search)] = (f"{LIST_PATH}{q}", False)
        urls[("API", "middle", search)] = (
            f"{LIST_PATH}{q}&cursor={api_cursor(ctx.secret_key, middle)}",
            False,
        )
        urls[("API", "last", search)] = (
            f"{LIST_PATH}{q}&cursor={api_cursor(ctx.secret_key, max_id - 50)}",
            False,
        )
        s = f"search={search}&" if search else ""
        urls[("admin", "first", search)] = (f"/admin/product/list?{s}".rstrip("?&"), True)
        urls[("admin", "middle", search)] = (
            f"/admin/product/list?{s}after={admin_cursor(ctx.secret_key, middle)}",
            True,
        )
        urls[("admin", "last", search)] = (f"/admin/product/list?{s}last=1", True)
    return urls


# (HTTP p50 at 1 connection, database ms or None when the page failed, wrk errors)
PageCost = tuple[float, float | None, int]


async def page_costs(ctx: Context, server: Server) -> dict[PageKey, PageCost]:
    """What each page costs at the current table size; a failing page is recorded with its
    errors (a target not met), not allowed to end the run."""
    max_id = int(await fetch_value(ctx.database_url, "SELECT max(id) FROM products") or 0)
    urls = page_urls(ctx, max_id)
    db = await database_times(ctx.database_url, ctx.product_env(), ctx.credentials, urls)
    http = await _page_latencies(ctx, server, urls)
    return {key: (http[key][0], db.get(key), http[key][1]) for key in urls}


async def _page_latencies(
    ctx: Context, server: Server, urls: dict[PageKey, tuple[str, bool]]
) -> dict[PageKey, tuple[float, int]]:
    results: dict[PageKey, tuple[float, int]] = {}
    async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as client:
        cookie = await admin_cookie(client, ctx.credentials)
    for key, (path, is_admin) in urls.items():
        headers = {"Cookie": cookie} if is_admin else bearer(ctx.credentials.token)
        target = Target(server.base_url + path, headers)
        await run_wrk(target, connections=1, seconds=1, run_id="probe-warm")
        runs = [
            await run_wrk(target, connections=1, seconds=1, run_id="probe")
            for _ in range(PROBE_RUNS)
        ]
        measured = median_of(runs, 1)
        if measured.errors:
            print(f"warning: {path}: {measured.errors} errors while probing", flush=True)
        results[key] = (measured.p50_ms, measured.errors)
    return results


def record_scaling(ctx: Context, small: dict[PageKey, PageCost]) -> None:
    for (surface, page, search), (p50, db, errors) in small.items():
        ctx.report.scaling.append(
            ScalingRow(surface, page, search, p50, db_small_ms=db, errors=errors)
        )


def record_large(ctx: Context, large: dict[PageKey, PageCost]) -> None:
    for row in ctx.report.scaling:
        cost = large.get((row.surface, row.page, row.search))
        if cost is not None:
            row.p50_large_ms, row.db_large_ms = cost[0], cost[1]
            row.errors += cost[2]


async def csv_transfers(ctx: Context, server: Server) -> None:
    """Export every product (time, RSS), then import a new CSV file (time, RSS)."""
    token = ctx.credentials.token
    async with httpx.AsyncClient(base_url=server.base_url, timeout=None) as client:
        before = max(filter(None, (rss_mb(pid) for pid in server.worker_pids())), default=0.0)
        with ctx.sampler.watch(server) as peak:
            exported = await export_csv(client, token)
        ctx.report.transfers["export products.csv"] = {
            "lines": exported.lines - 1,
            "size_mb": exported.size_mb,
            "seconds": exported.seconds,
            "rss_before_mb": before,
            "rss_peak_mb": peak.mb,
            "result": f"{exported.lines - 1:,} rows streamed",
        }
        data = import_file(ctx.options.import_rows)
        before = max(filter(None, (rss_mb(pid) for pid in server.worker_pids())), default=0.0)
        with ctx.sampler.watch(server) as peak:
            imported = await import_csv(client, token, data)
        report = imported.detail
        ctx.report.transfers["import products (CSV)"] = {
            "lines": imported.lines,
            "size_mb": imported.size_mb,
            "seconds": imported.seconds,
            "rss_before_mb": before,
            "rss_peak_mb": peak.mb,
            "result": f"applied={report.get('applied')}, created={report.get('created')}, "
            f"updated={report.get('updated')}",
        }
