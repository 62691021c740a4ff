"""Products: list, read, create, edit, delete (products:<action>)."""

from __future__ import annotations

from app.api.crud import Resource, crud_router
from app.products import service
from app.products.schemas import ProductCreate, ProductRead, ProductUpdate

router = crud_router(
    Resource(
        name="products",
        singular="product",
        spec=service.LIST_SPEC,
        read=ProductRead,
        create=ProductCreate,
        update=ProductUpdate,
        get=service.get_product,
        writes=service.WRITES,
        unique_field="sku",
    )
)
