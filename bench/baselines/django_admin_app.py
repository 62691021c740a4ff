"""Baseline (e) of SPEC §11: the Django admin changelist of the same `products` table.

A one-module Django project: Django's own admin (sessions in the database, the stock
changelist and templates, DEBUG off, the cached template loader) over the unmanaged
`peers.Product`, 25 a page, searching sku and name, an `is_active` filter, the columns of
our admin product list, newest first. Django's own tables (auth, sessions, admin log,
content types) live in a separate database, BASELINE_DJANGO_DATABASE_URL; a router sends
the product tables to the benchmark's database, where Django creates nothing.

    python django_admin_app.py prepare     # migrate Django's database, add the superuser
    gunicorn django_admin_app:application --workers 1 --bind 127.0.0.1:8003

Environment: BASELINE_DATABASE_URL, BASELINE_DJANGO_DATABASE_URL, BASELINE_SECRET, and for
`prepare` BASELINE_ADMIN_USER and BASELINE_ADMIN_PASSWORD.
"""

from __future__ import annotations

import os
import sys
from typing import Any
from urllib.parse import urlparse

import django
from django.conf import settings

PRODUCT_DB = "bench"


def _database(url: str) -> dict[str, Any]:
    parts = urlparse(url)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": parts.path.lstrip("/"),
        "USER": parts.username or "postgres",
        "PASSWORD": parts.password or "",
        "HOST": parts.hostname or "127.0.0.1",
        "PORT": str(parts.port or 5432),
        "CONN_MAX_AGE": 600,
        "CONN_HEALTH_CHECKS": True,
    }


class ProductTablesRouter:
    """The `app` models (the product's tables) on the benchmark database, never migrated."""

    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        return PRODUCT_DB if model._meta.app_label == "app" else None

    db_for_write = db_for_read

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return app_label != "app" and db == "default"


settings.configure(
    DEBUG=False,
    SECRET_KEY=os.environ["BASELINE_SECRET"],
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    USE_TZ=True,
    TIME_ZONE="UTC",  # datetimes as the product writes them ("…Z")
    INSTALLED_APPS=[
        "django.contrib.admin",
        "django.contrib.auth",
        "django.contrib.contenttypes",
        "django.contrib.sessions",
        "django.contrib.messages",
        "peers",
    ],
    MIDDLEWARE=[
        "django.middleware.security.SecurityMiddleware",
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.common.CommonMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
    ],
    TEMPLATES=[
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "APP_DIRS": True,
            "OPTIONS": {
                "context_processors": [
                    "django.template.context_processors.request",
                    "django.contrib.auth.context_processors.auth",
                    "django.contrib.messages.context_processors.messages",
                ]
            },
        }
    ],
    DATABASES={
        "default": _database(os.environ["BASELINE_DJANGO_DATABASE_URL"]),
        PRODUCT_DB: _database(os.environ["BASELINE_DATABASE_URL"]),
    },
    DATABASE_ROUTERS=[f"{__name__}.ProductTablesRouter"],
    STATIC_URL="/static/",
)
django.setup()

from django.contrib import admin  # noqa: E402  (needs settings first)
from django.http import HttpRequest, HttpResponse  # noqa: E402
from django.urls import path  # noqa: E402
from peers.models import Product  # noqa: E402

from django.core.wsgi import get_wsgi_application  # noqa: E402  # isort: skip


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    # Our admin product list: the same columns, 25 a page, newest first, search, a filter.
    list_display = ["id", "sku", "name", "price", "stock", "reorder_level", "is_active"]
    list_per_page = 25
    search_fields = ["sku", "name"]
    list_filter = ["is_active"]
    ordering = ["-id"]


def healthz(_: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz),
]
application = get_wsgi_application()


def prepare() -> None:
    """Django's own tables in its own database, and the superuser the benchmark logs in as."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    call_command("migrate", database="default", interactive=False, verbosity=0)
    get_user_model().objects.create_superuser(
        os.environ["BASELINE_ADMIN_USER"], "", os.environ["BASELINE_ADMIN_PASSWORD"]
    )


if __name__ == "__main__" and sys.argv[1:] == ["prepare"]:
    prepare()
