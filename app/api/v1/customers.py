"""Customers: list, read, create, edit, delete (customers:<action>)."""

from __future__ import annotations

from app.api.crud import Resource, crud_router
from app.customers import service
from app.customers.schemas import CustomerCreate, CustomerRead, CustomerUpdate

router = crud_router(
    Resource(
        name="customers",
        singular="customer",
        spec=service.LIST_SPEC,
        read=CustomerRead,
        create=CustomerCreate,
        update=CustomerUpdate,
        get=service.get_customer,
        writes=service.WRITES,
        unique_field="email",
    )
)
