"""The customers table."""

from __future__ import annotations

from sqlalchemy import Boolean, Index, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, Versioned, trigram_index


class Customer(Versioned, Base):
    """Someone the company sells to."""

    __tablename__ = "customers"
    __table_args__ = (trigram_index("customers", "name"),)

    name: Mapped[str] = mapped_column(String(200), index=True)
    email: Mapped[str] = mapped_column(String(320))
    phone: Mapped[str] = mapped_column(String(50), default="")
    company: Mapped[str] = mapped_column(String(200), default="", index=True)
    notes: Mapped[str] = mapped_column(Text, default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, index=True)

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


# Emails are unique whatever their case: "Ann@x.io" and "ann@x.io" are one address.
Index("uq_customers_email_lower", func.lower(Customer.email), unique=True)
