"""DATABASE_URL query parameters: each translated for the driver, or refused by name."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from app.infra.db import create_engine
from app.infra.db_url import CONNECT_ATTEMPT_SECONDS, LOCK_TIMEOUT_MS, normalize_database_url
from tests.conftest import test_settings as settings_for

BASE = "postgres://user:s3cret-pw@db.example:5432/app"


def translate(query: str) -> tuple[dict[str, object], dict[str, object]]:
    """(the URL's remaining query, the connect arguments) for BASE?query."""
    url, connect_args = normalize_database_url(f"{BASE}?{query}")
    assert url.drivername == "postgresql+asyncpg"
    assert url.password == "s3cret-pw"
    return dict(url.query), connect_args


def refusal(raw: str) -> str:
    with pytest.raises(ValueError) as refused:
        normalize_database_url(raw)
    message = str(refused.value)
    assert "\n" not in message
    assert "s3cret-pw" not in message
    return message


def test_no_parameters_keeps_the_defaults() -> None:
    query, connect_args = translate("")
    assert query == {}
    assert connect_args == {
        "timeout": CONNECT_ATTEMPT_SECONDS,
        "server_settings": {"lock_timeout": f"{LOCK_TIMEOUT_MS}ms"},
    }


@pytest.mark.parametrize("mode", ["disable", "allow", "prefer", "require", "verify-ca"])
def test_sslmode_goes_to_asyncpg_ssl(mode: str) -> None:
    query, connect_args = translate(f"sslmode={mode}")
    assert query == {}
    assert connect_args["ssl"] == mode


def test_an_unknown_sslmode_is_refused() -> None:
    assert "sslmode 'bogus'" in refusal(f"{BASE}?sslmode=bogus")


def test_connect_timeout_becomes_the_driver_timeout() -> None:
    _, connect_args = translate("connect_timeout=12")
    assert connect_args["timeout"] == 12.0


@pytest.mark.parametrize("value", ["0", "-3", "soon", "99999"])
def test_a_connect_timeout_that_is_not_a_positive_number_is_refused(value: str) -> None:
    assert "connect_timeout" in refusal(f"{BASE}?connect_timeout={value}")


def test_application_name_becomes_a_server_setting() -> None:
    _, connect_args = translate("application_name=backoffice-web")
    assert connect_args["server_settings"] == {
        "lock_timeout": f"{LOCK_TIMEOUT_MS}ms",
        "application_name": "backoffice-web",
    }


@pytest.mark.parametrize(
    "options",
    [
        "-c%20statement_timeout%3D5000%20-c%20search_path%3Dpublic",
        "-cstatement_timeout%3D5000%20--search-path%3Dpublic",
    ],
)
def test_options_become_server_settings(options: str) -> None:
    _, connect_args = translate(f"options={options}")
    settings = connect_args["server_settings"]
    assert isinstance(settings, dict)
    assert settings["statement_timeout"] == "5000"
    assert settings["search_path"] == "public"


def test_options_may_lift_the_lock_timeout() -> None:
    _, connect_args = translate("options=-c%20lock_timeout%3D10s")
    assert connect_args["server_settings"] == {"lock_timeout": "10s"}


@pytest.mark.parametrize("options", ["endpoint%3Dep-1", "-c", "-c%20novalue", "%22unclosed"])
def test_options_other_than_settings_are_refused(options: str) -> None:
    assert "'options'" in refusal(f"{BASE}?options={options}")


@pytest.mark.parametrize("value", ["disable", "prefer"])
def test_channel_binding_disable_or_prefer_is_accepted_as_a_no_op(value: str) -> None:
    query, connect_args = translate(f"channel_binding={value}&sslmode=require")
    assert query == {}
    assert "channel_binding" not in connect_args
    assert connect_args["ssl"] == "require"


def test_channel_binding_require_is_refused_with_the_reason() -> None:
    message = refusal(f"{BASE}?channel_binding=require")
    assert "channel_binding=require" in message
    assert "asyncpg" in message


def test_a_bad_channel_binding_is_refused() -> None:
    assert "channel_binding" in refusal(f"{BASE}?channel_binding=maybe")


@pytest.mark.parametrize("value", ["read-write", "primary", "prefer-standby"])
def test_target_session_attrs_goes_to_asyncpg(value: str) -> None:
    _, connect_args = translate(f"target_session_attrs={value}")
    assert connect_args["target_session_attrs"] == value


def test_a_bad_target_session_attrs_is_refused() -> None:
    assert "target_session_attrs" in refusal(f"{BASE}?target_session_attrs=fastest")


def test_sslnegotiation_direct_needs_tls_and_sets_direct_tls() -> None:
    _, connect_args = translate("sslnegotiation=direct&sslmode=require")
    assert connect_args["direct_tls"] is True
    assert "sslnegotiation=direct" in refusal(f"{BASE}?sslnegotiation=direct")


def test_dbname_becomes_the_database_and_hosts_stay_for_sqlalchemy() -> None:
    url, _ = normalize_database_url(f"{BASE}?dbname=other&host=a:5432&host=b:5433")
    assert url.database == "other"
    assert url.query["host"] == ("a:5432", "b:5433")


def test_prepared_statement_cache_size_goes_to_the_adapter() -> None:
    _, connect_args = translate("prepared_statement_cache_size=0")
    assert connect_args["prepared_statement_cache_size"] == 0
    assert "prepared_statement_cache_size" in refusal(f"{BASE}?prepared_statement_cache_size=lots")


def _system_ca_file() -> str:
    cafile = ssl.get_default_verify_paths().openssl_cafile
    if not Path(cafile).is_file():
        pytest.skip(f"no system CA bundle at {cafile}")
    return cafile


@pytest.mark.parametrize(("mode", "hostname"), [("verify-full", True), ("verify-ca", False)])
def test_sslrootcert_builds_a_verifying_context(mode: str, hostname: bool) -> None:
    cafile = _system_ca_file()
    _, connect_args = translate(f"sslmode={mode}&sslrootcert={cafile}")
    context = connect_args["ssl"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is hostname


def test_sslrootcert_system_uses_the_system_store_and_checks_the_host() -> None:
    _, connect_args = translate("sslmode=verify-ca&sslrootcert=system")
    context = connect_args["ssl"]
    assert isinstance(context, ssl.SSLContext)
    assert context.check_hostname is True


def test_a_missing_certificate_file_is_refused_naming_the_parameter(tmp_path: Path) -> None:
    missing = tmp_path / "root.crt"
    message = refusal(f"{BASE}?sslmode=verify-full&sslrootcert={missing}")
    assert "'sslrootcert'" in message and "No such file" in message


def test_a_client_certificate_that_is_not_one_is_refused(tmp_path: Path) -> None:
    cafile = _system_ca_file()  # a PEM file, but no private key: not a client certificate
    assert "'sslcert'" in refusal(f"{BASE}?sslmode=require&sslcert={cafile}")


def test_sslkey_without_sslcert_is_refused(tmp_path: Path) -> None:
    assert "'sslkey'" in refusal(f"{BASE}?sslmode=require&sslkey={tmp_path}/k.pem")


def test_certificates_without_tls_are_refused() -> None:
    assert "needs sslmode" in refusal(f"{BASE}?sslrootcert=system")


@pytest.mark.parametrize("name", ["keepalives", "sslcrl", "gssencmode", "foo"])
def test_an_unknown_parameter_is_refused_by_name_without_the_url(name: str) -> None:
    message = refusal(f"{BASE}?{name}=1")
    assert f"'{name}'" in message
    assert "db.example" not in message


def test_a_parameter_given_twice_is_refused() -> None:
    assert "more than once" in refusal(f"{BASE}?sslmode=require&sslmode=disable")


@pytest.mark.parametrize("query", ["timeout=3", "uri=true&mode=ro", "isolation_level=X"])
def test_sqlite_takes_no_parameters(query: str) -> None:
    name = sorted(make_url(f"sqlite:///x.db?{query}").query)[0]
    with pytest.raises(ValueError) as refused:
        normalize_database_url(f"sqlite:///x.db?{query}")
    assert f"'{name}'" in str(refused.value)


async def test_application_name_and_connect_timeout_reach_postgresql(postgres_url: str) -> None:
    url = make_url(postgres_url).update_query_dict(
        {"application_name": "bo-url-test", "connect_timeout": "3"}
    )
    engine = create_engine(
        settings_for(url.render_as_string(hide_password=False)), poolclass=NullPool
    )
    try:
        async with engine.connect() as connection:
            name = await connection.scalar(text("SELECT current_setting('application_name')"))
            lock = await connection.scalar(text("SELECT current_setting('lock_timeout')"))
    finally:
        await engine.dispose()
    assert name == "bo-url-test"
    assert lock == "3s"  # the app's own server setting is kept beside the URL's
