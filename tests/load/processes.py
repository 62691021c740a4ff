"""The app as users run it: `backoffice migrate`, create-user, create-token, serve, worker."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from app.ops.serving import WORKER_HEALTHCHECK_SECONDS

# The console script of the interpreter running the tests (the project's venv).
BACKOFFICE = str(Path(sys.executable).with_name("backoffice"))
COMMAND_TIMEOUT = 120
START_TIMEOUT = 60
STOP_GRACE = 25  # SPEC §10: SIGTERM, finish in-flight requests, exit within 25 s
# Only these reach the app's processes: what they see is their own settings, not ours.
# PYTHONPATH is passed so the soak can be pointed at another checkout of the app.
_PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH")


class ProcessFailed(AssertionError):
    """A command or service of the app failed; the message carries its output."""


def app_environment(database_url: str, port: int, secret_key: str) -> dict[str, str]:
    """Settings as environment variables (app/infra/settings.py), development, for a soak."""
    env = {name: os.environ[name] for name in _PASSED_THROUGH if name in os.environ}
    return env | {
        "ENVIRONMENT": "development",
        "DATABASE_URL": database_url,
        # Shared by both web workers (a per-process key would split their sessions).
        "SECRET_KEY": secret_key,
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
        # The soak measures correctness under load, not the rate limiter.
        "RATE_LIMIT_API": "1000000/minute",
        "WEBHOOKS_ALLOW_PRIVATE": "true",  # the receiver is on loopback
        "WEBHOOK_RETRY_BASE_SECONDS": "1",
        # JSON lines: a 500's request_id finds its traceback in the logs.
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
    }


@dataclass
class Service:
    """A long-running `backoffice` process in its own process group, its output in a file."""

    name: str
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    log: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        with self.log.open("ab") as sink:
            # Its own session: stopping the group reaches uvicorn's workers too.
            self.process = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} was not started"
        return self.process.pid

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def output(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL this process alone (a crash: no clean-up, no goodbye)."""
        if not self.running():
            raise ProcessFailed(f"{self.name} was not running when it was to be killed")
        os.kill(self.pid, signal.SIGKILL)
        assert self.process is not None
        self.process.wait()

    def stop(self) -> None:
        """SIGTERM the group, SIGKILL whatever is left after the grace period."""
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=STOP_GRACE)
        # Workers whose supervisor died first would still hold the group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                found += [int(child) for child in handle.read().split()]
    return found


def _command_line(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


@dataclass
class App:
    """Every process of one deployment: one-off commands, the web server, webhook workers."""

    workdir: Path
    env: dict[str, str]
    port: int
    services: list[Service] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def run(self, *args: str, input: str | None = None) -> str:
        """`backoffice <args>`, which must succeed; its stdout."""
        result = subprocess.run(
            [BACKOFFICE, *args],
            cwd=self.workdir,
            env=self.env,
            input=input,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
        if result.returncode != 0:
            raise ProcessFailed(
                f"backoffice {args[0]} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
            )
        return result.stdout

    def _service(self, name: str, *args: str) -> Service:
        log = self.workdir / f"{name}-{len(self.services)}.log"
        service = Service(name, [BACKOFFICE, *args], self.env, self.workdir, log)
        self.services.append(service)
        service.start()
        return service

    def start_web(self) -> Service:
        """`backoffice serve` (WEB_CONCURRENCY workers), once /readyz answers 200."""
        web = self._service("web", "serve", "--host", "127.0.0.1")
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if not web.running():
                raise ProcessFailed(f"serve exited at start-up\n{web.output()[-4000:]}")
            with contextlib.suppress(httpx.TransportError):
                ready = httpx.get(f"{self.base_url}/readyz", timeout=2).status_code == 200
                if ready and len(self.web_workers(web)) == 2:
                    return web
            time.sleep(0.2)
        raise ProcessFailed(f"serve not ready within {START_TIMEOUT} s\n{web.output()[-4000:]}")

    def web_workers(self, web: Service) -> list[int]:
        """uvicorn's worker processes: the serve process's children spawned by multiprocessing
        (not its resource tracker)."""
        return [pid for pid in _children(web.pid) if "spawn_main" in _command_line(pid)]

    def start_webhook_worker(self) -> Service:
        """`backoffice worker`, once it has logged that it started."""
        worker = self._service("worker", "worker")
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if "worker started" in worker.output():
                return worker
            if not worker.running():
                raise ProcessFailed(f"worker exited at start-up\n{worker.output()[-4000:]}")
            time.sleep(0.1)
        raise ProcessFailed(f"worker did not start in {START_TIMEOUT} s\n{worker.output()[-4000:]}")

    def stop_all(self) -> None:
        for service in reversed(self.services):
            service.stop()

    def problem_lines(self) -> list[dict[str, object]]:
        """Every log entry at ERROR or above, or carrying a traceback, from every service."""
        found: list[dict[str, object]] = []
        for service in self.services:
            for line in service.output().splitlines():
                try:
                    entry = json.loads(line)
                except ValueError:
                    # Not ours (a library printing); a traceback outside logging matters.
                    if "Traceback" in line or "Error" in line:
                        found.append({"service": service.name, "raw": line[:500]})
                    continue
                if not isinstance(entry, dict):
                    continue
                if entry.get("level") in ("error", "critical") or "exception" in entry:
                    found.append({"service": service.name, **entry})
        return found


# uvicorn's supervisor looks at its workers one at a time and waits up to the health
# check's timeout for a live one to answer before it looks at the next: under the soak's
# load a busy live worker has taken that long (seen: 30.1 s), so a dead worker's
# replacement may only start after it, then needs its own start-up.
REPLACEMENT_TIMEOUT = WORKER_HEALTHCHECK_SECONDS + 30


def wait_for_replacement(
    app: App, web: Service, killed: int, timeout: float = REPLACEMENT_TIMEOUT
) -> float:
    """Seconds until uvicorn's supervisor runs two workers again, neither the killed one."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        workers = app.web_workers(web)
        if len(workers) == 2 and killed not in workers:
            return time.monotonic() - started
        time.sleep(0.1)
    raise ProcessFailed(f"no replacement for web worker {killed} within {timeout} s")
