"""Property-based run of the whole OpenAPI document (schemathesis, in-process, SQLite).

Every operation gets a bounded number of generated requests (valid and invalid ones), sent
as an admin with a personal token; no answer may be a server error, an undocumented status
code or content type, or a body that breaks its declared schema (SPEC §6).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import Counter
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import APIOperation
from schemathesis.checks import load_all_checks, not_a_server_error
from schemathesis.generation.feedback import FeedbackSources
from schemathesis.pytest._test_builder import build_operation_test
from schemathesis.python._constants.orchestrator import make_constants_value_source
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.pool import NullPool

from app.auth.passwords import hash_password_sync
from app.auth.tokens import mint_personal_token
from app.infra.db import Database, create_engine
from app.infra.migrations import upgrade_engine
from app.main import create_app
from app.models import ApiToken, Customer, Order, OrderItem, Product, Role, User
from app.permissions import PERMISSIONS
from tests.conftest import test_settings as settings_for

# Per operation, on top of the explicit examples and the boundary cases of the coverage
# phase: about 2,500 requests, a minute or so.
MAX_EXAMPLES = 15
# The fuzzing principal's user, role and token live at ids the generator will not pick, so
# generated calls (deactivate user 1, strip role 1 of its permissions, revoke token 1) hit
# other rows and the run keeps its credentials to the end.
FUZZ_ID = 1_234_567
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
calls: Counter[str] = Counter()
statuses: Counter[int] = Counter()
# Operations where the fuzzing principal was refused (it must keep its access to the end).
refused: Counter[str] = Counter()


# Built at import: schemathesis parametrizes from a loaded schema (its fixture-based loader
# does not run under pytest 9). The database file is created and removed by `fuzz_token`.
FUZZ_DIR = Path(tempfile.gettempdir()) / f"backoffice-schemathesis-{os.getpid()}"
FUZZ_URL = f"sqlite+aiosqlite:///{FUZZ_DIR / 'fuzz.db'}"
APP_SETTINGS = settings_for(
    FUZZ_URL, rate_limit_api="1000000/minute", rate_limit_login="1000000/minute"
)
# NullPool: connections are opened on the loop that uses them (schemathesis's own thread).
app = create_app(
    APP_SETTINGS, Database.from_engine(create_engine(APP_SETTINGS, poolclass=NullPool))
)
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


async def _seed(engine: AsyncEngine) -> str:
    """A few rows to find, and an all-permissions user with a personal token (at FUZZ_ID)."""
    async with async_sessionmaker(engine, expire_on_commit=False)() as session:
        customer = Customer(name="Seed Customer", email="seed@example.com")
        product = Product(sku="SEED-001", name="Seed", price=Decimal("5.00"), stock=50)
        session.add_all([customer, product])
        await session.flush()
        order = Order(number="SO-000001", customer_id=customer.id, status="draft")
        order.items = [OrderItem(product_id=product.id, quantity=1, unit_price=product.price)]
        order.total = product.price
        role = Role(id=FUZZ_ID, name="fuzzer", permissions=sorted(PERMISSIONS))
        user = User(
            id=FUZZ_ID,
            email="fuzzer@example.com",
            full_name="Fuzzer",
            password_hash=hash_password_sync("fuzzing is not a password 1"),
            security_stamp="fuzzer",
            roles=[role],
        )
        minted = mint_personal_token()
        token = ApiToken(
            id=FUZZ_ID,
            user=user,
            name="schemathesis",
            token_prefix=minted.prefix,
            token_hash=minted.hash,
        )
        session.add_all([order, role, user, token])
        await session.commit()
    return minted.plaintext


@pytest.fixture(scope="module")
async def fuzz_token() -> AsyncIterator[str]:
    """Migrate and seed the run's own SQLite file (the run commits); remove it afterwards."""
    FUZZ_DIR.mkdir(parents=True, exist_ok=True)
    engine = create_engine(settings_for(FUZZ_URL))
    try:
        await upgrade_engine(engine)
        token = await _seed(engine)
    finally:
        await engine.dispose()
    yield token
    print(
        f"\nschemathesis: {sum(calls.values())} generated requests over {len(calls)} operations;"
        f" statuses {dict(sorted(statuses.items()))}"
    )
    shutil.rmtree(FUZZ_DIR, ignore_errors=True)


# schemathesis's own `@schema.parametrize()` gives every operation the same node id under
# pytest 9.2 (it passes the bare function name as `originalname`), so pytest-xdist runs one
# of them and drops the rest. The operations are parametrized here instead, and each one
# gets the test schemathesis itself would build: explicit examples, the coverage phase
# (boundary and invalid values, other methods) and fuzzing, valid and invalid.
OPERATIONS = {result.ok().label: result.ok() for result in schema.get_all_operations()}
HYPOTHESIS_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


def operation_test(operation: APIOperation, token: str) -> Callable[[], None]:
    """The schemathesis test of one operation: every generated case, called and validated."""

    def call_and_check(case: schemathesis.Case) -> None:
        calls[operation.label] += 1
        response = case.call_and_validate(
            headers={"Authorization": f"Bearer {token}"}, checks=CHECKS
        )
        statuses[response.status_code] += 1
        # The password flow answers 401 to generated credentials; nothing else may refuse.
        if response.status_code in {401, 403} and not operation.path.startswith("/api/v1/auth"):
            refused[operation.label] += 1

    load_all_checks()
    test: Callable[[], None] = build_operation_test(
        config=schema.config,
        operation=operation,
        test_func=call_and_check,
        given_kwargs={},
        feedback=FeedbackSources(constants_value_source=make_constants_value_source(schema)),
        explicit_settings=HYPOTHESIS_SETTINGS,
    )
    return test


@pytest.mark.parametrize("label", list(OPERATIONS))
def test_every_operation_conforms_to_the_openapi_document(label: str, fuzz_token: str) -> None:
    operation_test(OPERATIONS[label], fuzz_token)()


def test_the_generated_requests_ran_with_full_access() -> None:
    if not calls:
        pytest.skip("the schemathesis run did not take place in this session")
    assert refused == Counter(), "the fuzzing principal lost its access during the run"
    assert set(calls) == set(OPERATIONS)
    successes = sum(n for status, n in statuses.items() if 200 <= status < 300)
    assert successes >= len(calls), dict(statuses)
