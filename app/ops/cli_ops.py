"""`backoffice` commands for operations: create-token, import-products, purge, worker."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from app.auth import api_tokens
from app.auth.token_commands import CreateToken
from app.commands import build
from app.infra.db import Database, transaction
from app.infra.settings import Settings
from app.ops.cli import CLI_PRINCIPAL, USAGE_ERROR, CommandError, cli, one_line_errors, run
from app.ops.cli import _load_settings as load_cli_settings
from app.ops.cli import _progress as progress_bar
from app.ops.housekeeping import purge
from app.ops.worker import run_worker
from app.products import importer
from app.users.repository import get_by_email

CSV_LIMIT = 20 * 1024 * 1024


@cli.command("create-token")
def create_token_command(
    email: Annotated[str, typer.Option(help="The owner's email.")],
    name: Annotated[str, typer.Option(help="What the token is for.")],
    scopes: Annotated[str, typer.Option(help="Comma-separated permissions; empty = all.")] = "",
    # The range is CreateToken's (1 to MAX_EXPIRES_DAYS), refused like the API refuses it.
    expires_days: Annotated[int | None, typer.Option(help="Days until it expires.")] = None,
) -> None:
    """Create a personal API token and print only the token (so `$(…)` captures it)."""

    async def body(_: Settings, database: Database) -> None:
        wanted = [s.strip() for s in scopes.split(",") if s.strip()]
        command = build(CreateToken, {"name": name, "scopes": wanted, "expires_days": expires_days})
        async with transaction(database.sessionmaker) as session:
            owner = await get_by_email(session, email)
            if owner is None or not owner.is_active:
                raise CommandError(f"no active user with email {email}", USAGE_ERROR)
            _token, plaintext = await api_tokens.create_token(
                session, CLI_PRINCIPAL, owner, command
            )
        typer.echo(plaintext)

    run(body)


@cli.command("import-products")
def import_products_command(
    file: Annotated[Path, typer.Argument(help="CSV: sku,name,price[,description,stock,…]")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate only.")] = False,
) -> None:
    """Upsert products by SKU from a CSV file: all lines valid and applied, or nothing."""
    with one_line_errors():
        if not file.is_file():
            raise CommandError(f"no such file: {file}", USAGE_ERROR)
        if file.stat().st_size > CSV_LIMIT:
            raise CommandError(f"{file} is over 20 MiB", USAGE_ERROR)
        data = file.read_bytes()
    lines = data.count(b"\n")

    async def body(_: Settings, database: Database) -> None:
        with progress_bar(lines) as advance:
            async with transaction(database.sessionmaker) as session:
                report = await importer.import_products(
                    session,
                    CLI_PRINCIPAL,
                    data,
                    dry_run=dry_run,
                    progress=(lambda done: advance(1000)) if advance else None,
                )
        if report.errors:
            for error in report.errors:
                typer.echo(f"line {error.line}, {error.field}: {error.message}", err=True)
            raise CommandError(
                f"{len(report.errors)} problem(s); nothing was imported", USAGE_ERROR
            )
        verb = "would import" if dry_run else "imported"
        typer.echo(f"{verb} {report.rows} row(s): {report.created} new, {report.updated} updated")

    run(body)


@cli.command("purge")
def purge_command(
    older_than_days: Annotated[int, typer.Option(min=1, help="Retention for dead rows.")] = 30,
    audit_older_than_days: Annotated[
        int | None, typer.Option(min=1, help="Also delete audit events older than this.")
    ] = None,
) -> None:
    """Remove expired idempotency records, dead tokens and sessions, old delivered events."""

    async def body(_: Settings, database: Database) -> None:
        report = await purge(
            database, older_than_days=older_than_days, audit_older_than_days=audit_older_than_days
        )
        typer.echo(f"purged: {report}")

    run(body)


@cli.command("worker")
def worker_command() -> None:
    """Deliver webhooks from the outbox and run daily housekeeping; stops on SIGTERM."""
    with one_line_errors():
        settings = load_cli_settings()
        from app.infra.logging_setup import configure_logging

        configure_logging(settings.log_level, settings.effective_log_format)
        asyncio.run(run_worker(settings))
