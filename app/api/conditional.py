"""ETag / If-Match / If-None-Match over a row's `version` (SPEC §6)."""

from __future__ import annotations

from fastapi import Request, Response

from app.errors import PreconditionFailed


def etag_for(version: int) -> str:
    return f'"{version}"'


def _tags(header: str) -> set[str]:
    return {part.strip().removeprefix("W/") for part in header.split(",") if part.strip()}


def check_if_match(request: Request, version: int) -> None:
    """412 when the caller's If-Match names another version (a lost update averted)."""
    header = request.headers.get("if-match")
    if header is None:
        return
    tags = _tags(header)
    if "*" not in tags and etag_for(version) not in tags:
        raise PreconditionFailed(
            f"The row is at version {version}; reload it and apply your change again.",
            current_version=version,
        )


def expected_version(request: Request) -> int | None:
    """The version If-Match names, for the service to check against the row it locks;
    None when the request names none (no header, or `*`). A header that names no single
    version (a list, or a tag that is not one) expects 0, which no row has: a 412."""
    header = request.headers.get("if-match")
    if header is None:
        return None
    tags = _tags(header)
    if "*" in tags:
        return None
    if len(tags) != 1:
        return 0
    tag = tags.pop()
    digits = tag.removeprefix('"').removesuffix('"')
    # Quoted ASCII digits, few enough for an integer column (no "²", no 10**5000).
    quoted = len(tag) == len(digits) + 2
    if quoted and digits.isascii() and digits.isdigit() and len(digits) < 10:
        return int(digits)
    return 0


def is_not_modified(request: Request, version: int) -> bool:
    header = request.headers.get("if-none-match")
    return header is not None and (etag_for(version) in _tags(header) or header.strip() == "*")


def set_etag(response: Response, version: int) -> None:
    response.headers["ETag"] = etag_for(version)
