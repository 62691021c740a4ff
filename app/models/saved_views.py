"""Saved list views: a staff member's named list URL, private or shared with all staff."""

from __future__ import annotations

from sqlalchemy import Boolean, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base

# How long each part may be (app/saved_views/commands.py enforces them for every door).
LIST_IDENTITY_LENGTH = 40
VIEW_NAME_LENGTH = 80
VIEW_QUERY_LENGTH = 1000


class SavedView(Base):
    """A list's search, filters, sort and page size under a name (`query`: a query string).

    A view is only a URL: opening a shared one shows each person the rows their own
    permissions let them see.
    """

    __tablename__ = "saved_views"
    __table_args__ = (
        UniqueConstraint(
            "owner_user_id", "list_identity", "name", name="uq_saved_views_owner_list_name"
        ),
    )

    owner_user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    list_identity: Mapped[str] = mapped_column(String(LIST_IDENTITY_LENGTH), index=True)
    name: Mapped[str] = mapped_column(String(VIEW_NAME_LENGTH))
    query: Mapped[str] = mapped_column(String(VIEW_QUERY_LENGTH), default="")
    is_shared: Mapped[bool] = mapped_column(Boolean, default=False)

    def __str__(self) -> str:
        return self.name
