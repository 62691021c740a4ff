"""What every phase of the benchmark shares: options, the database, servers, the report."""

from __future__ import annotations

import dataclasses
import os
import secrets
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from app.infra.settings import Settings
from bench.database import Credentials, database_url, django_database_name
from bench.environment import BASELINES_DIR, BASELINES_VENV, BENCH_DIR
from bench.load import Measurement, Target, WrkRun, median_of, run_wrk
from bench.processes import Peak, RssSampler, Server, ServerRegistry, cpu_meter, free_port
from bench.report import Report

PROJECT_DIR = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
LOGS_DIR = RESULTS_DIR / "logs"
REGISTRY = ServerRegistry(RESULTS_DIR / "servers.pids")
# Counted on every request but never refused: a 1 s window keeps the in-memory moving
# window as short as production's 600/minute keeps it.
BENCH_RATE_LIMIT = "1000000/second"
# The Django admin peer's superuser (in the peer's own database).
PEER_ADMIN_USER = "bench"


@dataclass(frozen=True)
class Options:
    rounds: int = 4
    seconds: float = 5.0
    warmup: float = 3.0
    connections: tuple[int, ...] = (16, 64)
    products: int = 10_000
    large_products: int = 1_000_000
    import_rows: int = 100_000


@dataclass
class Context:
    options: Options
    database_name: str
    database_url: str
    credentials: Credentials
    secret_key: str
    sampler: RssSampler
    report: Report
    wrk_runs: int = 0
    servers: list[Server] = field(default_factory=list)
    order_id: int = 0
    peer_admin_password: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    peer_admin_ready: bool = False

    # --- servers --------------------------------------------------------------------------
    def product_env(self) -> dict[str, str]:
        """The process environment minus every app setting, plus the benchmark's."""
        ours = {name.upper() for name in Settings.model_fields}
        env = {k: v for k, v in os.environ.items() if k.upper() not in ours}
        return env | {
            "DATABASE_URL": self.database_url,
            "SECRET_KEY": self.secret_key,
            "ENVIRONMENT": "production",
            "LOG_LEVEL": "WARNING",
            "RATE_LIMIT_API": BENCH_RATE_LIMIT,
        }

    def product(self, workers: int) -> Server:
        """The product under its production command."""
        port = free_port()
        argv = [
            str(PROJECT_DIR / ".venv" / "bin" / "backoffice"),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ]
        # Started from the results folder, so no developer .env is read.
        return self._start(
            Server(
                f"product-{workers}w",
                argv,
                self.product_env(),
                port,
                self._log(workers),
                RESULTS_DIR,
            )
        )

    def baseline(self, mode: str) -> Server:
        """ceiling / floor (Starlette under uvicorn); drf or drf_nested (the same DRF project,
        named by what it is measured on) or django_admin (Django under gunicorn)."""
        port = free_port()
        binaries = BASELINES_VENV / "bin"
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "BASELINE_DATABASE_URL": self.database_url,
            "BASELINE_SECRET": self.secret_key,
            "BASELINE_MODE": mode,
        }
        if mode == "django_admin":
            env |= {
                "BASELINE_DJANGO_DATABASE_URL": database_url(
                    django_database_name(self.database_name)
                ),
                "BASELINE_ADMIN_USER": PEER_ADMIN_USER,
                "BASELINE_ADMIN_PASSWORD": self.peer_admin_password,
            }
            self._prepare_django_admin(env)
        if mode in ("drf", "drf_nested", "django_admin"):
            argv = [
                str(binaries / "gunicorn"),
                f"{'django_admin_app' if mode == 'django_admin' else 'drf_app'}:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "1",
                "--log-level",
                "warning",
            ]
        else:
            argv = [
                str(binaries / "uvicorn"),
                "asgi_app:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
                "--no-access-log",
                "--log-level",
                "warning",
            ]
        return self._start(Server(mode, argv, env, port, LOGS_DIR / f"{mode}.log", BASELINES_DIR))

    def _prepare_django_admin(self, env: dict[str, str]) -> None:
        """Django's tables in the peer's database and its superuser, once per run."""
        if self.peer_admin_ready:
            return
        LOGS_DIR.mkdir(parents=True, exist_ok=True)
        with open(LOGS_DIR / "django_admin.log", "ab") as log:
            subprocess.run(
                [str(BASELINES_VENV / "bin" / "python"), "django_admin_app.py", "prepare"],
                env=env,
                cwd=BASELINES_DIR,
                stdout=log,
                stderr=subprocess.STDOUT,
                check=True,
            )
        self.peer_admin_ready = True

    def _log(self, workers: int) -> Path:
        return LOGS_DIR / f"product-{workers}w.log"

    def _start(self, server: Server) -> Server:
        self.servers.append(server)
        server.start()
        REGISTRY.add(server)
        self.sampler.add(server)
        return server

    def stop(self, server: Server) -> None:
        self.sampler.remove(server)
        server.stop()

    # --- load -----------------------------------------------------------------------------
    async def warm(self, target: Target, connections: int) -> None:
        await run_wrk(
            target, connections=connections, seconds=self.options.warmup, run_id=self._id("w")
        )

    async def one_round(
        self, server: Server, target: Target, connections: int, peak: Peak
    ) -> WrkRun:
        """One measured wrk run with the CPU it cost (server tree, PostgreSQL, wrk); `peak`
        keeps the server's highest worker RSS meanwhile."""
        with self.sampler.watch(server) as watched, cpu_meter(server) as cpu:
            run = await run_wrk(
                target, connections=connections, seconds=self.options.seconds, run_id=self._id("r")
            )
        peak.mb = max(peak.mb, watched.mb)
        return dataclasses.replace(
            run, server_cpu_s=cpu.server_s, postgres_cpu_s=cpu.postgres_s, wrk_cpu_s=cpu.wrk_s
        )

    async def measure(
        self, server: Server, target: Target, connections: int
    ) -> tuple[Measurement, float]:
        """Warm up, then `rounds` runs back to back; (median measurement, peak RSS MB)."""
        await self.warm(target, connections)
        peak = Peak()
        runs = [
            await self.one_round(server, target, connections, peak)
            for _ in range(self.options.rounds)
        ]
        return median_of(runs, connections), peak.mb

    def _id(self, kind: str) -> str:
        # Unique per wrk run, so generated emails and idempotency keys never repeat.
        self.wrk_runs += 1
        return f"{kind}{self.wrk_runs}"
