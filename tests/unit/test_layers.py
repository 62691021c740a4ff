"""The folder tree is the architecture (issue 15): who may import whom, checked on every
`import` in app/, function-level ones included.

- The domain (the rule modules at the top of app/, models/, auth/, lists/ and one package
  per resource) knows no web framework and no door: a service is called the same way by
  the API, the admin and the CLI.
- infra/ (settings, database, logging) stands under everything and imports no door, no
  edge and no domain package.
- edge/ (the HTTP layers both web doors share) imports no door.
- The doors (api/, admin/, ops/) do not import each other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "app"
FRAMEWORKS = ("fastapi", "starlette", "sqladmin", "uvicorn", "typer", "wtforms")
DOORS = ("app.api", "app.admin", "app.ops")
DOMAIN_PACKAGES = (
    "models",
    "auth",
    "lists",
    "users",
    "roles",
    "customers",
    "products",
    "orders",
    "webhooks",
    "audit_log",
)
DOMAIN_MODULES = ("errors", "permissions", "commands", "audit", "text_rules", "csv_cells")
DOMAIN_MODULES += ("uniqueness",)


def imports_of(path: Path) -> set[str]:
    """Every module `path` imports, at any depth of the file."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            # `from app import audit` imports the module app.audit
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def modules_under(*parts: str) -> list[Path]:
    paths: list[Path] = []
    for part in parts:
        target = APP / part
        paths += sorted(target.rglob("*.py")) if target.is_dir() else [target.with_suffix(".py")]
    return paths


def refused(paths: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    """`file: module` for each import of a forbidden module (or anything inside it)."""
    return [
        f"{path.relative_to(APP)}: {name}"
        for path in paths
        for name in sorted(imports_of(path))
        if any(name == f or name.startswith(f"{f}.") for f in forbidden)
    ]


def test_the_domain_knows_no_web_framework_and_no_door() -> None:
    domain = modules_under(*DOMAIN_PACKAGES, *DOMAIN_MODULES)
    assert len(domain) > 40  # the list above still names the domain

    assert refused(domain, (*FRAMEWORKS, *DOORS, "app.edge", "app.main")) == []


def test_infrastructure_imports_no_door_no_edge_and_no_domain_package() -> None:
    domain_packages = tuple(f"app.{name}" for name in DOMAIN_PACKAGES if name != "models")
    assert refused(modules_under("infra"), (*DOORS, "app.edge", "app.main", *domain_packages)) == []


def test_the_edge_imports_no_door() -> None:
    assert refused(modules_under("edge"), (*DOORS, "app.main")) == []


@pytest.mark.parametrize("door", DOORS)
def test_a_door_does_not_import_another(door: str) -> None:
    others = tuple(other for other in DOORS if other != door)
    assert refused(modules_under(door.removeprefix("app.")), others) == []


def test_the_check_sees_a_forbidden_import(tmp_path: Path) -> None:
    module = tmp_path / "service.py"
    module.write_text("def f():\n    from fastapi import Request\n    from app import main\n")

    assert imports_of(module) >= {"fastapi", "app.main"}
