"""The sqladmin panel at /admin, mounted with its own sessionmaker and our templates."""

from __future__ import annotations

from fastapi import FastAPI
from sqladmin import Admin
from sqladmin.authentication import AuthenticationBackend
from starlette.requests import Request
from starlette.responses import Response

from app.db import Database
from app.settings import Settings

TEMPLATES_DIR = "templates"


class StaffAuthBackend(AuthenticationBackend):
    """Admin authentication; staff sessions and CSRF arrive with the auth issue.

    Until then nobody is authenticated and every login attempt is refused.
    """

    def __init__(self) -> None:
        # No middleware of sqladmin's own: its SessionMiddleware would set a `session`
        # cookie, and the only session cookie allowed is ours (SPEC §5).
        self.middlewares = []

    async def login(self, request: Request) -> Response | bool:
        return False

    async def logout(self, request: Request) -> Response | bool:
        return True

    async def authenticate(self, request: Request) -> Response | bool:
        return False


def mount_admin(app: FastAPI, database: Database, settings: Settings) -> Admin:
    """Mount the admin at /admin on `app`."""
    return Admin(
        app,
        session_maker=database.admin_sessionmaker,
        base_url="/admin",
        title="Backoffice",
        templates_dir=TEMPLATES_DIR,
        authentication_backend=StaffAuthBackend(),
    )
