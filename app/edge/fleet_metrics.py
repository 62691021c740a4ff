"""The web workers as one server in /metrics: who is alive, and each one's process figures.

In multiprocess mode (app/infra/metrics_dir.py) every web worker leaves a marker named after
its pid. The worker answering a scrape reads the markers: a dead worker's live gauges are
dropped (prometheus_client's `mark_process_dead`, which uvicorn has no hook to call) while its
counters stay, so totals never go backwards when a worker dies and uvicorn starts another.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from prometheus_client.core import Metric
from prometheus_client.multiprocess import mark_process_dead
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from app.infra.metrics_dir import PIDS


def register_this_process(directory: Path) -> None:
    """Leave this worker's pid marker in the shared directory."""
    markers = directory / PIDS
    markers.mkdir(mode=0o700, exist_ok=True)
    (markers / str(os.getpid())).touch()


def live_pids(directory: Path) -> list[int]:
    """The web workers still running; a dead one's live gauges and marker are removed."""
    live = []
    markers = directory / PIDS
    for marker in markers.iterdir() if markers.is_dir() else ():
        if not marker.name.isdigit():
            continue
        pid = int(marker.name)
        if is_running(pid):
            live.append(pid)
        else:
            mark_process_dead(pid, str(directory))
            marker.unlink(missing_ok=True)
    return sorted(live)


def is_running(pid: int) -> bool:
    """Whether `pid` is a running process (a zombie awaiting its parent is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive, if not ours
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[-1].split()[0] != b"Z"
    except OSError:  # no /proc (not Linux): signal 0 is all there is to go on
        return True


class ProcessMetrics(Collector):
    """prometheus_client's process metrics (CPU, memory, open files, start time) of every live
    web worker, one series per worker labelled `pid`.

    Per worker, not summed: a sum would drop when a worker restarts (its CPU seconds gone)
    and a counter must not go backwards; `sum without (pid)` gives the server's total, and a
    restarted worker shows as a new series, as Prometheus expects of a restarted process.
    Read from /proc at scrape time (the workers run as one user): nothing on the hot path.
    """

    def __init__(self, pids: Callable[[], list[int]]) -> None:
        self.pids = pids

    def describe(self) -> Iterable[Metric]:
        return []  # nothing to check at registration; /proc is read when scraped

    def collect(self) -> Iterable[Metric]:
        merged: dict[str, Metric] = {}
        for pid in self.pids():
            collector = ProcessCollector(pid=functools.partial(int, pid), registry=None)
            for family in collector.collect():
                into = merged.setdefault(
                    family.name, Metric(family.name, family.documentation, family.type)
                )
                for sample in family.samples:
                    into.add_sample(sample.name, {**sample.labels, "pid": str(pid)}, sample.value)
        return list(merged.values())


class ScrapeTimeFigures(Collector):
    """Figures read when /metrics is asked (from the database): set, then collected."""

    def __init__(self) -> None:
        self.families: list[Metric] = []

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        return list(self.families)
