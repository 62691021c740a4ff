"""User rules: who may exist, with which password and roles; every change audited."""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from email_validator import EmailNotValidError, validate_email
from sqlalchemy.ext.asyncio import AsyncSession

from app import audit
from app.auth.passwords import WeakPassword, check_password_rules, hash_password
from app.auth.principal import Principal
from app.errors import Conflict, ValidationFailed
from app.models import User
from app.users import repository


def normalize_email(raw: str, *, field: str = "email") -> str:
    """A syntactically valid email with its domain lower-cased, or ValidationFailed."""
    try:
        return validate_email(raw.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValidationFailed(
            "The email address is not valid.",
            errors=[{"loc": ["body", field], "message": str(exc), "type": "value_error.email"}],
        ) from None


def new_security_stamp() -> str:
    return secrets.token_hex(16)


async def create_user(
    session: AsyncSession,
    principal: Principal,
    *,
    email: str,
    password: str,
    full_name: str = "",
    role_names: Sequence[str] = (),
) -> User:
    """Create a staff user with a checked password and existing roles (audited as user.created)."""
    email = normalize_email(email)
    try:
        check_password_rules(password, email)
    except WeakPassword as exc:
        raise ValidationFailed(
            "The password is too weak.",
            errors=[{"loc": ["body", "password"], "message": str(exc), "type": "weak_password"}],
        ) from None
    roles = await repository.get_roles_by_name(session, role_names)
    missing = sorted(set(role_names) - {role.name for role in roles})
    if missing:
        raise ValidationFailed(
            f"Unknown role(s): {', '.join(missing)}.",
            errors=[{"loc": ["body", "roles"], "message": "unknown role", "type": "unknown_role"}],
        )
    if await repository.get_by_email(session, email) is not None:
        raise Conflict("A user with this email already exists.", field="email")
    user = User(
        email=email,
        full_name=full_name.strip(),
        password_hash=await hash_password(password),
        security_stamp=new_security_stamp(),
        roles=list(roles),
    )
    session.add(user)
    await session.flush()
    changes = audit.diff(None, audit.snapshot(user, ["email", "full_name", "is_active"]))
    changes["roles"] = [None, sorted(role.name for role in roles)]
    changes["password_hash"] = [None, audit.REDACTED]
    audit.record(
        session,
        principal,
        "user.created",
        resource_type="user",
        resource_id=user.id,
        changes=changes,
    )
    return user
