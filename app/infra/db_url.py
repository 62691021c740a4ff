"""DATABASE_URL for the driver: every query parameter translated for it, or refused by name."""

from __future__ import annotations

import re
import shlex
import ssl
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import URL, make_url

# How long opening a connection may take; below the 5 s in which SPEC §10 wants an
# outage answered, with room for the rest of the request. `connect_timeout` overrides it.
CONNECT_ATTEMPT_SECONDS = 4
# No statement waits longer than this for a row or table lock (PostgreSQL's lock_timeout):
# behind a long transaction, requests are answered (503 with Retry-After, or 409
# "idempotency in progress" for a repeat waiting on its first) instead of piling up and
# holding every pooled connection. Migrations lift it (app/infra/migrations.py).
LOCK_TIMEOUT_MS = 3000

# libpq's `sslmode` values; asyncpg understands them all through its `ssl` argument.
SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
# The modes under which certificate files mean something (libpq ignores them otherwise).
_CERTIFICATE_MODES = ("require", "verify-ca", "verify-full")
_CERTIFICATE_PARAMETERS = ("sslrootcert", "sslcert", "sslkey", "sslpassword")
TARGET_SESSION_ATTRS = ("any", "primary", "standby", "prefer-standby", "read-write", "read-only")
# asyncpg cannot do SCRAM channel binding (SCRAM-SHA-256-PLUS). "prefer" means "if the
# client can", so not binding is a correct outcome; "disable" asks for exactly that.
# "require" is refused: silently dropping a guarantee the operator asked for is worse
# than a start-up error (the connection is still TLS-protected with sslmode=require).
_CHANNEL_BINDING_NO_OPS = ("disable", "prefer")
# Passed to SQLAlchemy's asyncpg dialect unchanged: it reads them itself (host/port lists
# for several servers, its statement cache) or hands them to asyncpg under these names.
_PASSED_THROUGH = ("host", "port", "user", "password", "passfile", "krbsrvname", "gsslib")
_SETTING_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")


def normalize_database_url(raw: str) -> tuple[URL, dict[str, Any]]:
    """Turn any supported URL (Heroku's `postgres://…?sslmode=require` too) into an async URL.

    Returns the URL and the DBAPI connect arguments it implies. Raises ValueError naming
    the parameter (never echoing the URL, which may hold a password) for anything the
    driver cannot honour, and sqlalchemy's ArgumentError for text that is not a URL.
    """
    url = make_url(raw.strip())
    backend = url.get_backend_name()
    if backend in {"postgres", "postgresql"}:
        return _postgresql(url.set(drivername="postgresql+asyncpg"))
    if backend == "sqlite":
        if url.query:
            # The app sets its own pragmas and transaction handling on every connection
            # (app/infra/db.py); the driver's options (timeout, isolation_level, uri…)
            # would fight them, so none is taken rather than some silently overridden.
            name = sorted(url.query)[0]
            raise ValueError(f"parameter {name!r} is not supported for SQLite; remove it")
        return url.set(drivername="sqlite+aiosqlite"), {}
    raise ValueError(f"unsupported database {backend!r} (use PostgreSQL or SQLite)")


def _postgresql(url: URL) -> tuple[URL, dict[str, Any]]:
    query: dict[str, str] = {}
    for name, value in url.query.items():
        if isinstance(value, tuple) and name not in ("host", "port"):
            raise ValueError(f"parameter {name!r} is given more than once")
        query[name] = value  # type: ignore[assignment]  # host/port lists stay tuples
    connect_args: dict[str, Any] = {
        "timeout": CONNECT_ATTEMPT_SECONDS,
        "server_settings": {"lock_timeout": f"{LOCK_TIMEOUT_MS}ms"},
    }
    kept: dict[str, Any] = {}
    for name in list(query):
        if name in _PASSED_THROUGH:
            kept[name] = query.pop(name)
    if "dbname" in query:
        url = url.set(database=query.pop("dbname"))
    for name, value in list(query.items()):
        translate = _TRANSLATIONS.get(name)
        if translate is None and name not in _CERTIFICATE_PARAMETERS:
            supported = ", ".join(sorted([*_TRANSLATIONS, *_CERTIFICATE_PARAMETERS, "dbname"]))
            raise ValueError(
                f"parameter {name!r} is not supported by the PostgreSQL driver (asyncpg); "
                f"remove it (supported: {supported}, {', '.join(_PASSED_THROUGH)})"
            )
        if translate is not None:
            translate(value, connect_args)
    _ssl(query, connect_args)
    if connect_args.get("direct_tls") and connect_args.get("ssl") in (None, *SSLMODES[:3]):
        raise ValueError("sslnegotiation=direct needs sslmode=require, verify-ca or verify-full")
    return url.set(query=kept), connect_args


def _sslmode(value: str, connect_args: dict[str, Any]) -> None:
    if value not in SSLMODES:
        raise ValueError(f"unsupported sslmode {value!r} (one of {', '.join(SSLMODES)})")
    connect_args["ssl"] = value


def _ssl(query: dict[str, str], connect_args: dict[str, Any]) -> None:
    """Certificate files: an SSLContext built as libpq would (asyncpg reads them only from
    a DSN string or PG* variables, and SQLAlchemy passes it neither)."""
    files = {name: query[name] for name in _CERTIFICATE_PARAMETERS if name in query}
    if not files:
        return
    mode = connect_args.get("ssl")
    if mode not in _CERTIFICATE_MODES:
        raise ValueError(
            f"parameter {sorted(files)[0]!r} needs sslmode=require, verify-ca or verify-full"
        )
    if "sslkey" in files and "sslcert" not in files:
        raise ValueError("parameter 'sslkey' needs 'sslcert' (the client certificate)")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = mode == "verify-full"
    rootcert = files.get("sslrootcert")
    if rootcert == "system":  # libpq 16: the operating system's trusted authorities
        context.load_default_certs()
        context.check_hostname = True
    elif rootcert:
        # libpq: with a root certificate, even `require` verifies the server's chain.
        _load_file("sslrootcert", lambda: context.load_verify_locations(cafile=rootcert))
    elif mode != "require":
        context.load_default_certs()
    verify = bool(rootcert) or mode != "require"
    context.verify_mode = ssl.CERT_REQUIRED if verify else ssl.CERT_NONE
    if "sslcert" in files:
        password = files.get("sslpassword", "")
        _load_file(
            "sslcert",
            lambda: context.load_cert_chain(
                files["sslcert"], keyfile=files.get("sslkey"), password=lambda: password
            ),
        )
    connect_args["ssl"] = context


def _load_file(parameter: str, load: Callable[[], None]) -> None:
    """Read a certificate file now, so a wrong path stops start-up rather than each connect."""
    try:
        load()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ValueError(f"parameter {parameter!r}: cannot use the file ({reason})") from None


def _connect_timeout(value: str, connect_args: dict[str, Any]) -> None:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= 3600:
        # libpq reads 0 as "wait forever"; a server that never answers would hang start-up.
        raise ValueError("parameter 'connect_timeout' must be a number of seconds above 0")
    connect_args["timeout"] = seconds


def _application_name(value: str, connect_args: dict[str, Any]) -> None:
    connect_args["server_settings"]["application_name"] = value


def _options(value: str, connect_args: dict[str, Any]) -> None:
    """libpq's `options`: server settings as `-c name=value` (or `--name=value`) words."""
    try:
        words = shlex.split(value)
    except ValueError:
        words = []
    if not words:
        raise ValueError("parameter 'options' must hold -c name=value settings")
    pending_c = False
    for word in words:
        if pending_c:
            setting, pending_c = word, False
        elif word == "-c":
            pending_c = True
            continue
        elif word.startswith("-c"):
            setting = word[2:]
        elif word.startswith("--"):
            setting = word[2:].replace("-", "_")
        else:
            setting = ""
        name, equals, setting_value = setting.partition("=")
        if not equals or not _SETTING_NAME.fullmatch(name):
            raise ValueError(
                "parameter 'options' supports only -c name=value settings "
                "(e.g. options=-c%20statement_timeout%3D5000)"
            )
        connect_args["server_settings"][name] = setting_value
    if pending_c:
        raise ValueError("parameter 'options' ends with -c and no setting")


def _channel_binding(value: str, _connect_args: dict[str, Any]) -> None:
    if value == "require":
        raise ValueError(
            "channel_binding=require cannot be honoured: the driver (asyncpg) does not "
            "support SCRAM channel binding; use channel_binding=prefer or remove it"
        )
    if value not in _CHANNEL_BINDING_NO_OPS:
        raise ValueError("parameter 'channel_binding' must be disable, prefer or require")


def _target_session_attrs(value: str, connect_args: dict[str, Any]) -> None:
    if value not in TARGET_SESSION_ATTRS:
        raise ValueError(
            f"parameter 'target_session_attrs' must be one of {', '.join(TARGET_SESSION_ATTRS)}"
        )
    connect_args["target_session_attrs"] = value


def _sslnegotiation(value: str, connect_args: dict[str, Any]) -> None:
    if value not in ("postgres", "direct"):
        raise ValueError("parameter 'sslnegotiation' must be postgres or direct")
    connect_args["direct_tls"] = value == "direct"


def _prepared_statement_cache_size(value: str, connect_args: dict[str, Any]) -> None:
    if not value.isdigit():
        raise ValueError("parameter 'prepared_statement_cache_size' must be a whole number")
    # SQLAlchemy's asyncpg adapter takes it from the connect arguments too.
    connect_args["prepared_statement_cache_size"] = int(value)


_TRANSLATIONS: dict[str, Callable[[str, dict[str, Any]], None]] = {
    "sslmode": _sslmode,
    "connect_timeout": _connect_timeout,
    "application_name": _application_name,
    "options": _options,
    "channel_binding": _channel_binding,
    "target_session_attrs": _target_session_attrs,
    "sslnegotiation": _sslnegotiation,
    "prepared_statement_cache_size": _prepared_statement_cache_size,
}
