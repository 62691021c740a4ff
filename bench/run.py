"""`make bench`: throughput, latency, statements and memory of Backoffice against its baselines.

Creates a throwaway PostgreSQL database, seeds it in bulk, serves the product with its
production command and drives it (and the baselines of SPEC §11) with wrk. The database
and every process it started are removed on exit, also on failure, Ctrl-C or SIGTERM.
See docs/performance.md for what each scenario measures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import secrets
import signal
import subprocess
import sys
import time
import traceback
from datetime import UTC, datetime
from types import FrameType

from bench import database, scenarios
from bench.context import REGISTRY, RESULTS_DIR, Context, Options
from bench.environment import SetupError, ensure_baselines_venv, ensure_wrk
from bench.processes import RssSampler, Server
from bench.report import Report, render_text, write
from bench.statements import count_statements
from bench.targets import judge


def parse_options(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__.splitlines()[0])
    default = Options()
    parser.add_argument("--rounds", type=int, default=default.rounds)
    parser.add_argument("--seconds", type=float, default=default.seconds, help="per round")
    parser.add_argument("--warmup", type=float, default=default.warmup)
    parser.add_argument(
        "--connections", default=",".join(map(str, default.connections)), help="e.g. 16,64"
    )
    parser.add_argument("--products", type=int, default=default.products)
    parser.add_argument(
        "--large-products",
        type=int,
        default=default.large_products,
        help="0 skips the large-table phase (growth, export, import)",
    )
    parser.add_argument("--import-rows", type=int, default=default.import_rows)
    args = parser.parse_args(argv)
    return Options(
        rounds=args.rounds,
        seconds=args.seconds,
        warmup=args.warmup,
        connections=tuple(int(c) for c in args.connections.split(",") if c.strip()),
        products=args.products,
        large_products=args.large_products,
        import_rows=args.import_rows,
    )


def _say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


async def run(options: Options, name: str, servers: list[Server], report: Report) -> None:
    _say(f"database {name}: migrating and seeding {options.products:,} products")
    url, credentials, timings = await database.seed(name, options.products)
    report.meta["seeding"] = timings
    order_id = await database.fetch_value(
        url,
        "SELECT order_id FROM order_items GROUP BY order_id HAVING count(*) = 3 "
        "ORDER BY order_id LIMIT 1",
    )
    with RssSampler() as sampler:
        ctx = Context(
            options=options,
            database_name=name,
            database_url=url,
            credentials=credentials,
            secret_key=secrets.token_urlsafe(48),
            sampler=sampler,
            report=report,
            servers=servers,
            order_id=int(order_id or 1),
        )
        try:
            await _phases(ctx)
        finally:
            report.peak_rss_mb = dict(sampler.overall)


async def _phases(ctx: Context) -> None:
    options, report = ctx.options, ctx.report
    product = ctx.product(1)
    _say("product list against the ceiling, the raw floor and DRF")
    await scenarios.head_to_head(ctx, product)
    _say("order detail and the admin search page against their Django peers")
    await scenarios.against_django_peers(ctx, product)
    _say("the product's other scenarios")
    await scenarios.product_scenarios(ctx, product)
    _say("the product list with 2 workers")
    await scenarios.two_workers(ctx)
    _say("statements per request (in process)")
    report.statements = await count_statements(
        ctx.database_url, ctx.product_env(), ctx.credentials, scenarios.statement_probes(ctx)
    )
    scenarios.fill_statement_column(ctx)
    _say(f"page latencies at {options.products:,} products")
    scenarios.record_scaling(ctx, await scenarios.page_costs(ctx, product))
    if options.large_products > options.products:
        _say(f"growing to {options.large_products:,} products")
        grown = await database.grow(ctx.database_url, options.products, options.large_products)
        report.meta["seeding"]["grow_large_s"] = round(grown, 1)
        _say(f"page latencies at {options.large_products:,} products")
        scenarios.record_large(ctx, await scenarios.page_costs(ctx, product))
        _say("CSV export and import")
        await scenarios.csv_transfers(ctx, product)
    ctx.stop(product)


def _machine() -> str:
    model = ""
    try:
        with open("/proc/cpuinfo") as handle:
            model = next((ln.split(":", 1)[1].strip() for ln in handle if "model name" in ln), "")
    except OSError:
        pass
    with open("/proc/meminfo") as handle:
        memory = int(handle.readline().split()[1]) / 1024 / 1024
    return f"{os.cpu_count()} cores ({model}), {memory:.0f} GB RAM, {platform.platform()}"


def _wrk_version() -> str:
    output = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    words = (output.stdout + output.stderr).split()
    return words[1] if len(words) > 1 else "?"


def _interrupt(signum: int, _: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    started = time.monotonic()
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)
    name = database.new_database_name()
    servers: list[Server] = []
    created = False
    report = Report(
        meta={
            "started_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "sizes": [f"{options.products:,}", f"{options.large_products:,}"],
            "rounds": options.rounds,
            "seconds": options.seconds,
            "warmup": options.warmup,
            "python": sys.version.split()[0],
            "cores": os.cpu_count(),
            "load_before": round(os.getloadavg()[0], 2),
        }
    )
    failed = False
    try:
        REGISTRY.reap_orphans()
        ensure_wrk()
        ensure_baselines_venv()
        report.meta |= {"machine": _machine(), "wrk_version": _wrk_version()}
        created = True  # from here on a half-created database is dropped too
        asyncio.run(database.create_database(name))
        asyncio.run(run(options, name, servers, report))
    except KeyboardInterrupt:
        _say("interrupted: cleaning up")
        return 130
    except SetupError as exc:
        _say(f"error: {exc}")
        return 2
    except Exception:
        # What was measured before the failure is still worth a report.
        traceback.print_exc()
        report.meta["incomplete"] = "the run failed part-way; see the traceback above"
        failed = True
    finally:
        cleanup(servers, name if created else None)
    report.meta["elapsed_s"] = time.monotonic() - started
    report.meta["load_after"] = round(os.getloadavg()[0], 2)
    report.targets = judge(report, scenarios.PRODUCT_LIST, report.meta["elapsed_s"])
    print("\n" + render_text(report))
    for path in write(report, RESULTS_DIR):
        _say(f"wrote {path.relative_to(RESULTS_DIR.parent.parent)}")
    return 1 if failed else 0


def cleanup(servers: list[Server], database_name: str | None) -> None:
    """Stop every server and drop the database, ignoring further Ctrl-C meanwhile."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        for server in servers:
            try:
                server.stop()
            except Exception as exc:
                _say(f"could not stop {server.name}: {exc}")
        if database_name is not None:
            try:
                asyncio.run(database.drop_database(database_name))
                _say(f"dropped database {database_name}")
            except Exception as exc:
                _say(f"could not drop database {database_name}: {exc}")
    finally:
        signal.signal(signal.SIGINT, previous)


if __name__ == "__main__":
    sys.exit(main())
