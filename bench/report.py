"""The benchmark's results: one table for the terminal, the same as Markdown and JSON files."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.load import Measurement

# The ratio columns: the ASGI ceiling, the raw floor, DRF (the list peer for the product
# list, the nested detail peer for the order detail), the Django admin changelist.
BASELINES = ("ceiling", "floor", "drf", "admin")


@dataclass
class ThroughputRow:
    """One scenario driven by wrk at one concurrency."""

    scenario: str
    measurement: Measurement
    rss_mb: float | None = None
    statements: int | None = None
    ratios: dict[str, float] = field(default_factory=dict)


@dataclass
class ScalingRow:
    """p50 (c1) of one page at the small and at the large table size."""

    surface: str
    page: str
    search: str | None
    p50_small_ms: float
    p50_large_ms: float | None = None
    db_small_ms: float | None = None
    db_large_ms: float | None = None
    errors: int = 0  # failed requests while probing (both sizes)

    @property
    def growth(self) -> float | None:
        return _growth(self.p50_small_ms, self.p50_large_ms)

    @property
    def db_growth(self) -> float | None:
        return _growth(self.db_small_ms, self.db_large_ms)


def _growth(small: float | None, large: float | None) -> float | None:
    return None if small is None or large is None or not small else large / small


@dataclass
class Target:
    """A SPEC §11 / issue 7 target, what was measured, and whether it holds."""

    name: str
    measured: str
    met: bool | None


@dataclass
class Report:
    meta: dict[str, Any]
    throughput: list[ThroughputRow] = field(default_factory=list)
    scaling: list[ScalingRow] = field(default_factory=list)
    statements: dict[str, int] = field(default_factory=dict)
    transfers: dict[str, dict[str, Any]] = field(default_factory=dict)
    peak_rss_mb: dict[str, float] = field(default_factory=dict)
    targets: list[Target] = field(default_factory=list)


def _num(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}×"


def throughput_table(rows: Sequence[ThroughputRow]) -> tuple[list[str], list[list[str]]]:
    header = [
        "scenario",
        "conc.",
        "req/s",
        "p50 ms",
        "p99 ms",
        "errors",
        "vs ceiling",
        "vs floor",
        "vs DRF",
        "vs Django admin",
        "stmts/req",
        "peak RSS MB",
        "worker CPU µs/req",
        "PostgreSQL CPU µs/req",
        "wrk CPU µs/req",
    ]
    body = []
    for row in rows:
        m = row.measurement
        body.append(
            [
                row.scenario,
                str(m.connections),
                _num(m.rps, 0),
                _num(m.p50_ms, 2),
                _num(m.p99_ms, 2),
                str(m.errors),
                *(_ratio(row.ratios.get(name)) for name in BASELINES),
                "" if row.statements is None else str(row.statements),
                _num(row.rss_mb, 0),
                _num(m.worker_cpu_us, 0),
                _num(m.postgres_cpu_us, 0),
                _num(m.wrk_cpu_us, 0),
            ]
        )
    return header, body


def scaling_table(
    rows: Sequence[ScalingRow], small: str, large: str
) -> tuple[list[str], list[list[str]]]:
    header = [
        "list",
        "page",
        "search",
        f"p50 ms @{small}",
        f"p50 ms @{large}",
        "growth",
        f"DB ms @{small}",
        f"DB ms @{large}",
        "DB growth",
        "errors",
    ]
    body = [
        [
            row.surface,
            row.page,
            row.search or "",
            _num(row.p50_small_ms, 2),
            _num(row.p50_large_ms, 2),
            _ratio(row.growth),
            _num(row.db_small_ms, 2),
            _num(row.db_large_ms, 2),
            _ratio(row.db_growth),
            str(row.errors),
        ]
        for row in rows
    ]
    return header, body


def _text(header: list[str], body: list[list[str]]) -> str:
    widths = [max(len(cell) for cell in column) for column in zip(header, *body, strict=True)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * width for width in widths))
    for cells in body:
        lines.append(
            "  ".join(
                cell.rjust(width) if _numeric(cell) else cell.ljust(width)
                for cell, width in zip(cells, widths, strict=True)
            ).rstrip()
        )
    return "\n".join(lines)


def _numeric(cell: str) -> bool:
    return bool(cell) and cell.strip("—,.×%0123456789") == ""


def _markdown(header: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return "\n".join(lines)


def _sections(report: Report) -> list[tuple[str, list[str], list[list[str]]]]:
    small, large = report.meta["sizes"]
    sections = [("Throughput (wrk, medians of rounds)", *throughput_table(report.throughput))]
    if report.scaling:
        sections.append(
            (
                f"Cost growth: p50 at 1 connection and database time, {small} vs {large} products",
                *scaling_table(report.scaling, small, large),
            )
        )
    if report.transfers:
        header = ["operation", "rows", "MB", "seconds", "RSS before MB", "RSS peak MB", "result"]
        body = [
            [
                name,
                f"{t['lines']:,}",
                _num(t["size_mb"]),
                _num(t["seconds"], 2),
                _num(t.get("rss_before_mb"), 0),
                _num(t.get("rss_peak_mb"), 0),
                str(t.get("result", "")),
            ]
            for name, t in report.transfers.items()
        ]
        sections.append(("CSV import and export (1 worker)", header, body))
    if report.statements:
        body = [[label, str(count)] for label, count in report.statements.items()]
        sections.append(("SQL statements per request (in process)", ["request", "stmts"], body))
    if report.targets:
        body = [
            [t.name, t.measured, {True: "met", False: "NOT MET", None: "n/a"}[t.met]]
            for t in report.targets
        ]
        sections.append(("Targets (SPEC §11)", ["target", "measured", "status"], body))
    return sections


def render_text(report: Report) -> str:
    parts = [f"{title}\n\n{_text(header, body)}" for title, header, body in _sections(report)]
    return "\n\n".join(parts) + "\n\n" + _meta_lines(report) + "\n"


def render_markdown(report: Report) -> str:
    parts = [
        f"### {title}\n\n{_markdown(header, body)}" for title, header, body in _sections(report)
    ]
    meta = "\n".join(f"- {line}" for line in _meta_lines(report).splitlines())
    return "## Benchmark run\n\n" + meta + "\n\n" + "\n\n".join(parts) + "\n"


def _meta_lines(report: Report) -> str:
    meta = report.meta
    lines = [
        f"run: {meta['started_at']}, {meta['elapsed_s']:.0f} s in all",
        *([f"INCOMPLETE: {meta['incomplete']}"] if meta.get("incomplete") else []),
        f"machine: {meta['machine']}",
        f"load: wrk {meta['wrk_version']}, {meta['rounds']} rounds × {meta['seconds']} s after "
        f"{meta['warmup']} s warm-up; medians of the rounds",
        "seeding (s): "
        + ", ".join(f"{k.removesuffix('_s')} {v}" for k, v in meta.get("seeding", {}).items()),
        f"load average (1 min) before / after: {meta.get('load_before')} / "
        f"{meta.get('load_after')} on {meta.get('cores')} cores",
        "peak worker RSS over the run (MB): "
        + ", ".join(f"{name} {mb:.0f}" for name, mb in report.peak_rss_mb.items()),
    ]
    return "\n".join(lines)


def as_json(report: Report) -> dict[str, Any]:
    return {
        "meta": report.meta,
        "throughput": [
            {
                "scenario": row.scenario,
                **row.measurement.as_dict(),
                "ratios": {k: round(v, 3) for k, v in row.ratios.items()},
                "statements": row.statements,
                "peak_rss_mb": None if row.rss_mb is None else round(row.rss_mb, 1),
            }
            for row in report.throughput
        ],
        "scaling": [
            {
                "list": row.surface,
                "page": row.page,
                "search": row.search,
                "p50_small_ms": round(row.p50_small_ms, 3),
                "p50_large_ms": None if row.p50_large_ms is None else round(row.p50_large_ms, 3),
                "growth": None if row.growth is None else round(row.growth, 3),
                "db_small_ms": row.db_small_ms,
                "db_large_ms": row.db_large_ms,
                "db_growth": None if row.db_growth is None else round(row.db_growth, 3),
                "errors": row.errors,
            }
            for row in report.scaling
        ],
        "statements": report.statements,
        "transfers": report.transfers,
        "peak_rss_mb": {k: round(v, 1) for k, v in report.peak_rss_mb.items()},
        "targets": [{"name": t.name, "measured": t.measured, "met": t.met} for t in report.targets],
    }


def write(report: Report, directory: Path) -> list[Path]:
    """bench/results/<stamp>.{md,json} and latest.{md,json}; returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = report.meta["started_at"].replace(":", "").replace("-", "")
    markdown, data = render_markdown(report), json.dumps(as_json(report), indent=2) + "\n"
    written = []
    for name in (stamp, "latest"):
        for suffix, content in ((".md", markdown), (".json", data)):
            path = directory / f"{name}{suffix}"
            path.write_text(content)
            written.append(path)
    return written
