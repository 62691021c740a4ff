"""Customer rules: unique email (any case), no deletion while orders reference them.

One function per write, each taking its command (app/customers/commands.py: the fields
already normalised and checked by the domain's rules), the principal and, for a
customer that exists, the version the caller expects (None: the caller names none).
Each checks the permission with the row and the version, applies the rule, and writes
the audit row and the outbox event.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import audit
from app.auth.principal import Principal
from app.commands import Writes, authorize, check_version, flush_versioned
from app.customers.commands import CreateCustomer, UpdateCustomer
from app.errors import Conflict, NotFound
from app.lists.grammar import ListSpec
from app.models import Customer, Order
from app.uniqueness import flush_or_conflict
from app.webhooks.outbox import emit

FIELDS = ["name", "email", "phone", "company", "notes", "is_active"]
UNIQUE = {"uq_customers_email_lower": "email", "customers.email": "email"}
CONFLICTS = {"email": "A customer with this email already exists."}
LIST_SPEC = ListSpec(
    model=Customer,
    sortable=("id", "name", "email", "company", "created_at", "updated_at"),
    default_sort="id",
    searchable=("name", "email", "company"),
    exact=("email", "company", "is_active"),
    ranges=("id", "created_at", "updated_at"),
)


async def get_customer(session: AsyncSession, customer_id: int) -> Customer:
    customer = await session.get(Customer, customer_id)
    if customer is None:
        raise NotFound("No such customer.")
    return customer


async def create_customer(
    session: AsyncSession, principal: Principal, command: CreateCustomer
) -> Customer:
    """Create a customer (audited; emits customer.created)."""
    authorize(principal, "customers:create")
    customer = Customer(**command.model_dump())
    session.add(customer)
    await flush_or_conflict(session, UNIQUE, CONFLICTS)
    created = audit.entry(
        principal,
        "customer.created",
        resource_type="customer",
        resource_id=customer.id,
        changes=audit.diff(None, audit.snapshot(customer, FIELDS)),
    )
    await emit(session, "customer.created", {"customer": audit.snapshot(customer)}, audit=created)
    return customer


async def update_customer(
    session: AsyncSession,
    principal: Principal,
    customer_id: int,
    command: UpdateCustomer,
    *,
    expected_version: int | None,
) -> Customer:
    """Apply the given fields (audited with the diff)."""
    customer = await get_customer(session, customer_id)
    authorize(principal, "customers:update", customer)
    check_version(customer, expected_version)
    values = command.changes()
    changes = audit.apply_changes(customer, values)
    if changes:
        await flush_versioned(session, UNIQUE, CONFLICTS)
        audit.record(
            session,
            principal,
            "customer.updated",
            resource_type="customer",
            resource_id=customer.id,
            changes=changes,
        )
    return customer


async def delete_customer(
    session: AsyncSession, principal: Principal, customer_id: int, *, expected_version: int | None
) -> None:
    """Delete a customer no order references (409 naming how many do; deactivate instead)."""
    customer = await get_customer(session, customer_id)
    authorize(principal, "customers:delete", customer)
    check_version(customer, expected_version)
    referencing = (
        await session.execute(
            select(func.count()).select_from(Order).where(Order.customer_id == customer.id)
        )
    ).scalar_one()
    if referencing:
        raise Conflict(
            f"The customer is referenced by {referencing} order(s); deactivate it instead.",
            referencing_orders=referencing,
        )
    before = audit.snapshot(customer, FIELDS)
    await session.delete(customer)
    await flush_versioned(session, UNIQUE, CONFLICTS)
    audit.record(
        session,
        principal,
        "customer.deleted",
        resource_type="customer",
        resource_id=customer.id,
        changes=audit.diff(before, None),
    )


WRITES = Writes(CreateCustomer, UpdateCustomer, create_customer, update_customer, delete_customer)
