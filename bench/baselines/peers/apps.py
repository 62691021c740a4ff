"""The app config: labelled `app`, so the admin changelist lives at /admin/app/product/."""

from __future__ import annotations

from django.apps import AppConfig


class PeersConfig(AppConfig):
    name = "peers"
    label = "app"
    verbose_name = "Backoffice tables"
    default_auto_field = "django.db.models.AutoField"
