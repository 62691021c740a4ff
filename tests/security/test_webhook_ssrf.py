"""SSRF through webhooks (SPEC §14): an attacker with webhooks:manage aims an endpoint at the
network inside, in every spelling of an address and through DNS. Refused when saved (API 422,
admin form message) and when sent (never connected); no refusal names a resolved address."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.infra.settings import Settings
from app.models import WebhookEndpoint
from app.webhooks.delivery import send
from tests.admin import conftest as admin_fixtures
from tests.admin.conftest import OpenBrowser
from tests.api.domain_helpers import assert_problem, error_fields, token_caller
from tests.auth_helpers import admin_csrf
from tests.conftest import test_settings as settings_for
from tests.webhooks import conftest as webhook_fixtures
from tests.webhooks.conftest import CommittedDatabase
from tests.webhooks.helpers import (
    PUBLIC_ADDRESS,
    StubResolver,
    add_endpoint,
    emit_committed,
    job_for,
    only_delivery,
    run_once,
)
from tests.webhooks.receivers import running_receiver

# The webhook and admin tests' fixtures, here too: committed databases, a resolver that
# never asks real DNS (autouse), and staff logged in through the admin form.
committed = webhook_fixtures.committed
template = webhook_fixtures.template
sqlite_template = webhook_fixtures.sqlite_template
postgresql_template = webhook_fixtures.postgresql_template
dns = webhook_fixtures.dns
open_browser = admin_fixtures.open_browser

WEBHOOKS = "/api/v1/webhooks"
ATTACKER_NAME = "hooks.attacker.example"
PUBLIC_V6 = "2606:2800:220:1:248:1893:25c8:1946"

# Hosts that spell an address inside, or one nobody may reach from here.
INSIDE_HOSTS = {
    "alibaba metadata": "100.100.100.200",
    "shared address space": "100.64.0.1",
    "benchmarking": "198.18.0.1",
    "aws metadata": "169.254.169.254",
    "aws metadata over ipv6": "[fd00:ec2::254]",
    "ipv4-mapped loopback": "[::ffff:127.0.0.1]",
    "ipv4-mapped private": "[::ffff:10.0.0.1]",
    "6to4 of loopback": "[2002:7f00:1::]",
    "6to4 of private": "[2002:a00:1::]",
    "teredo with a private client": "[2001:0:4136:e378:8000:63bf:f5ff:fffe]",
    "nat64 of private": "[64:ff9b::a00:1]",
    "local-use nat64": "[64:ff9b:1::a00:1]",
    "unspecified ipv4": "0.0.0.0",
    "unspecified ipv6": "[::]",
    "decimal loopback": "2130706433",
    "hex loopback": "0x7f000001",
    "octal loopback": "017700000001",
    "short loopback": "127.1",
    "dotted octal private": "012.0.0.1",
    "loopback with a trailing dot": "127.0.0.1.",
}
# What a name the attacker controls answers.
INSIDE_ANSWERS = {
    "one public and one private": [PUBLIC_ADDRESS, "10.0.0.1"],
    "public ipv6 and metadata": [PUBLIC_V6, "169.254.169.254"],
    "alibaba metadata": ["100.100.100.200"],
    "shared address space": ["100.64.0.1"],
    "ipv4-mapped loopback": ["::ffff:127.0.0.1"],
    "6to4 of private": ["2002:a00:1::"],
    "nat64 of private": ["64:ff9b::a00:1"],
    "teredo with a private client": ["2001:0:4136:e378:8000:63bf:f5ff:fffe"],
}
# The control: public addresses, in the same forms, are accepted.
PUBLIC_HOSTS = {
    "public ipv4": PUBLIC_ADDRESS,
    "public ipv6": f"[{PUBLIC_V6}]",
    "6to4 of public": "[2002:5db8:d70e::]",
    "nat64 of public": "[64:ff9b::5db8:d70e]",
    "ipv4-mapped public": f"[::ffff:{PUBLIC_ADDRESS}]",
}


async def _endpoint_count(session: AsyncSession) -> int:
    statement = select(func.count()).select_from(WebhookEndpoint)
    return int((await session.execute(statement)).scalar_one())


def _reveals_none(text: str, addresses: list[str]) -> None:
    for address in addresses:
        assert address not in text, f"the refusal shows the resolved address {address}"


@pytest.mark.parametrize("host", list(INSIDE_HOSTS.values()), ids=list(INSIDE_HOSTS))
async def test_saving_an_endpoint_on_an_inside_address_is_refused_by_the_api(
    client: httpx.AsyncClient, session: AsyncSession, host: str
) -> None:
    _, headers = await token_caller(session, "admin")
    response = await client.post(
        WEBHOOKS, json={"url": f"http://{host}/hook", "events": ["order.placed"]}, headers=headers
    )
    assert error_fields(assert_problem(response, 422)) == {"url"}
    assert await _endpoint_count(session) == 0


@pytest.mark.parametrize("answer", list(INSIDE_ANSWERS.values()), ids=list(INSIDE_ANSWERS))
async def test_saving_a_name_that_resolves_inside_is_refused_without_naming_the_address(
    client: httpx.AsyncClient, session: AsyncSession, dns: StubResolver, answer: list[str]
) -> None:
    dns.rebind(ATTACKER_NAME, *answer)
    _, headers = await token_caller(session, "admin")
    response = await client.post(
        WEBHOOKS,
        json={"url": f"https://{ATTACKER_NAME}/hook", "events": ["order.placed"]},
        headers=headers,
    )
    body = assert_problem(response, 422)
    assert error_fields(body) == {"url"}
    assert "private or reserved address" in body["detail"]
    _reveals_none(response.text, answer)
    assert await _endpoint_count(session) == 0


@pytest.mark.parametrize(
    "url",
    [f"http://{host}/hook" for host in INSIDE_HOSTS.values()] + [f"https://{ATTACKER_NAME}/"],
    ids=[*INSIDE_HOSTS, "name answering public and private"],
)
async def test_moving_an_endpoint_inside_is_refused_by_the_api(
    client: httpx.AsyncClient, session: AsyncSession, dns: StubResolver, url: str
) -> None:
    dns.rebind("hooks.example.com", PUBLIC_ADDRESS)
    dns.rebind(ATTACKER_NAME, PUBLIC_ADDRESS, "192.168.1.20")
    _, headers = await token_caller(session, "admin")
    created = await client.post(
        WEBHOOKS,
        json={"url": "https://hooks.example.com/in", "events": ["order.paid"]},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    endpoint_id = created.json()["id"]

    response = await client.patch(
        f"{WEBHOOKS}/{endpoint_id}",
        json={"url": url},
        headers={**headers, "If-Match": created.headers["etag"]},
    )

    assert error_fields(assert_problem(response, 422)) == {"url"}
    _reveals_none(response.text, ["192.168.1.20"])
    current = await client.get(f"{WEBHOOKS}/{endpoint_id}", headers=headers)
    assert current.json()["url"] == "https://hooks.example.com/in"


@pytest.mark.parametrize("host", list(PUBLIC_HOSTS.values()), ids=list(PUBLIC_HOSTS))
async def test_a_public_address_in_the_same_forms_is_accepted(
    client: httpx.AsyncClient, session: AsyncSession, host: str
) -> None:
    _, headers = await token_caller(session, "admin")
    response = await client.post(
        WEBHOOKS, json={"url": f"http://{host}/hook", "events": ["order.placed"]}, headers=headers
    )
    assert response.status_code == 201, response.text


async def test_a_name_answering_only_public_addresses_is_accepted(
    client: httpx.AsyncClient, session: AsyncSession, dns: StubResolver
) -> None:
    dns.rebind("hooks.example.com", PUBLIC_ADDRESS, PUBLIC_V6)
    _, headers = await token_caller(session, "admin")
    response = await client.post(
        WEBHOOKS,
        json={"url": "https://hooks.example.com/in", "events": ["order.placed"]},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    assert dns.asked == ["hooks.example.com"]


async def _admin_create(browser: httpx.AsyncClient, url: str) -> httpx.Response:
    token = await admin_csrf(browser, "/admin/webhook-endpoint/create")
    return await browser.post(
        "/admin/webhook-endpoint/create",
        data={"url": url, "events": ["order.placed"], "is_active": "y", "csrf_token": token},
    )


@pytest.mark.parametrize(
    "url",
    [f"http://{host}/hook" for host in INSIDE_HOSTS.values()] + [f"https://{ATTACKER_NAME}/"],
    ids=[*INSIDE_HOSTS, "name answering public and private"],
)
async def test_saving_an_endpoint_inside_is_refused_by_the_admin_form(
    open_browser: OpenBrowser,
    session: AsyncSession,
    dns: StubResolver,
    url: str,
) -> None:
    dns.rebind(ATTACKER_NAME, PUBLIC_ADDRESS, "10.1.2.3")
    _, browser = await open_browser("admin")

    response = await _admin_create(browser, url)

    assert response.status_code == 400, response.text[:300]
    assert "Webhook URL refused" in response.text
    _reveals_none(response.text, ["10.1.2.3"])
    assert await _endpoint_count(session) == 0


async def test_the_admin_form_accepts_a_public_name(
    open_browser: OpenBrowser,
    session: AsyncSession,
    dns: StubResolver,
) -> None:
    dns.rebind("hooks.example.com", PUBLIC_ADDRESS)
    _, browser = await open_browser("admin")
    response = await _admin_create(browser, "https://hooks.example.com/in")
    assert response.status_code == 200, response.text[:300]  # the secret, shown once
    assert await _endpoint_count(session) == 1


# --- send time: what the name answers then is what counts ----------------------------------


def _never_connects(sent: list[httpx.Request]) -> httpx.AsyncClient:
    """A client whose transport only records: a request reaching it would have connected."""

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200)

    return httpx.AsyncClient(transport=httpx.MockTransport(record))


@pytest.mark.parametrize("answer", list(INSIDE_ANSWERS.values()), ids=list(INSIDE_ANSWERS))
async def test_a_name_answering_inside_at_send_time_is_never_connected(
    dns: StubResolver,
    answer: list[str],
) -> None:
    settings = settings_for("sqlite+aiosqlite://")
    dns.rebind(ATTACKER_NAME, *answer)
    sent: list[httpx.Request] = []
    async with _never_connects(sent) as client:
        attempt = await send(client, job_for(f"https://{ATTACKER_NAME}/hook?key=s3cret"), settings)
    assert sent == []
    assert attempt.status_code is None
    assert attempt.error == f"refused: {ATTACKER_NAME} resolves to a private or reserved address"
    _reveals_none(attempt.error, answer)


@pytest.mark.parametrize("host", list(INSIDE_HOSTS.values()), ids=list(INSIDE_HOSTS))
async def test_an_inside_address_saved_while_private_targets_were_allowed_is_not_sent_to(
    host: str,
) -> None:
    # WEBHOOKS_ALLOW_PRIVATE was on when the endpoint was saved, and is off now.
    settings: Settings = settings_for("sqlite+aiosqlite://")
    sent: list[httpx.Request] = []
    async with _never_connects(sent) as client:
        attempt = await send(client, job_for(f"http://{host}/hook"), settings)
    assert sent == []
    assert attempt.status_code is None and attempt.error.startswith("refused: "), attempt


async def test_a_name_that_passed_when_saved_and_answers_loopback_when_sent_is_refused(
    committed: CommittedDatabase,
    dns: StubResolver,
) -> None:
    settings = settings_for(committed.url)  # WEBHOOKS_ALLOW_PRIVATE off
    with running_receiver() as receiver:
        port = receiver.url.split(":")[2].split("/")[0]
        dns.rebind(ATTACKER_NAME, PUBLIC_ADDRESS)
        await add_endpoint(committed.database, settings, f"http://{ATTACKER_NAME}:{port}/hook")
        await emit_committed(committed.database, "customer.created", {"customer": {"id": 1}})
        # The record changes after the check at save time: it now points at the receiver.
        dns.rebind(ATTACKER_NAME, "127.0.0.1")
        assert await run_once(committed.database, settings) == 1
    assert receiver.behaviour.requests == [], "the worker connected to loopback"
    delivery = await only_delivery(committed.database)
    assert (delivery.status, delivery.last_status_code) == ("pending", None)
    assert delivery.last_error == (
        f"refused: {ATTACKER_NAME} resolves to a private or reserved address"
    )
    assert "127.0.0.1" not in str(delivery.attempts)


async def test_a_failed_connection_names_the_host_not_its_addresses_nor_the_urls_secrets(
    dns: StubResolver,
) -> None:
    # Private targets allowed (an on-premise receiver): the error still shows neither the
    # internal DNS answer nor the credential in the URL's query.
    settings = settings_for("sqlite+aiosqlite://", webhooks_allow_private=True)
    dns.rebind("erp.partner.example", "10.20.30.40")

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot connect to {request.url} ({request.url.host})")

    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as client:
        attempt = await send(
            client, job_for("https://erp.partner.example/hook?token=s3cret"), settings
        )
    assert attempt.status_code is None
    assert "10.20.30.40" not in attempt.error and "s3cret" not in attempt.error
    assert attempt.error == (
        "ConnectError: cannot connect to https://erp.partner.example (erp.partner.example)"
    )
