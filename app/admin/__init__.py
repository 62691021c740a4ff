"""The sqladmin panel at /admin: our login, policy, views, dashboard and account page."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI
from sqlalchemy import inspect

from app.admin.account import AccountView, ProductImportView
from app.admin.auth import StaffAuthBackend
from app.admin.display import Display, human_labels
from app.admin.policy import PolicyAuthorization
from app.admin.site import BackofficeAdmin
from app.admin.views.audit import AuditEventView
from app.admin.views.base import AdminError, ServiceModelView
from app.admin.views.domain import CustomerView, OrderView, ProductView
from app.admin.views.staff import ApiTokenView, RoleView, StaffSessionView, UserView
from app.admin.views.webhooks import WebhookDeliveryView, WebhookEndpointView
from app.auth.login import LoginThrottle
from app.infra.db import Database
from app.infra.db_errors import failure_kind
from app.infra.ratelimit import RateLimiter
from app.infra.settings import Settings
from app.resources import resource_dir


def _not_a_user_error(record: logging.LogRecord) -> bool:
    # sqladmin logs every exception from a save with a traceback; a rule message shown to
    # the user (AdminError) is not an error, and a database that cannot serve is logged
    # once, without its SQL, by app/admin/outage.py. Unexpected ones are logged by our views.
    error = record.exc_info[1] if record.exc_info else None
    return error is None or not (isinstance(error, AdminError) or failure_kind(error) is not None)


logging.getLogger("sqladmin.application").addFilter(_not_a_user_error)

MODEL_VIEWS: list[type[ServiceModelView]] = [
    OrderView,
    CustomerView,
    ProductView,
    UserView,
    RoleView,
    ApiTokenView,
    StaffSessionView,
    AuditEventView,
    WebhookEndpointView,
    WebhookDeliveryView,
]


def mount_admin(
    app: FastAPI, database: Database, settings: Settings, limiter: RateLimiter, cookie_name: str
) -> BackofficeAdmin:
    """Mount the admin at /admin on `app`."""
    admin = BackofficeAdmin(
        app,
        session_maker=database.admin_sessionmaker,
        base_url="/admin",
        title="Backoffice",
        logo_url="/static/img/logo.svg",
        templates_dir=str(resource_dir("templates")),
        authentication_backend=StaffAuthBackend(database, settings, cookie_name),
        authorization_backend=PolicyAuthorization(),
        database=database,
        settings=settings,
        limiter=limiter,
    )
    # Views are classes; each app instance gets subclasses bound to its own database, so
    # two apps in one process (tests, several workers) never share a session factory.
    throttle = LoginThrottle(limiter, settings.rate_limit_login)
    display = Display(settings.admin_timezone)
    for view in [*MODEL_VIEWS, AccountView, ProductImportView]:
        extra: dict[str, Any] = {"login_throttle": throttle} if view is AccountView else {}
        if issubclass(view, ServiceModelView):
            # Every page shows values one way: human labels, money, local time, icons.
            extra |= {
                "display": display,
                "column_type_formatters": display.formatters(),
                "column_labels": human_labels(
                    list(inspect(view.model).attrs.keys()), view.column_labels
                ),
            }
        bound = type(view.__name__, (view,), {"database": database, **extra})
        admin.add_view(bound)
    admin.allow_post_actions()
    return admin
