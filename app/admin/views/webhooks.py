"""Admin views for webhook endpoints (secret shown once, rotated) and deliveries (re-send)."""

from __future__ import annotations

from typing import Any, ClassVar

from sqladmin.secret import Secret
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from wtforms import BooleanField, Form, HiddenField, SelectMultipleField, StringField

from app.admin.display import status_column
from app.admin.filters import BooleanFilter, ChoiceFilter, DateRangeFilter, IsSetFilter
from app.admin.notices import redirect_with_notice
from app.admin.views.base import (
    AdminError,
    CommandForm,
    ServiceModelView,
    action,
    require_principal,
    selected_pks,
)
from app.admin.views.details import show_on_details
from app.auth.principal import Principal
from app.commands import build
from app.models import WebhookDelivery, WebhookEndpoint
from app.models.webhooks import DELIVERY_STATUSES
from app.webhooks import service
from app.webhooks.commands import SUBSCRIBABLE, CreateWebhookEndpoint, UpdateWebhookEndpoint


class WebhookEndpointView(ServiceModelView, model=WebhookEndpoint):
    name = "Webhook endpoint"
    name_plural = "Webhook endpoints"
    identity = "webhook-endpoint"
    icon = "fa-solid fa-satellite-dish"
    category = "Integrations"
    column_list: ClassVar[Any] = [
        "id",
        "url",
        "events",
        "is_active",
        "failing_since",
        "disabled_reason",
    ]
    # Never the secret; what its form means for receivers instead (old secrets: rotate).
    column_details_list: ClassVar[Any] = [
        "id",
        "url",
        "description",
        "events",
        "is_active",
        "signing",
        "failing_since",
        "disabled_at",
        "disabled_reason",
        "version",
        "created_at",
        "updated_at",
    ]
    column_labels: ClassVar[Any] = {"signing": "Signing"}
    column_filters: ClassVar[Any] = [
        BooleanFilter(WebhookEndpoint.is_active, title="Active"),
        IsSetFilter(WebhookEndpoint.failing_since, title="Failing"),
    ]
    column_sortable_list: ClassVar[Any] = ["id", "url"]

    async def scaffold_form(self, rules: list[str] | None = None) -> type[Form]:
        # Only what was typed: the commands check every field (as they do the API's body).
        class EndpointForm(CommandForm):
            url = StringField("URL")
            description = StringField("Description")
            events = SelectMultipleField("Events", choices=[(e, e) for e in SUBSCRIBABLE])
            is_active = BooleanField("Active", default=True)
            version = HiddenField()

        return EndpointForm

    async def get_form_data_for_edit(self, obj: Any) -> dict[str, Any]:
        return {
            "url": obj.url,
            "description": obj.description,
            "events": list(obj.events or []),
            "is_active": obj.is_active,
            "version": obj.version,
        }

    def clean(self, data: dict[str, Any]) -> dict[str, Any]:
        # A field the post left out is not given (the command's default, or unchanged).
        return {k: v for k, v in super().clean(data).items() if v is not None}

    def _settings(self, request: Request) -> Any:
        # The site puts itself in the admin app's state (app/admin/site.py).
        return request.app.state.site.settings

    async def insert_model(self, request: Request, data: dict[str, Any]) -> Any:
        principal = require_principal(request)
        async with self.unit_of_work(request) as session:
            command = build(CreateWebhookEndpoint, self.clean(data))
            endpoint, secret = await service.create_endpoint(
                session, principal, self._settings(request), command
            )
        # sqladmin re-renders with a one-time modal instead of redirecting (no cookie, no URL).
        Secret.reveal_once(
            request,
            secret,
            title="Signing secret",
            label="Copy it now: receivers verify signatures with it. It will not be shown again.",
        )
        return endpoint

    async def update_model(self, request: Request, pk: str, data: dict[str, Any]) -> Any:
        values = self.clean(data)

        async def save(session: AsyncSession, principal: Principal, expected: int) -> Any:
            command = build(UpdateWebhookEndpoint, values)
            return await service.update_endpoint(
                session,
                principal,
                self._settings(request),
                int(pk),
                command,
                expected_version=expected,
            )

        return await self.save_edit(request, save)

    async def remove(self, session: AsyncSession, principal: Principal, obj: Any) -> None:
        # A delete button names no version: it acts on the endpoint as it is.
        await service.delete_endpoint(session, principal, obj.id, expected_version=None)

    @action(
        name="rotate-secret",
        label="Rotate signing secret",
        confirmation_message="Issue a new signing secret? The current one stops working now.",
        add_in_list=False,
    )
    async def rotate_secret(self, request: Request) -> Response:
        """A new secret for one endpoint, shown once in this response (never a redirect)."""
        principal = require_principal(request)
        pks = selected_pks(request)
        # One endpoint, named once: a secret is shown for exactly the row asked for.
        if len(pks) != 1 or "," in request.query_params.get("pks", ""):
            return redirect_with_notice(
                request, self.identity, None, "Choose one endpoint.", error=True
            )
        try:
            async with self.unit_of_work(request) as session:
                # The action names no version: it acts on the endpoint as it is.
                endpoint, secret = await service.rotate_secret(
                    session, principal, int(pks[0]), expected_version=None
                )
        except AdminError as exc:
            return redirect_with_notice(request, self.identity, pks, str(exc), error=True)
        Secret.reveal_once(
            request,
            secret,
            title="New signing secret",
            label="Copy it now: receivers verify signatures with it. It will not be shown again.",
        )
        details = str(request.url_for("admin:details", identity=self.identity, pk=endpoint.id))
        show_on_details(request, endpoint)
        context = {
            **await self.details_context(request),
            "model_view": self,
            "model": endpoint,
            "title": self.name,
            "secret_next_url": details,
        }
        response = await self.templates.TemplateResponse(request, self.details_template, context)
        Secret.apply_no_store_headers(response)
        return response

    @action(name="ping", label="Send ping", confirmation_message="Send a ping event?")
    async def ping(self, request: Request) -> Response:
        async def per_row(session: AsyncSession, principal: Principal, pk: int) -> None:
            await service.ping(session, principal, await service.get_endpoint(session, pk))

        return await self.bulk_action(request, per_row, lambda _: "ping-queued")


class WebhookDeliveryView(ServiceModelView, model=WebhookDelivery):
    name = "Webhook delivery"
    name_plural = "Webhook deliveries"
    identity = "webhook-delivery"
    icon = "fa-solid fa-paper-plane"
    category = "Integrations"
    can_create = False
    can_edit = False
    can_delete = False
    column_list: ClassVar[Any] = [
        "id",
        "event",
        "endpoint",
        "status",
        "attempt_count",
        "last_status_code",
        "next_attempt_at",
        "delivered_at",
    ]
    column_sortable_list: ClassVar[Any] = ["id", "next_attempt_at"]
    column_default_sort: ClassVar[Any] = ("id", True)
    column_filters: ClassVar[Any] = [
        ChoiceFilter(
            WebhookDelivery.status, [(s, s.capitalize()) for s in DELIVERY_STATUSES], title="Status"
        ),
        DateRangeFilter(WebhookDelivery.next_attempt_at, title="Next attempt"),
    ]
    details_template = "admin/delivery_details.html"
    # Statuses as coloured badges, on the list and on the details page.
    column_formatters: ClassVar[Any] = {"status": status_column}
    column_formatters_detail: ClassVar[Any] = {"status": status_column}

    @action(name="resend", label="Re-send", confirmation_message="Send the selected again?")
    async def resend(self, request: Request) -> Response:
        async def per_row(session: AsyncSession, principal: Principal, pk: int) -> None:
            await service.resend(session, principal, pk)

        return await self.bulk_action(request, per_row, lambda _: "queued-again")
