"""The targets of SPEC §11, judged from a finished report (ratios of one run only)."""

from __future__ import annotations

import os

from bench.report import Report, ScalingRow, Target, ThroughputRow
from bench.scenarios import ADMIN_SEARCH, ORDER_DETAIL, ORDERS_LIST, PEER_NAMES

RSS_LIMIT_MB = 250
GROWTH_LIMIT = 1.5
IMPORT_LIMIT_S = 15
# "Flat" export memory: the worker grows by less than this while streaming 1M rows.
FLAT_EXPORT_MB = 50
RUNTIME_LIMIT_S = 20 * 60
FLOOR_RATIO = 0.75  # product list ≥ 0.75× the raw floor
DRF_RATIO = 10  # product list ≥ 10× the DRF list
NESTED_RATIO = 5  # order detail ≥ 5× the DRF nested detail
ADMIN_RATIO = 3  # admin product list page ≥ 3× the Django admin changelist
ORDERS_LIST_SHARE = 0.5  # orders list ≥ half the product list's req/s
TWO_WORKERS_RATIO = 1.7  # 2 workers ≥ 1.7× 1 worker on the product list
CREATE_CUSTOMER_STATEMENTS = 5


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


def _first(report: Report, scenario: str) -> ThroughputRow | None:
    """The row of `scenario` at the lowest concurrency (the SPEC's 16 connections)."""
    rows = [row for row in report.throughput if row.scenario == scenario]
    return min(rows, key=lambda r: r.measurement.connections, default=None)


def _starting(report: Report, prefix: str) -> ThroughputRow | None:
    return next((row for row in report.throughput if row.scenario.startswith(prefix)), None)


def _ratio_target(name: str, ratio: float | None, limit: float, detail: str = "") -> Target:
    measured = "—" if ratio is None else f"{ratio:.2f}×{detail}"
    return Target(name, measured, None if ratio is None else ratio >= limit)


def _rps(row: ThroughputRow | None) -> str:
    return "—" if row is None else f"{row.measurement.rps:,.0f} req/s"


def _throughput(report: Report, prefix: str) -> list[Target]:
    one = _first(report, f"{prefix}, 1 worker")
    targets = []
    if one is not None:
        c = one.measurement.connections
        targets += [
            _ratio_target(
                f"product list (1 worker, c{c}) ≥ {FLOOR_RATIO}× the raw floor",
                one.ratios.get("floor"),
                FLOOR_RATIO,
            ),
            _ratio_target(
                f"product list (1 worker, c{c}) ≥ {DRF_RATIO}× the DRF list",
                one.ratios.get("drf"),
                DRF_RATIO,
            ),
        ]
    detail = _starting(report, ORDER_DETAIL)
    if detail is not None:
        peer = _starting(report, PEER_NAMES["drf_nested"])
        targets.append(
            _ratio_target(
                f"order detail ≥ {NESTED_RATIO}× the DRF nested detail",
                detail.ratios.get("drf"),
                NESTED_RATIO,
                f" ({_rps(detail)} vs {_rps(peer)})",
            )
        )
    admin = _starting(report, ADMIN_SEARCH)
    if admin is not None:
        peer = _starting(report, PEER_NAMES["django_admin"])
        targets.append(
            _ratio_target(
                f"admin product list page ≥ {ADMIN_RATIO}× the Django admin changelist",
                admin.ratios.get("admin"),
                ADMIN_RATIO,
                f" ({_rps(admin)} vs {_rps(peer)})",
            )
        )
    orders = _starting(report, ORDERS_LIST)
    if orders is not None and one is not None and one.measurement.rps:
        targets.append(
            _ratio_target(
                f"orders list (limit 50) ≥ {ORDERS_LIST_SHARE}× the product list's req/s",
                orders.measurement.rps / one.measurement.rps,
                ORDERS_LIST_SHARE,
                f" ({_rps(orders)} vs {_rps(one)})",
            )
        )
    two = _first(report, f"{prefix}, 2 workers")
    if two is not None and one is not None and one.measurement.rps:
        targets.append(
            _ratio_target(
                f"product list, 2 workers ≥ {TWO_WORKERS_RATIO}× 1 worker "
                f"(c{two.measurement.connections})",
                two.measurement.rps / one.measurement.rps,
                TWO_WORKERS_RATIO,
                f" ({_rps(two)} vs {_rps(one)})",
            )
        )
    if one is not None:
        targets.append(_machine_ceiling(one, two, report.meta.get("cores") or os.cpu_count() or 1))
    return targets


def _cpu_per_request(row: ThroughputRow) -> dict[str, float]:
    """The row's measured CPU µs per request, by whom (unmeasured parts left out)."""
    m = row.measurement
    parts = {"worker": m.worker_cpu_us, "PostgreSQL": m.postgres_cpu_us, "wrk": m.wrk_cpu_us}
    return {name: us for name, us in parts.items() if us is not None}


def _machine_ceiling(one: ThroughputRow, two: ThroughputRow | None, cores: int) -> Target:
    """Reported, not judged: the req/s the machine's cores could serve at best if every
    request cost what it cost the 1-worker product list (server, PostgreSQL and wrk share
    the same cores), and how close 2 workers come to it."""
    name = (
        f"machine ceiling: {cores} cores / (worker + PostgreSQL + wrk CPU per request), "
        f"1 worker, c{one.measurement.connections} (reported, not a target)"
    )
    parts = _cpu_per_request(one)
    total = sum(parts.values())
    if not total:
        return Target(name, "—", None)
    ceiling = cores / (total * 1e-6)
    measured = (
        f"≈ {ceiling:,.0f} req/s at {total:,.0f} µs/req ("
        + ", ".join(f"{who} {us:,.0f}" for who, us in parts.items())
        + ")"
    )
    if two is not None:
        measured += f"; 2 workers: {_rps(two)} = {two.measurement.rps / ceiling:.0%} of it"
        cost = sum(_cpu_per_request(two).values())
        if cost:
            measured += f", at {cost:,.0f} µs/req"
    return Target(name, measured, None)


def _growth(report: Report) -> list[Target]:
    targets = []
    for surface in ("API", "admin"):
        failing = [r for r in report.scaling if r.surface == surface and r.errors]
        if failing:
            targets.append(
                Target(
                    f"{surface} list pages answer without errors",
                    "; ".join(f"{_page(r)}: {r.errors} errors" for r in failing),
                    False,
                )
            )
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
        created = counts.get("create customer")
        if created is not None:
            targets.append(
                Target(
                    f"create customer (Idempotency-Key, audit, outbox) ≤ "
                    f"{CREATE_CUSTOMER_STATEMENTS} statements",
                    f"{created} statement(s)",
                    created <= CREATE_CUSTOMER_STATEMENTS,
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
