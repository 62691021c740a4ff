"""Profile one scenario of the product under wrk load with py-spy: where a request's time goes.

    .venv/bin/python -m bench.profile [--path /api/v1/products?limit=50] [--seconds 20]
    .venv/bin/python -m bench.profile --admin --path /admin/product/list

Seeds a throwaway database like `make bench` (10,000 products), serves the product with its
production command (1 worker), drives the path with wrk at 16 connections while py-spy
samples the worker, prints the functions with the most samples (own and cumulative) and
keeps the collapsed stacks in bench/results/profile.txt. py-spy is installed into
bench/.venv-baselines on first use; the product never depends on it.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import subprocess
import sys
from collections import Counter
from pathlib import Path

import httpx

from bench import database
from bench.clients import admin_cookie
from bench.context import RESULTS_DIR, Context, Options
from bench.environment import BASELINES_VENV, ensure_baselines_venv, ensure_wrk
from bench.load import Target, run_wrk
from bench.processes import RssSampler, Server
from bench.report import Report
from bench.run import cleanup

PY_SPY = BASELINES_VENV / "bin" / "py-spy"


def ensure_py_spy() -> Path:
    ensure_baselines_venv()
    if not PY_SPY.exists():
        print("installing py-spy into bench/.venv-baselines")
        pip = [str(BASELINES_VENV / "bin" / "python"), "-m", "pip", "install", "-qq", "py-spy"]
        subprocess.run(pip, check=True)
    return PY_SPY


def summarize(collapsed: Path, top: int) -> str:
    """Own time per function, inclusive time per app function and per library."""
    own: Counter[str] = Counter()
    app_inclusive: Counter[str] = Counter()
    libraries: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue  # a frame name with a line break in it (generated code): skip the piece
        count = int(count_text)
        frames = [_frame(text) for text in stack.split(";")]
        total += count
        own[frames[-1][0]] += count
        libraries[frames[-1][1]] += count
        for name in {name for name, library in frames if library == "app"}:
            app_inclusive[name] += count
    if not total:
        return "no samples"

    def block(title: str, counter: Counter[str]) -> list[str]:
        rows = [f"  {100 * n / total:5.1f}%  {name}" for name, n in counter.most_common(top)]
        return ["", title, *rows]

    return "\n".join(
        [
            f"{total} samples of the thread holding the GIL",
            *block("own time by function:", own),
            *block("own time by package:", libraries),
            *block(
                "inclusive time of app/ functions (lower bounds: stacks resumed by the event"
                " loop or inside SQLAlchemy's greenlets do not reach back to them):",
                app_inclusive,
            ),
        ]
    )


def _frame(text: str) -> tuple[str, str]:
    """("function [module.py]", package) from py-spy's "function (path/module.py:12)"."""
    function, _, location = text.partition(" (")
    path = location.rsplit(":", 1)[0]
    parts = path.split("/")
    package = "?"
    if "site-packages" in parts:
        package = parts[parts.index("site-packages") + 1]
    elif "app" in parts:
        package = "app"
    elif path and not path.startswith("/"):
        package = parts[0]  # compiled modules report a relative path (asyncpg/…/x.pyx)
    elif path:
        package = "python"
    return f"{function} [{parts[-1]}]", package


async def _profile(args: argparse.Namespace, name: str, servers: list[Server]) -> None:
    url, credentials, _ = await database.seed(name, Options().products)
    with RssSampler() as sampler:
        ctx = Context(
            options=Options(),
            database_name=name,
            database_url=url,
            credentials=credentials,
            secret_key=secrets.token_urlsafe(48),
            sampler=sampler,
            report=Report(meta={}),
            servers=servers,
        )
        server = ctx.product(1)
        assert server.process is not None
        headers = {"Authorization": f"Bearer {credentials.token}"}
        if args.admin:
            async with httpx.AsyncClient(base_url=server.base_url) as client:
                headers = {"Cookie": await admin_cookie(client, credentials)}
        target = Target(server.base_url + args.path, headers)
        await run_wrk(target, connections=args.connections, seconds=3, run_id="warm")
        collapsed = RESULTS_DIR / "profile.txt"
        spy = await asyncio.create_subprocess_exec(
            str(PY_SPY),
            "record",
            "--pid",
            str(server.process.pid),
            "--duration",
            str(args.seconds),
            "--nonblocking",
            "--gil",
            "--format",
            "raw",
            "-o",
            str(collapsed),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        run = await run_wrk(target, connections=args.connections, seconds=args.seconds, run_id="p")
        await spy.wait()
        print(f"{args.path}: {run.rps:.0f} req/s, p50 {run.p50_ms:.1f} ms while sampled\n")
        print(summarize(collapsed, args.top))
        print(f"\ncollapsed stacks (for flamegraph.pl or speedscope): {collapsed}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--path", default="/api/v1/products?limit=50")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument(
        "--admin", action="store_true", help="log in to the admin and send its session cookie"
    )
    args = parser.parse_args(argv)
    ensure_wrk()
    ensure_py_spy()
    name = database.new_database_name()
    servers: list[Server] = []
    try:
        asyncio.run(database.create_database(name))
        asyncio.run(_profile(args, name, servers))
    except KeyboardInterrupt:
        return 130
    finally:
        cleanup(servers, name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
