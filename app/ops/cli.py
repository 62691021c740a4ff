"""The `backoffice` command: serve, migrate, create-user, seed-demo, bootstrap (+ cli_ops)."""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
import secrets
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Annotated, NoReturn

import click
import typer
import uvicorn
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError

from app.auth.passwords import WeakPassword, check_password_rules
from app.auth.principal import Principal
from app.commands import build
from app.errors import AppError
from app.infra import metrics_dir
from app.infra.db import Database, normalize_database_url, transaction
from app.infra.logging_setup import configure_logging
from app.infra.migrations import current_revision, head_revision, upgrade_engine
from app.infra.retry_policy import run_with_retry
from app.infra.settings import ConfigError, Settings, load_settings
from app.infra.startup import innermost_cause as _cause
from app.infra.startup import one_line
from app.ops import demo
from app.ops.serving import connection_budget_problem, server_options
from app.resources import MissingResource, check_resources
from app.users.commands import CreateUser
from app.users.repository import count_users
from app.users.service import create_user

cli = typer.Typer(
    name="backoffice",
    help="Backoffice: admin panel and JSON API over one set of models.",
    no_args_is_help=True,
    # typer's documented --install-completion / --show-completion (bash, zsh, fish, pwsh).
    add_completion=True,
    pretty_exceptions_enable=False,
    # Inherited by every command's context: `backoffice serve -h` too.
    context_settings={"help_option_names": ["-h", "--help"]},
)
DISTRIBUTION = "backoffice"


def installed_version() -> str:
    """The installed distribution's version (the wheel's metadata, not a file in the tree)."""
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:  # run from a tree that was never installed
        return "unknown (not installed)"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"{DISTRIBUTION} {installed_version()}")
        raise typer.Exit()


@cli.callback()
def _main_options(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the installed version and exit.",
        ),
    ] = False,
) -> None:
    """Backoffice: admin panel and JSON API over one set of models."""


CLI_PRINCIPAL = Principal(user_id=None, email=None, channel="cli", auth_method="cli")
BOOTSTRAP_EMAIL = "admin@example.com"
# Below this many products the seed is quick enough that a progress bar is only noise.
PROGRESS_THRESHOLD = 10_000
# Longer than asyncpg's own 5 s connect timeout: this one only catches what that misses.
PROBE_TIMEOUT_SECONDS = 10
USAGE_ERROR = 2

Body = Callable[[Settings, Database], Awaitable[None]]


class CommandError(Exception):
    """A failure the operator can act on, explained in one line; `code` is the exit status."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


@contextmanager
def one_line_errors() -> Iterator[None]:
    """Turn any failure into `error: …` on stderr and a non-zero exit, never a traceback."""
    try:
        yield
    # typer 0.26+ carries its own click: its Exit and Abort are not click's.
    except (typer.Exit, typer.Abort, click.exceptions.Exit, click.exceptions.Abort):
        raise
    except click.ClickException:  # usage errors keep click's own message and exit code
        raise
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except Exception as exc:
        _fail(*_describe(exc))


def _describe(exc: Exception) -> tuple[str, int]:
    if isinstance(exc, CommandError):
        return str(exc), exc.code
    if isinstance(exc, ConfigError):
        return str(exc), USAGE_ERROR
    if isinstance(exc, MissingResource):
        return str(exc), 1
    if isinstance(exc, AppError):
        details = [e["message"] for e in exc.errors or [] if e.get("message")]
        extra = [d for d in details if d.lower() not in exc.detail.lower()]
        return "; ".join([exc.detail.rstrip("."), *extra]), USAGE_ERROR
    if isinstance(exc, IntegrityError):
        return f"the change conflicts with existing data ({_cause(exc)})", USAGE_ERROR
    if isinstance(exc, DBAPIError | OSError | TimeoutError):
        return f"database error ({_cause(exc)})", 1
    return f"unexpected {_cause(exc)}", 1


def _fail(message: str, code: int) -> NoReturn:
    typer.echo(f"error: {one_line(message)}", err=True)
    raise typer.Exit(code)


def _load_settings() -> Settings:
    # One-off commands sign nothing, so the development warning about a random SECRET_KEY
    # would only add a second line to their output; `serve` warns when the app loads.
    settings_logger = logging.getLogger("app.infra.settings")
    previous = settings_logger.level
    settings_logger.setLevel(logging.ERROR)
    try:
        return load_settings()
    finally:
        settings_logger.setLevel(previous)


def _check_database_url(settings: Settings) -> None:
    try:
        normalize_database_url(settings.database_url)
    except (ArgumentError, ValueError) as exc:  # SQLAlchemy's parse error would not help
        detail = "not a database URL" if isinstance(exc, ArgumentError) else str(exc)
        raise CommandError(f"invalid DATABASE_URL: {detail}", USAGE_ERROR) from None


async def _probe(database: Database) -> str | None:
    """Connect once so an unreachable database is one clear line; returns the schema revision."""
    try:
        async with (
            asyncio.timeout(PROBE_TIMEOUT_SECONDS),
            database.connect_read_only() as connection,
        ):
            return await current_revision(connection)
    except Exception as exc:
        if database.engine.dialect.name == "sqlite":
            # aiosqlite stops the worker thread of a failed connection without awaiting it;
            # give it a moment so it does not report to an event loop that has closed.
            await asyncio.sleep(0.1)
        where = database.engine.url.render_as_string(hide_password=True)
        raise CommandError(f"cannot reach the database at {where} ({_cause(exc)})") from None


async def _with_database(
    settings: Settings, body: Body, *, needs_schema: bool, retry: bool
) -> None:
    _check_database_url(settings)
    database = Database.from_settings(settings)
    try:
        revision = await _probe(database)
        head = head_revision()
        if needs_schema and revision != head:
            state = "has no schema yet" if revision is None else f"is at revision {revision}"
            raise CommandError(f"the database {state}, not {head}; run `backoffice migrate`")
        if retry:
            # The same policy as a request's (infra/retry_policy.py): a deadlock with the running
            # service, or a connection lost before the commit, runs the command again.
            await run_with_retry(lambda: body(settings, database))
        else:
            await body(settings, database)
    finally:
        await database.dispose()


def run(body: Body, *, needs_schema: bool = True, retry: bool = True) -> None:
    """Load settings, open the database, run `body` in a fresh event loop, report errors once.

    `body` is one unit of work, run again after a transient failure, unless `retry` is
    False (a command of several steps, whose output a re-run would repeat).
    """
    with one_line_errors():
        settings = _load_settings()
        asyncio.run(_with_database(settings, body, needs_schema=needs_schema, retry=retry))


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Default: 0.0.0.0 in production.")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Default: PORT.")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Default: WEB_CONCURRENCY.")] = None,
) -> None:
    """Run the production web server (uvicorn, its own worker manager)."""
    with one_line_errors():
        settings = _load_settings()
        _check_database_url(settings)
        options = server_options(settings, host, port, workers)
        over_budget = connection_budget_problem(settings, options["workers"])
        if over_budget:
            raise CommandError(over_budget, USAGE_ERROR)
        # Worker processes build the app; a broken install is one line here, not a
        # traceback from each of them.
        check_resources()
        try:  # before a worker imports prometheus_client: app/infra/metrics_dir.py
            shared_metrics = metrics_dir.prepare(options["workers"])
        except OSError as exc:
            raise CommandError(f"{metrics_dir.ENV}: {exc.strerror or exc}", USAGE_ERROR) from None
    configure_logging(settings.log_level, settings.effective_log_format)
    try:
        uvicorn.run(**options)
    finally:
        shared_metrics.cleanup()


@cli.command()
def migrate() -> None:
    """Apply every migration to DATABASE_URL (`alembic upgrade head`); safe to repeat."""

    async def body(_: Settings, database: Database) -> None:
        typer.echo(f"database at head ({await _upgrade(database)})")

    run(body, needs_schema=False)


async def _upgrade(database: Database) -> str | None:
    await upgrade_engine(database.engine)
    async with database.connect_read_only() as connection:
        return await current_revision(connection)


@cli.command("create-user")
def create_user_command(
    email: Annotated[str, typer.Option(help="Login email (unique, any case).")],
    role: Annotated[list[str], typer.Option(help="A role name; repeat for several.")],
    name: Annotated[str, typer.Option(help="Full name.")] = "",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin.")
    ] = False,
) -> None:
    """Create a staff user; prompts for the password when run interactively."""
    with one_line_errors():
        password = _read_password(from_stdin=password_stdin)

    async def body(_: Settings, database: Database) -> None:
        # Checked before the database is touched: a refusal names the option's field.
        command = build(
            CreateUser, {"email": email, "full_name": name, "password": password, "roles": role}
        )
        async with transaction(database.sessionmaker) as session:
            user = await create_user(session, CLI_PRINCIPAL, command)
        roles = ", ".join(sorted(r.name for r in user.roles))
        typer.echo(f"created user {user.email} (id {user.id}) with roles: {roles}")

    run(body)


def stdin_is_interactive() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


def _read_password(*, from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not stdin_is_interactive():
        raise CommandError("stdin is not a terminal: pipe the password to --password-stdin", 2)
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@cli.command("seed-demo")
def seed_demo_command(
    products: Annotated[int, typer.Option(min=1, help="Catalogue size.")] = demo.DEFAULT_PRODUCTS,
) -> None:
    """Load the demo data set (idempotent); a large --products shows a progress bar."""

    async def body(_: Settings, database: Database) -> None:
        typer.echo((await _seed(database, products)).summary())

    run(body)


async def _seed(database: Database, products: int) -> demo.SeedCounts:
    with _progress(products) as advance:
        async with transaction(database.sessionmaker) as session:
            return await demo.seed_demo(session, CLI_PRINCIPAL, products=products, progress=advance)


@contextmanager
def _progress(total: int) -> Iterator[Callable[[int], None] | None]:
    if total < PROGRESS_THRESHOLD:
        yield None
        return
    columns = (TextColumn("products"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True)) as progress:
        task = progress.add_task("products", total=total)
        yield lambda done: progress.advance(task, done)


@cli.command()
def bootstrap() -> None:
    """Development helper (`make run`): migrate, create a first admin, load demo data once."""

    async def body(settings: Settings, database: Database) -> None:
        if settings.is_production:
            message = "bootstrap is a development helper; use create-user in production"
            raise CommandError(message, USAGE_ERROR)
        typer.echo(f"database at head ({await _upgrade(database)})")
        password = await _create_first_admin(database)
        if password is None:
            typer.echo("users exist; no admin account created")
        else:
            typer.echo(
                "\nCreated the first admin account. Save the password now: it is not shown again.\n"
                f"    email:    {BOOTSTRAP_EMAIL}\n"
                f"    password: {password}\n"
            )
        async with transaction(database.sessionmaker) as session:
            if await demo.has_products(session):
                typer.echo("products exist; demo data not loaded")
                return
            counts = await demo.seed_demo(session, CLI_PRINCIPAL)
        typer.echo(counts.summary())

    run(body, needs_schema=False, retry=False)


async def _create_first_admin(database: Database) -> str | None:
    """The new admin's password, or None when some user already exists."""
    async with transaction(database.sessionmaker) as session:
        if await count_users(session):
            return None
        password = _generate_password(BOOTSTRAP_EMAIL)
        command = CreateUser(
            email=BOOTSTRAP_EMAIL, full_name="Administrator", password=password, roles=["admin"]
        )
        await create_user(session, CLI_PRINCIPAL, command)
    return password


def _generate_password(email: str) -> str:
    while True:
        password = secrets.token_urlsafe(18)
        with suppress(WeakPassword):  # vanishingly rare: the random text contained "admin"
            check_password_rules(password, email)
            return password


def main() -> None:
    """Entry point of the `backoffice` console script."""
    cli()


# The operations commands (create-token, import-products, purge, worker) register
# themselves on `cli`; imported last because they build on the helpers above.
from app.ops import cli_ops  # noqa: E402, F401
