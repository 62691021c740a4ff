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
        create_fn=service.create_customer,
        update_fn=service.update_customer,
        delete_fn=service.delete_customer,
        unique_field="email",
    )
)
