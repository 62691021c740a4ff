"""Spreadsheet-safe CSV cells (SPEC §14): the OWASP `'` prefix on export, taken off on import.

A spreadsheet runs a cell that starts with `=`, `+`, `-` or `@` (tab and carriage return
too, and leading spaces do not stop it) as a formula. Such a cell is written with a `'`
in front, which spreadsheets show as text. So that export → import gives back exactly what
was exported, a value that merely *looks* escaped (`'=x`) is escaped once more (`''=x`), and
the import takes exactly one `'` off a cell that is escaped.
"""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"


def _looks_like_formula(value: str) -> bool:
    """True for a value the export must escape (and the import finds escaped after a `'`)."""
    # Leading quotes are looked through too: `'=x` as text is escaped once more, or the
    # import would take its own `'` off.
    return value.lstrip(QUOTE).lstrip(" ").startswith(FORMULA_STARTS)


def escape_cell(value: str) -> str:
    """The cell as written to a CSV export."""
    return QUOTE + value if _looks_like_formula(value) else value


def escaped_content(cell: str) -> str | None:
    """The original value of a cell that `escape_cell` escaped, or None for any other cell."""
    if cell.startswith(QUOTE) and _looks_like_formula(cell[1:]):
        return cell[1:]
    return None
