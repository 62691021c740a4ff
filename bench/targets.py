"""The targets of SPEC §11 and issue 7, judged from a finished report."""

from __future__ import annotations

from bench.report import Report, ScalingRow, Target

RSS_LIMIT_MB = 250
GROWTH_LIMIT = 1.5
IMPORT_LIMIT_S = 15
# "Flat" export memory: the worker grows by less than this while streaming 1M rows.
FLAT_EXPORT_MB = 50
RUNTIME_LIMIT_S = 20 * 60


def judge(report: Report, product_list_prefix: str, elapsed_s: float) -> list[Target]:
    targets = _throughput(report, product_list_prefix)
    targets += _growth(report)
    targets += _statements(report)
    targets += _transfers(report)
    product_peaks = {k: v for k, v in report.peak_rss_mb.items() if k.startswith("product")}
    worst = max(product_peaks.values(), default=None)
    targets.append(
        Target(
            f"product worker RSS < {RSS_LIMIT_MB} MB throughout",
            "—" if worst is None else f"peak {worst:.0f} MB ({_peaks(product_peaks)})",
            None if worst is None else worst < RSS_LIMIT_MB,
        )
    )
    targets.append(
        Target(
            "make bench under 20 minutes",
            f"{elapsed_s / 60:.1f} min",
            elapsed_s < RUNTIME_LIMIT_S,
        )
    )
    return targets


def _peaks(peaks: dict[str, float]) -> str:
    return ", ".join(f"{name} {mb:.0f}" for name, mb in peaks.items())


def _throughput(report: Report, prefix: str) -> list[Target]:
    rows = [row for row in report.throughput if row.scenario == f"{prefix}, 1 worker"]
    row = min(rows, key=lambda r: r.measurement.connections, default=None)
    if row is None:
        return []
    c = row.measurement.connections
    floor, drf = row.ratios.get("floor"), row.ratios.get("drf")
    return [
        Target(
            f"product list (1 worker, c{c}) ≥ 50% of the raw floor's req/s",
            "—" if floor is None else f"{floor:.0%} of the floor",
            None if floor is None else floor >= 0.5,
        ),
        Target(
            f"product list (1 worker, c{c}) ≥ 3× the DRF peer's req/s",
            "—" if drf is None else f"{drf:.1f}× DRF",
            None if drf is None else drf >= 3,
        ),
    ]


def _growth(report: Report) -> list[Target]:
    targets = []
    for surface in ("API", "admin"):
        rows = [r for r in report.scaling if r.surface == surface and r.growth is not None]
        if not rows:
            continue
        worst = max(rows, key=lambda r: r.growth or 0)
        plain = [r for r in rows if r.search is None]
        worst_plain = max(plain, key=lambda r: r.growth or 0) if plain else worst
        db_worst = max(rows, key=lambda r: r.db_growth or 0)
        measured = (
            f"worst {worst.growth:.2f}× ({_page(worst)}); without search worst "
            f"{worst_plain.growth:.2f}× ({_page(worst_plain)}); database time worst "
            f"{db_worst.db_growth or 0:.2f}× ({_page(db_worst)})"
        )
        targets.append(
            Target(
                f"{surface} list p50, large vs small table ≤ {GROWTH_LIMIT}× "
                "(first/middle/last, ± search)",
                measured,
                all((r.growth or 0) <= GROWTH_LIMIT for r in rows),
            )
        )
        # The same question without the HTTP noise of a busy machine: the pages' queries.
        slow = [r for r in rows if (r.db_growth or 0) > GROWTH_LIMIT]
        targets.append(
            Target(
                f"{surface} list database time, large vs small ≤ {GROWTH_LIMIT}× (noise-free view)",
                "all pages within"
                if not slow
                else "; ".join(f"{_page(r)} {r.db_growth:.1f}×" for r in slow),
                not slow,
            )
        )
    return targets


def _page(row: ScalingRow) -> str:
    return f"{row.page} page{', search ' + row.search if row.search else ''}"


def _statements(report: Report) -> list[Target]:
    counts = report.statements
    targets = []
    if counts:
        per_list = {
            resource: [counts.get(f"{resource} list, limit={n}") for n in (1, 50, 200)]
            for resource in ("products", "orders", "customers")
        }
        constant = all(len(set(values)) == 1 for values in per_list.values())
        targets.append(
            Target(
                "list statements constant whatever limit (1/50/200)",
                "; ".join(f"{k} {'/'.join(map(str, v))}" for k, v in per_list.items()),
                constant,
            )
        )
        auth = counts.get("unknown token (401): the token lookup alone")
        if auth is not None:
            targets.append(
                Target("token authentication adds ≤ 1 statement", f"{auth} statement(s)", auth <= 1)
            )
    return targets


def _transfers(report: Report) -> list[Target]:
    targets = []
    imported = report.transfers.get("import products (CSV)")
    if imported:
        targets.append(
            Target(
                f"CSV import of {imported['lines']:,} lines < {IMPORT_LIMIT_S} s",
                f"{imported['seconds']:.1f} s",
                imported["seconds"] < IMPORT_LIMIT_S,
            )
        )
    exported = report.transfers.get("export products.csv")
    if exported:
        growth = exported["rss_peak_mb"] - exported["rss_before_mb"]
        targets.append(
            Target(
                f"CSV export of {exported['lines']:,} rows with flat memory "
                f"(< {FLAT_EXPORT_MB} MB growth)",
                f"{exported['seconds']:.1f} s, worker {exported['rss_before_mb']:.0f} → "
                f"{exported['rss_peak_mb']:.0f} MB",
                growth < FLAT_EXPORT_MB,
            )
        )
    return targets
