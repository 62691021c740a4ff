"""The throwaway benchmark database: create, migrate, bulk-seed, grow to 1M rows, drop.

Products are generated inside PostgreSQL (INSERT … SELECT over generate_series: no rows
travel from Python); customers, orders and items are built in Python and sent with COPY.
Nothing goes through the ORM row by row.
"""

from __future__ import annotations

import os
import random
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg
from sqlalchemy.engine import make_url

from app.auth.api_tokens import create_token
from app.auth.principal import Principal
from app.auth.token_commands import CreateToken
from app.infra.db import Database, transaction
from app.infra.migrations import upgrade_engine
from app.infra.settings import load_settings
from app.models import OrderStatus
from app.users.commands import CreateUser
from app.users.service import create_user
from bench.processes import process_alive

DEFAULT_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
NAME_PREFIX = "backoffice_bench_"
# The Django admin peer's own tables (auth, sessions) go to a second throwaway database.
DJANGO_SUFFIX = "_django"
SEED = "backoffice-bench"
CUSTOMERS = 2_000
ORDERS = 5_000
BENCH_PRINCIPAL = Principal(user_id=None, email=None, channel="cli", auth_method="cli")


def _words(text: str) -> list[str]:
    return text.split()


# The benchmark's own vocabulary (not the demo data's, which may change): "oak" is in one
# product name in ten, the search term of the cost-growth probes.
CODES = _words("OFF TLS KIT ELC GRD OUT")
ADJECTIVES = _words("Compact Ergonomic Heavy-Duty Lightweight Classic Premium Pro")
FINISHES = _words("Steel Oak Bamboo Aluminium Graphite Ceramic Walnut Copper Slate Linen")
NOUNS = _words("Desk Chair Lamp Kettle Hammer Drill Headphones Keyboard Planter Tent Backpack")
FIRST_NAMES = _words("Amara Ben Chloe Dmitri Elena Farid Grace Hiroshi Ines Jonas Kavya Liam Zoe")
LAST_NAMES = _words("Okafor Lindqvist Moreau Petrov Rossi Haddad Nakamura Garcia Novak Patel Kim")
COMPANIES = ["Northwind Traders", "Acme Fabrication", "Blue Harbor Cafe", "Lumen Studio"]

# Product i is the same whatever the table size: the 10k rows are the first 10k of the 1M.
PRODUCTS_SQL = """
INSERT INTO products (sku, name, description, price, stock, reorder_level, is_active,
                      version, created_at, updated_at)
SELECT ($3::text[])[1 + i % cardinality($3::text[])] || '-' || lpad(i::text, 7, '0'),
       ($4::text[])[1 + (i * 3) % cardinality($4::text[])] || ' '
         || ($5::text[])[1 + (i * 13) % cardinality($5::text[])] || ' '
         || ($6::text[])[1 + (i * 31) % cardinality($6::text[])],
       ($5::text[])[1 + (i * 13) % cardinality($5::text[])] || ' '
         || lower(($6::text[])[1 + (i * 31) % cardinality($6::text[])]) || ', benchmark range.',
       (2 + ((i::bigint * 7919) % 47800) / 100.0)::numeric(12, 2),
       CASE WHEN i % 10 = 0 THEN i % 7 ELSE 20 + (i * 11) % 281 END,
       (i % 5) * 5,
       i % 23 <> 0,
       1,
       $7::timestamptz - make_interval(secs => $2 - i),
       $7::timestamptz - make_interval(secs => $2 - i)
FROM generate_series($1::int, $2::int) AS i
"""


def server_url() -> str:
    """The maintenance database URL (BENCH_DATABASE_URL, default: local `postgres`)."""
    return os.environ.get("BENCH_DATABASE_URL", DEFAULT_SERVER_URL)


def database_url(name: str) -> str:
    """The URL of database `name` on the same server (plain libpq form, asyncpg-compatible)."""
    return make_url(server_url()).set(database=name).render_as_string(hide_password=False)


def new_database_name() -> str:
    return f"{NAME_PREFIX}{os.getpid()}_{secrets.token_hex(3)}"


def django_database_name(name: str) -> str:
    """The Django admin peer's database beside database `name` (nothing of ours in it)."""
    return name + DJANGO_SUFFIX


async def create_database(name: str) -> None:
    """Database `name` and its Django peer's database."""
    connection = await asyncpg.connect(server_url())
    try:
        await _drop_orphans(connection)
        for each in (name, django_database_name(name)):
            await connection.execute(f'CREATE DATABASE "{each}"')
    finally:
        await connection.close()


async def drop_database(name: str) -> None:
    connection = await asyncpg.connect(server_url())
    try:
        for each in (name, django_database_name(name)):
            await connection.execute(f'DROP DATABASE IF EXISTS "{each}" WITH (FORCE)')
    finally:
        await connection.close()


async def _drop_orphans(connection: asyncpg.Connection) -> None:
    """Databases of earlier runs that were killed outright (their process is gone)."""
    names = await connection.fetch(
        "SELECT datname FROM pg_database WHERE datname LIKE $1", f"{NAME_PREFIX}%"
    )
    for (datname,) in names:
        match = re.fullmatch(rf"{NAME_PREFIX}(\d+)_[0-9a-f]+({DJANGO_SUFFIX})?", datname)
        if match and not process_alive(int(match.group(1))):
            await connection.execute(f'DROP DATABASE IF EXISTS "{datname}" WITH (FORCE)')


@dataclass(frozen=True)
class Credentials:
    """The benchmark's staff user: admin login and a personal API token."""

    email: str
    password: str
    token: str


async def migrate_and_create_user(url: str) -> Credentials:
    """`alembic upgrade head`, then an admin user with a personal token (the app's services)."""
    settings = load_settings(database_url=url, secret_key=secrets.token_urlsafe(48), _env_file=None)
    database = Database.from_settings(settings)
    email = "bench.runner@example.com"
    password = f"Pw-{secrets.token_urlsafe(18)}"
    try:
        await upgrade_engine(database.engine)
        async with transaction(database.sessionmaker) as session:
            command = CreateUser(
                email=email, password=password, full_name="Benchmark", roles=["admin"]
            )
            user = await create_user(session, BENCH_PRINCIPAL, command)
            _, token = await create_token(
                session, BENCH_PRINCIPAL, user, CreateToken(name="benchmark")
            )
    finally:
        await database.dispose()
    return Credentials(email=email, password=password, token=token)


async def add_products(url: str, first: int, last: int, *, rebuild_indexes: bool) -> None:
    """Products first..last; with `rebuild_indexes`, secondary indexes are rebuilt after.

    Rebuilding (DROP, insert, CREATE from pg_get_indexdef) is the usual bulk-load path:
    building a trigram index once is several times faster than growing it row by row.
    The result is the same schema; constraint-backed indexes (pk, unique sku) stay.
    """
    connection = await asyncpg.connect(url)
    try:
        await connection.execute("SET maintenance_work_mem = '256MB'")
        async with connection.transaction():
            indexes = await connection.fetch(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'products' "
                "AND indexname NOT IN "
                "(SELECT conname FROM pg_constraint WHERE conrelid = 'products'::regclass)"
            )
            if rebuild_indexes:
                for row in indexes:
                    await connection.execute(f'DROP INDEX "{row["indexname"]}"')
            await connection.execute(
                PRODUCTS_SQL,
                first,
                last,
                CODES,
                ADJECTIVES,
                FINISHES,
                NOUNS,
                datetime(2026, 1, 1, tzinfo=UTC),
            )
            if rebuild_indexes:
                for row in indexes:
                    await connection.execute(row["indexdef"])
    finally:
        await connection.close()


async def add_customers_and_orders(url: str) -> None:
    """CUSTOMERS customers and ORDERS orders of 1-4 items over the first products (COPY)."""
    rng = random.Random(SEED)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    connection = await asyncpg.connect(url)
    try:
        async with connection.transaction():
            await _copy_customers(connection, rng, now)
            customer_ids = [r[0] for r in await connection.fetch("SELECT id FROM customers")]
            products = await connection.fetch("SELECT id, price FROM products ORDER BY id")
            order_ids = [
                r[0]
                for r in await connection.fetch(
                    "SELECT nextval(pg_get_serial_sequence('orders', 'id')) "
                    "FROM generate_series(1, $1)",
                    ORDERS,
                )
            ]
            await _copy_orders(connection, rng, now, order_ids, customer_ids, products)
    finally:
        await connection.close()


async def _copy_customers(
    connection: asyncpg.Connection, rng: random.Random, now: datetime
) -> None:
    records = []
    for index in range(1, CUSTOMERS + 1):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        company = rng.choice(COMPANIES)
        email = f"{first}.{last}.{index}@example.com".lower()
        phone = f"+1 555-01{rng.randint(0, 99):02d}"
        created = now - timedelta(minutes=CUSTOMERS - index)
        records.append((f"{first} {last}", email, phone, company, "", True, 1, created, created))
    columns = [
        "name",
        "email",
        "phone",
        "company",
        "notes",
        "is_active",
        "version",
        "created_at",
        "updated_at",
    ]
    await connection.copy_records_to_table("customers", records=records, columns=columns)


async def _copy_orders(
    connection: asyncpg.Connection,
    rng: random.Random,
    now: datetime,
    order_ids: list[int],
    customer_ids: list[int],
    products: list[asyncpg.Record],
) -> None:
    statuses = [status.value for status in OrderStatus]
    orders, items = [], []
    for position, order_id in enumerate(order_ids):
        created = now - timedelta(minutes=10 * (len(order_ids) - position))
        status = rng.choice(statuses)
        total = Decimal("0.00")
        for product in rng.sample(products, rng.randint(1, 4)):
            quantity = rng.randint(1, 5)
            total += product["price"] * quantity
            items.append((order_id, product["id"], quantity, product["price"], created, created))
        placed = created + timedelta(minutes=30) if status != "draft" else None
        orders.append(
            (
                order_id,
                f"SO-{order_id:06d}",
                rng.choice(customer_ids),
                status,
                "",
                total,
                placed,
                None,
                1,
                created,
                placed or created,
            )
        )
    order_columns = [
        "id",
        "number",
        "customer_id",
        "status",
        "notes",
        "total",
        "placed_at",
        "created_by_id",
        "version",
        "created_at",
        "updated_at",
    ]
    await connection.copy_records_to_table("orders", records=orders, columns=order_columns)
    item_columns = ["order_id", "product_id", "quantity", "unit_price", "created_at", "updated_at"]
    await connection.copy_records_to_table("order_items", records=items, columns=item_columns)


async def seed(name: str, products: int) -> tuple[str, Credentials, dict[str, float]]:
    """Migrate database `name`, add the user, `products` products, customers and orders."""
    url = database_url(name)
    started = time.perf_counter()
    credentials = await migrate_and_create_user(url)
    migrated = time.perf_counter()
    await add_products(url, 1, products, rebuild_indexes=False)
    await add_customers_and_orders(url)
    await settle(url)
    timings = {
        "migrate_s": round(migrated - started, 1),
        "seed_small_s": round(time.perf_counter() - migrated, 1),
    }
    return url, credentials, timings


async def grow(url: str, current: int, total: int) -> float:
    """Products current+1..total (indexes rebuilt after); the seconds it took."""
    started = time.perf_counter()
    await add_products(url, current + 1, total, rebuild_indexes=True)
    await settle(url)
    return time.perf_counter() - started


async def settle(url: str) -> None:
    """VACUUM ANALYZE and CHECKPOINT, so autovacuum and a checkpoint do not land mid-run."""
    connection = await asyncpg.connect(url)
    try:
        await connection.execute("VACUUM (ANALYZE)")
        await connection.execute("CHECKPOINT")
    finally:
        await connection.close()


async def fetch_column(url: str, query: str, *args: object) -> list[object]:
    connection = await asyncpg.connect(url)
    try:
        return [row[0] for row in await connection.fetch(query, *args)]
    finally:
        await connection.close()


async def fetch_value(url: str, query: str, *args: object) -> object:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetchval(query, *args)
    finally:
        await connection.close()
