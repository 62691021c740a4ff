"""Which recorded statements the benchmark replays under EXPLAIN ANALYZE: reads only."""

from __future__ import annotations

import pytest

from bench.statements import _reads


@pytest.mark.parametrize(
    ("sql", "replayed"),
    [
        ("SELECT products.id FROM products ORDER BY products.id LIMIT 51", True),
        # A page carrying the credential lookup (app/infra/riding.py); `updated_at` and
        # `last_used_at` are column names, not writes.
        (
            "WITH rider AS (SELECT api_tokens.last_used_at FROM api_tokens) SELECT 0 AS part"
            " UNION ALL SELECT 1, products.updated_at FROM products",
            True,
        ),
        ("UPDATE api_tokens SET last_used_at=$1 WHERE api_tokens.id = $2", False),
        ("WITH audit AS (INSERT INTO audit_events (a) VALUES ($1) RETURNING id) SELECT 1", False),
        ("with gone as (delete from webhook_events returning id) select count(*) from gone", False),
        ("INSERT INTO customers (name) VALUES ($1)", False),
    ],
)
def test_only_reads_are_replayed(sql: str, replayed: bool) -> None:
    assert _reads(sql) is replayed
