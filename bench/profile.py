"""Profile one scenario of the product under wrk load with py-spy: where a request's time goes.

    .venv/bin/python -m bench.profile [--path /api/v1/products?limit=50] [--seconds 20]

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

from bench import database
from bench.context import RESULTS_DIR, Context, Options
from bench.environment import BASELINES_VENV, ensure_baselines_venv, ensure_wrk
from bench.load import Target, run_wrk
from bench.processes import RssSampler, Server
from bench.report import Report
from bench.run import _cleanup, _seed

PY_SPY = BASELINES_VENV / "bin" / "py-spy"


def ensure_py_spy() -> Path:
    ensure_baselines_venv()
    if not PY_SPY.exists():
        print("installing py-spy into bench/.venv-baselines")
        pip = [str(BASELINES_VENV / "bin" / "python"), "-m", "pip", "install", "-qq", "py-spy"]
        subprocess.run(pip, check=True)
    return PY_SPY


def summarize(collapsed: Path, top: int) -> str:
    """Own and cumulative sample counts per function from py-spy's collapsed stacks."""
    own: Counter[str] = Counter()
    cumulative: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        frames = [frame.split(" (", 1)[0] + _where(frame) for frame in stack.split(";")]
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            cumulative[frame] += count
    lines = [f"{total} samples", "", "own time:"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in own.most_common(top)]
    lines += ["", "cumulative (inclusive) time:"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in cumulative.most_common(top)]
    return "\n".join(lines)


def _where(frame: str) -> str:
    # "function (path/to/module.py:123)" → " module.py"
    if "(" not in frame:
        return ""
    location = frame.split("(", 1)[1].rstrip(")")
    return f" [{location.rsplit('/', 1)[-1].split(':', 1)[0]}]"


async def _profile(args: argparse.Namespace, name: str, servers: list[Server]) -> None:
    url, credentials, _ = await _seed(name, Options())
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
        _cleanup(servers, name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
