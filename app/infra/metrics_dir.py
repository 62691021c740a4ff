"""The directory prometheus_client's multiprocess mode shares between the web workers.

`backoffice serve` prepares it in the serving parent, before uvicorn starts any worker: each
worker writes its counters there (memory-mapped files, one set per process id) and the worker
answering a scrape sums them all, so every scrape reads the whole server's figures.

PROMETHEUS_MULTIPROC_DIR is prometheus_client's own variable, read here from the environment
rather than from Settings on purpose: prometheus_client reads it when it is first imported,
so it must be in the environment the workers inherit, not only in a settings object. This
module must therefore not import prometheus_client itself (the parent would keep the
in-memory mode, which is harmless, but a `--workers 1` server runs the app in this process).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"
# Each web worker leaves a file named after its pid here (app/edge/fleet_metrics.py): how the
# worker answering a scrape finds its siblings, and the dead ones whose live gauges to drop.
PIDS = "pids"
PREFIX = "backoffice-metrics-"


def directory() -> Path | None:
    """The shared directory when this process runs in multiprocess mode, else None."""
    value = os.environ.get(ENV, "").strip()
    return Path(value) if value else None


@dataclass(frozen=True)
class MetricsDirectory:
    """The directory a `serve` parent prepared; `cleanup` when the server has stopped."""

    path: Path | None
    owned: bool

    def cleanup(self) -> None:
        if self.path is not None and self.owned:
            shutil.rmtree(self.path, ignore_errors=True)
            os.environ.pop(ENV, None)


def prepare(workers: int) -> MetricsDirectory:
    """Make the directory ready before the workers start; raises OSError with a reason.

    One worker needs none (its in-memory counters are the server's) unless the operator set
    PROMETHEUS_MULTIPROC_DIR. Otherwise: the operator's directory, created 0700 if missing and
    emptied of a previous run's files (a stale counter would be added to this run's), or a
    fresh private one under the system temp dir (mkdtemp: 0700), removed at exit.
    """
    given = directory()
    if given is None and workers <= 1:
        return MetricsDirectory(None, owned=False)
    if given is None:
        path = Path(tempfile.mkdtemp(prefix=PREFIX))
        os.environ[ENV] = str(path)
        return MetricsDirectory(path, owned=True)
    given.mkdir(mode=0o700, parents=True, exist_ok=True)
    empty(given)
    return MetricsDirectory(given, owned=False)


def empty(path: Path) -> None:
    """Remove what a previous run left: prometheus_client's *.db files and the pid markers.

    Nothing else: the operator may have pointed the variable at a directory holding more.
    """
    for stale in path.glob("*.db"):
        stale.unlink(missing_ok=True)
    shutil.rmtree(path / PIDS, ignore_errors=True)
