"""app/ uses its libraries' public APIs only (issue 16); the known remaining debt is listed.

Each entry of KNOWN_DEBT is a private name still used, with the file; removing the use
makes this test fail until the entry goes too, and a new private name fails it at once.
Templates are app code too: one reading a view's or the admin's private attribute
(`model_view._x`, `admin._x`) is a private use like any other.
"""

from __future__ import annotations

import re
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "app"
TEMPLATES = APP / "resources" / "templates"
LIBRARIES = ("sqlalchemy", "fastapi", "starlette", "pydantic", "uvicorn", "sqladmin", "limits")
# `from uvicorn.x import _Name` or `from fastapi.dependencies.models import Dependant`.
PRIVATE_IMPORT = re.compile(
    rf"^from ((?:{'|'.join(LIBRARIES)})[\w.]*) import ([^\n]*\b_\w+|Dependant\b)", re.M
)
# Attributes (or getattr names) that only exist as library internals.
PRIVATE_ATTRIBUTES = re.compile(
    # SQLAlchemy's compiler internals (`compiled.binds`, its prefetch lists), and its
    # "__[POSTCOMPILE_x]" marker sniffed in compiled SQL (matched anywhere, quoted or not).
    r"(?:\.|getattr\(\w+, \"|(?=POSTCOMPILE))(_handle_exception|positiontup|__pydantic_decorators__"
    r"|binds|insert_prefetch|update_prefetch|POSTCOMPILE\w*"
    r"|_value2member_map_|effective_route_contexts|_admin_ref|_list_relations|_sort_fields|_get_default_sort"
    r"|_get_prop_name|_find_model_view|_delete|connection_pool"
    # sqladmin's @action keeps an action's label and confirmation in these (list_page.py).
    r"|_action|_slug|_label|_confirmation_message|_add_in_list)\b"
)
# In a template: any underscore attribute of the view or the admin (`model_view._sort_fields`).
TEMPLATE_PRIVATE = re.compile(r"\b(?:model_view|admin)\.(_\w+)")
# Empty: every private name is gone, and a new one fails the first test below.
KNOWN_DEBT: set[tuple[str, str]] = set()


def private_uses() -> set[tuple[str, str]]:
    found = set()
    for path in APP.rglob("*.py"):
        text = path.read_text()
        name = path.relative_to(APP).as_posix()
        found |= {(name, match.group(1)) for match in PRIVATE_IMPORT.finditer(text)}
        found |= {(name, match.group(1)) for match in PRIVATE_ATTRIBUTES.finditer(text)}
    # resources/templates is a link to the project's templates folder: resolved, then walked.
    folder = TEMPLATES.resolve()
    for path in folder.rglob("*.html"):
        name = f"resources/templates/{path.relative_to(folder).as_posix()}"
        found |= {(name, match.group(1)) for match in TEMPLATE_PRIVATE.finditer(path.read_text())}
    return found


def test_no_new_private_library_name_is_used() -> None:
    assert private_uses() - KNOWN_DEBT == set()


def test_the_debt_list_shrinks_as_names_are_replaced() -> None:
    assert KNOWN_DEBT - private_uses() == set()


def test_trusted_proxies_match_addresses_networks_and_literals() -> None:
    from app.edge.proxy import TrustedProxies

    trusted = TrustedProxies("127.0.0.1, 10.0.0.0/8, fd00::/8, unix:/run/proxy.sock")

    assert "127.0.0.1" in trusted and "10.9.8.7" in trusted and "fd00::1" in trusted
    assert "unix:/run/proxy.sock" in trusted
    assert "11.0.0.1" not in trusted and "::1" not in trusted and "evil" not in trusted
    assert "203.0.113.9" in TrustedProxies("*")
