"""Version 1 of the JSON API: one router per domain, mounted at /api/v1."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.v1 import auth, me, roles, users

router = APIRouter()
router.include_router(auth.router)
router.include_router(me.router)
router.include_router(users.router)
router.include_router(roles.router)
