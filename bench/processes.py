"""Servers under test: own process group, wait until ready, sample RSS and CPU, stop."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

STOP_GRACE_SECONDS = 10
START_TIMEOUT_SECONDS = 60
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A TCP port nothing listens on right now (the kernel's choice)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                found += [int(child) for child in handle.read().split()]
    except OSError:
        pass
    return found


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (children, grandchildren, ...)."""
    pending, found = _children(pid), []
    while pending:
        child = pending.pop()
        found.append(child)
        pending += _children(child)
    return found


def rss_mb(pid: int) -> float | None:
    """VmRSS of one process in MB (None when it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _stat(pid: int) -> tuple[str, list[str]] | None:
    """(comm, the fields after it) of /proc/<pid>/stat; None once the process is gone."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            raw = handle.read()
    except OSError:
        return None
    # The name may hold spaces and parentheses: it ends at the last ")".
    head, _, tail = raw.rpartition(")")
    return head.partition("(")[2], tail.split()


def _cpu_ticks(fields: list[str]) -> int:
    # utime, stime, cutime, cstime (fields 14-17): the last two hold the children the process
    # has reaped, so a backend or worker that exits mid-run still counts, and only once.
    return sum(int(value) for value in fields[11:15])


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds used so far by `pid` and every process below it (vanished ones skipped)."""
    stats = (_stat(member) for member in [pid, *descendants(pid)])
    return sum(_cpu_ticks(stat[1]) for stat in stats if stat is not None) / CLOCK_TICKS


def postgres_cpu_seconds() -> float:
    """CPU seconds used so far by every process named postgres (postmaster and backends)."""
    ticks = 0
    for entry in os.listdir("/proc"):
        stat = _stat(int(entry)) if entry.isdigit() else None
        if stat is not None and stat[0] == "postgres":
            ticks += _cpu_ticks(stat[1])
    return ticks / CLOCK_TICKS


def children_cpu_seconds() -> float:
    """CPU seconds of this process's reaped children (wrk, once a run has finished)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class CpuUse:
    """CPU seconds spent during a `cpu_meter` block by the server's tree, PostgreSQL and wrk."""

    server_s: float | None = None
    postgres_s: float | None = None
    wrk_s: float | None = None


@contextlib.contextmanager
def cpu_meter(server: Server) -> Iterator[CpuUse]:
    """Measure the CPU used meanwhile by `server`, PostgreSQL and the block's own child (wrk).

    The wrk figure holds because nothing else the benchmark started is reaped during a run.
    """
    use = CpuUse()
    pid = server.process.pid if server.process is not None else None
    server_0 = None if pid is None else tree_cpu_seconds(pid)
    postgres_0, children_0 = postgres_cpu_seconds(), children_cpu_seconds()
    yield use
    if server_0 is not None and pid is not None and process_alive(pid):
        use.server_s = tree_cpu_seconds(pid) - server_0
    use.postgres_s = postgres_cpu_seconds() - postgres_0
    use.wrk_s = children_cpu_seconds() - children_0


@dataclass
class Server:
    """One server process tree; `health_path` answers once it accepts requests."""

    name: str
    argv: Sequence[str]
    env: dict[str, str]
    port: int
    log_path: Path
    cwd: Path | None = None
    health_path: str = "/healthz"
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            # Its own session and process group: stopped by us (killpg), never by a stray
            # Ctrl-C half-way through a measurement.
            self.process = subprocess.Popen(
                list(self.argv),
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        url = self.base_url + self.health_path
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start-up; see {self.log_path}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=2).status_code < 500:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not answer {url} in time; see {self.log_path}")

    def worker_pids(self) -> list[int]:
        """The processes that serve requests: the children of a supervisor, else the root."""
        if self.process is None or self.process.poll() is not None:
            return []
        return descendants(self.process.pid) or [self.process.pid]

    def stop(self) -> None:
        """SIGTERM the whole process group, SIGKILL what is left after a grace period."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        # Workers of a supervisor that died first would still hold the group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


@dataclass
class Peak:
    """The highest per-process RSS (MB) seen while a watch was open."""

    mb: float = 0.0


class RssSampler:
    """Samples VmRSS of every started server's worker processes in a background thread.

    `overall` keeps each server's peak for the whole run; `watch()` gives the peak of one
    server during a block (a measurement).
    """

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self.overall: dict[str, float] = {}
        self._servers: dict[str, Server] = {}
        self._watches: list[tuple[str, Peak]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def add(self, server: Server) -> None:
        with self._lock:
            self._servers[server.name] = server

    def remove(self, server: Server) -> None:
        self.sample()
        with self._lock:
            self._servers.pop(server.name, None)

    @contextlib.contextmanager
    def watch(self, server: Server) -> Iterator[Peak]:
        peak = Peak()
        entry = (server.name, peak)
        with self._lock:
            self._watches.append(entry)
        try:
            yield peak
        finally:
            self.sample()
            with self._lock:
                self._watches.remove(entry)

    def sample(self) -> None:
        with self._lock:
            servers = list(self._servers.values())
        for server in servers:
            sizes = [rss_mb(pid) for pid in server.worker_pids()]
            largest = max((size for size in sizes if size is not None), default=None)
            if largest is None:
                continue
            with self._lock:
                self.overall[server.name] = max(self.overall.get(server.name, 0.0), largest)
                for name, peak in self._watches:
                    if name == server.name:
                        peak.mb = max(peak.mb, largest)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()


class ServerRegistry:
    """A file of "<owner pid> <server pid>" lines, so a run killed outright (SIGKILL), which
    could not stop its servers, has them stopped by the next run."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def add(self, server: Server) -> None:
        assert server.process is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as handle:
            handle.write(f"{os.getpid()} {server.process.pid}\n")

    def reap_orphans(self) -> None:
        """Kill the process groups of servers whose run is gone; forget our own entries."""
        if not self.path.exists():
            return
        kept = []
        for line in self.path.read_text().splitlines():
            owner, _, pid = line.partition(" ")
            if not owner.isdigit() or not pid.isdigit():
                continue
            if process_alive(int(owner)):
                kept.append(line + "\n")  # another run, still going
            elif _is_bench_server(int(pid)):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(int(pid), signal.SIGKILL)
        self.path.write_text("".join(kept))


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_bench_server(pid: int) -> bool:
    """Guards against a recycled pid: only a process group led by one of our servers."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            command = handle.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return os.getpgid(pid) == pid and ("backoffice serve" in command or "baselines" in command)
