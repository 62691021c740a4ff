"""The benchmark's CPU per request: /proc readings, the table's columns, the machine ceiling."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.load import Measurement, WrkRun
from bench.processes import Server, cpu_meter, postgres_cpu_seconds, tree_cpu_seconds
from bench.report import Report, ThroughputRow, throughput_table
from bench.targets import judge

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")

BUSY = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass"


def _run(requests: int, server: float, postgres: float, wrk: float) -> WrkRun:
    return WrkRun(requests, 2.0, 1.0, 2.0, 3.0, 0, server, postgres, wrk)


def test_a_busy_child_counts_in_its_parents_tree_and_as_our_reaped_child(tmp_path: Path) -> None:
    done = tmp_path / "done"
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            # Starts its busy child once the meter is surely running, reaps it, then idles.
            f"import subprocess, sys, time\ntime.sleep(0.3)\n"
            f"subprocess.run([sys.executable, '-c', {BUSY!r}])\n"
            f"open({str(done)!r}, 'w').close()\ntime.sleep(30)",
        ],
    )
    try:
        server = Server("busy", [], {}, 0, Path(os.devnull), process=parent)
        with cpu_meter(server) as use:
            subprocess.run([sys.executable, "-c", BUSY], check=True)  # "wrk"
            deadline = time.monotonic() + 20
            while not done.exists() and time.monotonic() < deadline:
                time.sleep(0.05)  # until the server's child has run and been reaped
        assert use.wrk_s is not None and use.wrk_s >= 0.25
        # The grandchild exited inside the block: counted through its parent's cutime.
        assert use.server_s is not None and use.server_s >= 0.25
        assert use.postgres_s is not None and use.postgres_s >= 0
    finally:
        parent.kill()
        parent.wait()


def test_a_vanished_process_is_skipped() -> None:
    finished = subprocess.Popen(["true"])
    finished.wait()
    assert tree_cpu_seconds(finished.pid) == 0.0
    assert postgres_cpu_seconds() >= 0.0


def test_the_table_and_the_ceiling_show_cpu_per_request() -> None:
    one = ThroughputRow(
        "products list, limit 50, 1 worker",
        Measurement((_run(2000, 0.8, 0.4, 0.2), _run(1000, 0.5, 0.2, 0.1)), 16),
    )
    two = ThroughputRow(
        "products list, limit 50, 2 workers", Measurement((_run(3000, 1.5, 0.6, 0.3),), 16)
    )
    assert one.measurement.worker_cpu_us == pytest.approx(450)  # median of 400 and 500
    header, body = throughput_table([one, two])
    row = dict(zip(header, body[0], strict=True))
    assert (row["worker CPU µs/req"], row["PostgreSQL CPU µs/req"], row["wrk CPU µs/req"]) == (
        "450",
        "200",
        "100",
    )
    report = Report(meta={"cores": 2}, throughput=[one, two])
    ceiling = next(t for t in judge(report, "products list, limit 50", 1.0) if "ceiling" in t.name)
    # 2 cores / 750 µs per request = 2,667 req/s; 2 workers ran 1,500 req/s.
    assert ceiling.met is None
    assert ceiling.measured.startswith("≈ 2,667 req/s at 750 µs/req (worker 450")
    assert "2 workers: 1,500 req/s = 56% of it" in ceiling.measured
