"""The sqladmin panel at /admin, mounted with its own sessionmaker and our templates."""

from __future__ import annotations

from fastapi import FastAPI

from app.admin.auth import StaffAuthBackend
from app.admin.pages import TEMPLATES_DIR
from app.admin.site import BackofficeAdmin
from app.db import Database
from app.ratelimit import RateLimiter
from app.settings import Settings


def mount_admin(
    app: FastAPI, database: Database, settings: Settings, limiter: RateLimiter, cookie_name: str
) -> BackofficeAdmin:
    """Mount the admin at /admin on `app`."""
    return BackofficeAdmin(
        app,
        session_maker=database.admin_sessionmaker,
        base_url="/admin",
        title="Backoffice",
        logo_url="/static/img/logo.svg",
        templates_dir=str(TEMPLATES_DIR),
        authentication_backend=StaffAuthBackend(database, settings, cookie_name),
        database=database,
        settings=settings,
        limiter=limiter,
    )
