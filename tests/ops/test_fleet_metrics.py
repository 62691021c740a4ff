"""/metrics of a real `backoffice serve --workers 2` (issue 18): every scrape, whichever worker
answers it, reads the whole server's counts; a killed worker's counts survive its restart;
the shared directory is private, fresh for each run and removed at exit."""

from __future__ import annotations

import os
import re
import signal
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.cli.helpers import BACKOFFICE, cli_env, run_backoffice
from tests.conftest import TEST_SECRET_KEY

TOKEN = "fleet-metrics-token-" + "f" * 24
REQUESTS = 20
SCRAPES = 12
HEALTHZ_SERIES = 'backoffice_http_requests_total{method="GET",route="/healthz",status="200"}'


@dataclass
class Server:
    process: subprocess.Popen[str]
    base_url: str
    tmpdir: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_ready(server: Server) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert server.process.poll() is None, "the server exited early"
        try:
            if httpx.get(f"{server.base_url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("the server was not ready within 30 s")


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[Server]:
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = cli_env(
        DATABASE_URL=f"sqlite:///{tmp_path}/fleet.db",
        SECRET_KEY=TEST_SECRET_KEY,
        METRICS_TOKEN=TOKEN,
        TMPDIR=str(tmpdir),  # where the server makes its metrics directory
        PROMETHEUS_MULTIPROC_DIR=None,
    )
    assert run_backoffice("migrate", env=env, cwd=tmp_path).returncode == 0
    port = _free_port()
    process = subprocess.Popen(
        [str(BACKOFFICE), "serve", "--port", str(port), "--workers", "2"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    server = Server(process, f"http://127.0.0.1:{port}", tmpdir)
    try:
        _wait_until_ready(server)
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            _, stderr = process.communicate(timeout=25)
        except subprocess.TimeoutExpired:
            process.kill()
            _, stderr = process.communicate()
        assert "Traceback" not in stderr, stderr
    # The directory the server made for this run is gone with it.
    assert list(tmpdir.glob("backoffice-metrics-*")) == []


def scrape(server: Server) -> str:
    # A new connection each time: the kernel hands each to either worker.
    response = httpx.get(
        f"{server.base_url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
    )
    assert response.status_code == 200, response.text
    return response.text


def value_of(text: str, series: str) -> float:
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def worker_pids(text: str) -> set[int]:
    return {int(pid) for pid in re.findall(r'process_start_time_seconds\{pid="(\d+)"\}', text)}


def send_requests(server: Server, count: int) -> None:
    for _ in range(count):
        assert httpx.get(f"{server.base_url}/healthz", timeout=10).status_code == 200


def wait_for_workers(server: Server, wanted: int, gone: int | None = None) -> set[int]:
    """The worker pids once `wanted` are serving (uvicorn restarts a slow starter)."""
    deadline = time.monotonic() + 60
    pids: set[int] = set()
    while time.monotonic() < deadline:
        pids = worker_pids(scrape(server))
        if len(pids) == wanted and gone not in pids:
            return pids
        time.sleep(0.3)
    raise AssertionError(f"expected {wanted} workers (without {gone}), saw {pids}")


def test_every_scrape_of_two_workers_reads_every_request_even_after_a_worker_dies(
    two_workers: Server,
) -> None:
    pids = wait_for_workers(two_workers, 2)
    assert two_workers.process.pid not in pids  # the workers, not the supervising parent
    before = value_of(scrape(two_workers), HEALTHZ_SERIES)  # /readyz was polled, not this
    send_requests(two_workers, REQUESTS)

    texts = [scrape(two_workers) for _ in range(SCRAPES)]

    assert [value_of(text, HEALTHZ_SERIES) - before for text in texts] == [REQUESTS] * SCRAPES
    assert all(worker_pids(text) == pids for text in texts)
    assert all(f'process_resident_memory_bytes{{pid="{pid}"}}' in texts[0] for pid in pids)
    # The counters live in a private directory made for this run.
    [directory] = two_workers.tmpdir.glob("backoffice-metrics-*")
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700

    # A worker killed outright: uvicorn starts another; what the dead one counted stays.
    victim = min(pids)
    os.kill(victim, signal.SIGKILL)
    wait_for_workers(two_workers, 2, gone=victim)
    texts = [scrape(two_workers) for _ in range(SCRAPES)]
    assert [value_of(text, HEALTHZ_SERIES) - before for text in texts] == [REQUESTS] * SCRAPES
