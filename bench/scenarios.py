"""The measurements: baselines side by side, the product's scenarios, cost growth, CSV."""

from __future__ import annotations

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
from bench.context import Context
from bench.database import fetch_value
from bench.load import Measurement, Target, WrkRun, median_of, run_wrk
from bench.processes import Peak, Server, rss_mb
from bench.report import ScalingRow, ThroughputRow
from bench.statements import Probe, database_times

LIST_PATH = "/api/v1/products?limit=50"
BASELINE_NAMES = {
    "ceiling": "(a) ASGI ceiling: Starlette, page from memory",
    "floor": "(b) raw floor: Starlette + asyncpg + orjson",
    "drf": "(c) DRF peer: gunicorn, 1 sync worker",
}
PRODUCT_LIST = "products list, limit 50"
SEARCH_TERM = "oak"
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
        for connections in ctx.options.connections:
            for name in servers:
                await ctx.warm(targets[name], connections)
            peaks = {name: Peak() for name in servers}
            runs: dict[str, list[WrkRun]] = {name: [] for name in servers}
            for _ in range(ctx.options.rounds):
                for name, server in servers.items():
                    runs[name].append(
                        await ctx.one_round(server, targets[name], connections, peaks[name])
                    )
            results = {name: median_of(measured, connections) for name, measured in runs.items()}
            _add_head_to_head_rows(ctx, results, peaks)
    finally:
        for mode in BASELINE_NAMES:
            ctx.stop(servers[mode])


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
    """The product's own scenarios (beyond the product list), at the server's URL."""
    token = bearer(ctx.credentials.token)
    base = server.base_url
    return {
        "order detail (customer + items)": Target(f"{base}/api/v1/orders/{ctx.order_id}", token),
        "orders list, limit 50 (customer + items)": Target(f"{base}/api/v1/orders?limit=50", token),
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
        Probe(
            "unknown token (401): the token lookup alone",
            "/api/v1/products?limit=50",
            status=401,
            headers={"Authorization": "Bearer bo_" + "x" * 43},
        ),
    ]


# The statements column of the throughput table: scenario label prefix → probe label.
STATEMENT_COLUMN = {
    PRODUCT_LIST: "products list, limit=50",
    "order detail": "order detail",
    "orders list": "orders list, limit=50",
    "create customer": "create customer",
    "GET /api/v1/me": "GET /api/v1/me",
    "admin product list": "admin product list",
}


def fill_statement_column(ctx: Context) -> None:
    for row in ctx.report.throughput:
        for prefix, label in STATEMENT_COLUMN.items():
            if row.scenario.startswith(prefix):
                row.statements = ctx.report.statements.get(label)


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


async def page_costs(ctx: Context, server: Server) -> dict[PageKey, tuple[float, float]]:
    """(HTTP p50 at 1 connection, database ms) of each page at the current table size."""
    max_id = int(await fetch_value(ctx.database_url, "SELECT max(id) FROM products") or 0)
    urls = page_urls(ctx, max_id)
    db = await database_times(ctx.database_url, ctx.product_env(), ctx.credentials, urls)
    http = await _page_latencies(ctx, server, urls)
    return {key: (http[key], db[key]) for key in urls}


async def _page_latencies(
    ctx: Context, server: Server, urls: dict[PageKey, tuple[str, bool]]
) -> dict[PageKey, float]:
    results: dict[PageKey, float] = {}
    async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as client:
        cookie = await admin_cookie(client, ctx.credentials)
        for key, (path, is_admin) in urls.items():
            headers = {"Cookie": cookie} if is_admin else bearer(ctx.credentials.token)
            await expect_status(client, "GET", path, 200, headers)
            target = Target(server.base_url + path, headers)
            await run_wrk(target, connections=1, seconds=1, run_id="probe-warm")
            runs = [
                await run_wrk(target, connections=1, seconds=1, run_id="probe")
                for _ in range(PROBE_RUNS)
            ]
            measured = median_of(runs, 1)
            if measured.errors:
                raise RuntimeError(f"{path}: {measured.errors} errors while probing")
            results[key] = measured.p50_ms
    return results


def record_scaling(ctx: Context, small: dict[PageKey, tuple[float, float]]) -> None:
    for (surface, page, search), (p50, db) in small.items():
        ctx.report.scaling.append(ScalingRow(surface, page, search, p50, db_small_ms=db))


def record_large(ctx: Context, large: dict[PageKey, tuple[float, float]]) -> None:
    for row in ctx.report.scaling:
        row.p50_large_ms, row.db_large_ms = large.get(
            (row.surface, row.page, row.search), (None, None)
        )


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
