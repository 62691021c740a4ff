"""Baselines (c) and (d) of SPEC §11 in Django REST Framework: the product list and the
nested order detail.

A one-module Django project over the product's own tables (the unmanaged models of
`peers`): `GET /api/v1/products?limit=50` (ModelSerializer, CursorPagination ordered by id)
and `GET /api/v1/orders/<id>` (nested ModelSerializers: the customer embedded, the items
with their product's sku and name; select_related for the customer, one prefetch for the
items joined to their products). An authentication class resolves our personal tokens by
SHA-256 digest (one query: token, owner, roles); permission classes ask for products:read
and orders:read. DEBUG off, persistent connections. Served by gunicorn:
    BASELINE_DATABASE_URL=postgresql://… BASELINE_SECRET=… \
        gunicorn drf_app:application --workers 1 --bind 127.0.0.1:8002
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any
from urllib.parse import parse_qs, urlparse

import django
from django.conf import settings

_url = urlparse(os.environ["BASELINE_DATABASE_URL"])
settings.configure(
    DEBUG=False,
    SECRET_KEY=os.environ["BASELINE_SECRET"],
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    USE_TZ=True,
    TIME_ZONE="UTC",  # datetimes as the product writes them ("…Z")
    INSTALLED_APPS=[
        "django.contrib.contenttypes",
        "django.contrib.auth",
        "rest_framework",
        "peers",
    ],
    MIDDLEWARE=[
        "django.middleware.security.SecurityMiddleware",
        "django.middleware.common.CommonMiddleware",
    ],
    DATABASES={
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": _url.path.lstrip("/"),
            "USER": _url.username or "postgres",
            "PASSWORD": _url.password or "",
            "HOST": _url.hostname or "127.0.0.1",
            "PORT": str(_url.port or 5432),
            "CONN_MAX_AGE": 600,
            "CONN_HEALTH_CHECKS": True,
        }
    },
    REST_FRAMEWORK={
        "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
        "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
        "UNAUTHENTICATED_USER": None,
    },
)
django.setup()

from django.db import connection  # noqa: E402  (needs settings first)
from django.db.models import Prefetch  # noqa: E402
from django.http import HttpRequest, JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402
from peers.models import Customer, Order, OrderItem, Product  # noqa: E402
from rest_framework import generics, serializers  # noqa: E402
from rest_framework.authentication import BaseAuthentication  # noqa: E402
from rest_framework.exceptions import AuthenticationFailed  # noqa: E402
from rest_framework.pagination import CursorPagination  # noqa: E402
from rest_framework.permissions import BasePermission  # noqa: E402
from rest_framework.response import Response  # noqa: E402

from django.core.wsgi import get_wsgi_application  # noqa: E402  # isort: skip

TOKEN_SQL = (
    "SELECT t.scopes, u.is_active, r.permissions FROM api_tokens t "
    "JOIN users u ON u.id = t.user_id "
    "LEFT JOIN user_roles ur ON ur.user_id = u.id LEFT JOIN roles r ON r.id = ur.role_id "
    "WHERE t.token_hash = %s AND t.revoked_at IS NULL "
    "AND (t.expires_at IS NULL OR t.expires_at > now())"
)


class ProductSerializer(serializers.ModelSerializer):
    class Meta:
        model = Product
        fields = [
            "id",
            "sku",
            "name",
            "description",
            "price",
            "stock",
            "reorder_level",
            "is_active",
            "version",
            "created_at",
            "updated_at",
        ]


class Caller:
    """The authenticated token's owner, with the token's effective permissions."""

    is_authenticated = True

    def __init__(self, permissions: set[str]) -> None:
        self.permissions = permissions


class PersonalTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer bo_…` looked up by SHA-256 digest in api_tokens."""

    def authenticate(self, request: Any) -> tuple[Caller, str] | None:
        scheme, _, token = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        with connection.cursor() as cursor:
            cursor.execute(TOKEN_SQL, [hashlib.sha256(token.strip().encode()).hexdigest()])
            rows = cursor.fetchall()
        if not rows or not rows[0][1]:
            raise AuthenticationFailed("Invalid token.")
        # Django loads jsonb as text (its JSONField decodes): decode here the same way.
        granted: set[str] = set()
        for _, _, permissions in rows:
            granted.update(json.loads(permissions) if permissions else ())
        scopes = json.loads(rows[0][0])
        return Caller(granted & set(scopes) if scopes else granted), token

    def authenticate_header(self, request: Any) -> str:
        return "Bearer"


class CustomerBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Customer
        fields = ["id", "name", "email", "company"]


class OrderItemSerializer(serializers.ModelSerializer):
    sku = serializers.CharField(source="product.sku")
    name = serializers.CharField(source="product.name")
    line_total = serializers.SerializerMethodField()

    class Meta:
        model = OrderItem
        fields = ["id", "product_id", "quantity", "unit_price", "sku", "name", "line_total"]

    def get_line_total(self, item: OrderItem) -> str:
        return f"{item.unit_price * item.quantity:.2f}"


class OrderSerializer(serializers.ModelSerializer):
    """The product's OrderRead: the order, its customer embedded, its items in id order."""

    customer = CustomerBriefSerializer()
    items = OrderItemSerializer(many=True)

    class Meta:
        model = Order
        fields = [
            "id",
            "number",
            "customer_id",
            "customer",
            "status",
            "notes",
            "total",
            "placed_at",
            "created_by_id",
            "items",
            "version",
            "created_at",
            "updated_at",
        ]


class _Needs(BasePermission):
    permission = ""

    def has_permission(self, request: Any, view: Any) -> bool:
        return self.permission in getattr(request.user, "permissions", ())


class CanReadProducts(_Needs):
    permission = "products:read"


class CanReadOrders(_Needs):
    permission = "orders:read"


class ProductCursorPagination(CursorPagination):
    ordering = "id"
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 200

    def get_paginated_response(self, data: Any) -> Response:
        """The product's shape: {"items": [...], "next_cursor": "…" | null}."""
        link = self.get_next_link()
        cursor = parse_qs(urlparse(link).query)["cursor"][0] if link else None
        return Response({"items": data, "next_cursor": cursor})


class ProductList(generics.ListAPIView):
    queryset = Product.objects.all()
    serializer_class = ProductSerializer
    pagination_class = ProductCursorPagination
    authentication_classes = [PersonalTokenAuthentication]
    permission_classes = [CanReadProducts]


class OrderDetail(generics.RetrieveAPIView):
    # Two queries after the token's: the order joined to its customer, then its items
    # joined to their products (one prefetch, select_related inside it).
    queryset = Order.objects.select_related("customer").prefetch_related(
        Prefetch("items", queryset=OrderItem.objects.select_related("product").order_by("id"))
    )
    serializer_class = OrderSerializer
    authentication_classes = [PersonalTokenAuthentication]
    permission_classes = [CanReadOrders]


def healthz(_: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("api/v1/products", ProductList.as_view()),
    path("api/v1/orders/<int:pk>", OrderDetail.as_view()),
    path("healthz", healthz),
]
application = get_wsgi_application()
