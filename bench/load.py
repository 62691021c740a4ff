"""Drive one HTTP target with wrk and read back req/s, latency percentiles and errors."""

from __future__ import annotations

import asyncio
import json
import os
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

LUA_SCRIPT = Path(__file__).resolve().parent / "lua" / "scenario.lua"
RESULT_PREFIX = "BENCH_RESULT "
# Longer than the app's own 5 s database timeouts: a slow answer is a latency, not an error.
WRK_TIMEOUT = "8s"


@dataclass(frozen=True)
class Target:
    """What wrk sends: one URL, fixed headers, optionally a unique body per request."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    method: str = "GET"
    body: str | None = None  # every {unique} becomes a per-request unique token
    unique_header: str | None = None
    paths_file: Path | None = None  # request these paths in turn (one a line)


@dataclass(frozen=True)
class WrkRun:
    """One wrk run's figures."""

    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    errors: int
    # CPU seconds spent during the run (filled by the caller that watched the processes).
    server_cpu_s: float | None = None
    postgres_cpu_s: float | None = None
    wrk_cpu_s: float | None = None

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def per_request_us(self, cpu_s: float | None) -> float | None:
        """CPU seconds of this run spread over its requests, in µs per request."""
        return None if cpu_s is None or not self.requests else cpu_s * 1e6 / self.requests


@dataclass(frozen=True)
class Measurement:
    """The median of several runs of one target (errors are added up)."""

    runs: tuple[WrkRun, ...]
    connections: int

    @property
    def rps(self) -> float:
        return statistics.median(run.rps for run in self.runs)

    @property
    def p50_ms(self) -> float:
        return statistics.median(run.p50_ms for run in self.runs)

    @property
    def p99_ms(self) -> float:
        return statistics.median(run.p99_ms for run in self.runs)

    @property
    def worker_cpu_us(self) -> float | None:
        """The server's process tree, µs of CPU per request."""
        return self._median_cpu(lambda run: run.server_cpu_s)

    @property
    def postgres_cpu_us(self) -> float | None:
        return self._median_cpu(lambda run: run.postgres_cpu_s)

    @property
    def wrk_cpu_us(self) -> float | None:
        return self._median_cpu(lambda run: run.wrk_cpu_s)

    def _median_cpu(self, seconds: Callable[[WrkRun], float | None]) -> float | None:
        values = [run.per_request_us(seconds(run)) for run in self.runs]
        known = [value for value in values if value is not None]
        return statistics.median(known) if known else None

    @property
    def errors(self) -> int:
        return sum(run.errors for run in self.runs)

    @property
    def requests(self) -> int:
        return sum(run.requests for run in self.runs)

    def as_dict(self) -> dict[str, object]:
        return {
            "connections": self.connections,
            "rps": round(self.rps, 1),
            "p50_ms": round(self.p50_ms, 2),
            "p99_ms": round(self.p99_ms, 2),
            "errors": self.errors,
            "requests": self.requests,
            "worker_cpu_us_per_req": _round(self.worker_cpu_us),
            "postgres_cpu_us_per_req": _round(self.postgres_cpu_us),
            "wrk_cpu_us_per_req": _round(self.wrk_cpu_us),
            "runs": [
                {
                    "rps": round(run.rps, 1),
                    "p50_ms": round(run.p50_ms, 2),
                    "p90_ms": round(run.p90_ms, 2),
                    "p99_ms": round(run.p99_ms, 2),
                    "errors": run.errors,
                    "requests": run.requests,
                    "worker_cpu_s": _round(run.server_cpu_s, 3),
                    "postgres_cpu_s": _round(run.postgres_cpu_s, 3),
                    "wrk_cpu_s": _round(run.wrk_cpu_s, 3),
                }
                for run in self.runs
            ],
        }


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


class WrkError(RuntimeError):
    """wrk could not run or printed no summary."""


async def run_wrk(
    target: Target, *, connections: int, seconds: float, run_id: str, threads: int = 1
) -> WrkRun:
    """Run wrk once against `target`; non-2xx/3xx answers and socket errors count as errors."""
    argv = [
        "wrk",
        f"-t{min(threads, connections)}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        f"--timeout={WRK_TIMEOUT}",
        "-s",
        str(LUA_SCRIPT),
    ]
    for name, value in target.headers.items():
        argv += ["-H", f"{name}: {value}"]
    argv.append(target.url)
    env = {**os.environ, "BENCH_METHOD": target.method, "BENCH_RUN_ID": run_id}
    if target.body is not None:
        env["BENCH_BODY"] = target.body
    if target.unique_header is not None:
        env["BENCH_UNIQUE_HEADER"] = target.unique_header
    if target.paths_file is not None:
        env["BENCH_PATHS_FILE"] = str(target.paths_file)
    process = await asyncio.create_subprocess_exec(
        *argv, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), timeout=seconds + 60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    text = output.decode(errors="replace")
    line = next((ln for ln in text.splitlines() if ln.startswith(RESULT_PREFIX)), None)
    if process.returncode != 0 or line is None:
        raise WrkError(f"wrk failed (exit {process.returncode}): {text.strip()[-500:]}")
    data = json.loads(line.removeprefix(RESULT_PREFIX))
    errors = sum(data[k] for k in ("connect", "read", "write", "status", "timeout"))
    return WrkRun(
        requests=int(data["requests"]),
        seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        errors=int(errors),
    )


def median_of(runs: Sequence[WrkRun], connections: int) -> Measurement:
    return Measurement(runs=tuple(runs), connections=connections)
