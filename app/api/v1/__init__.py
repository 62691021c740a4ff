"""Version 1 of the JSON API: one router per domain, mounted at /api/v1."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
