"""Every example in docs/api.md runs, in order, and answers the status the page promises."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import make_user

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
EXAMPLE = re.compile(r"```http\n(.*?)\n```\n→ (\d{3})", re.DOTALL)


@dataclass(frozen=True)
class Example:
    method: str
    target: str
    headers: dict[str, str]
    body: str
    expected: int


def examples() -> list[Example]:
    found = []
    for block, status in EXAMPLE.findall(DOC.read_text()):
        head, _, body = block.partition("\n\n")
        request_line, *header_lines = head.splitlines()
        method, target = request_line.split(" ", 1)
        headers = dict(line.split(": ", 1) for line in header_lines)
        found.append(Example(method, target, headers, body, int(status)))
    return found


def test_the_page_has_examples_for_every_kind_of_answer() -> None:
    statuses = {example.expected for example in examples()}
    assert len(examples()) >= 20
    assert {200, 201, 400, 409, 412, 422} <= statuses


async def test_the_examples_in_docs_api_md_run_as_documented(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await make_user(session, email="ada@example.com", role="admin")
    values: dict[str, str] = {}

    def fill(text: str) -> str:
        return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), text)

    for example in examples():
        response = await client.request(
            example.method,
            fill(example.target),
            headers={k: fill(v) for k, v in example.headers.items()},
            content=fill(example.body).encode() if example.body else None,
        )
        assert response.status_code == example.expected, (
            f"{example.method} {example.target}: {response.status_code} {response.text[:300]}"
        )
        data = response.json() if "json" in response.headers.get("content-type", "") else {}
        if isinstance(data, dict):
            if "access_token" in data:
                values["token"] = data["access_token"]
            resource = fill(example.target).split("?")[0].split("/")[3]
            if example.method == "POST" and "id" in data and response.status_code == 201:
                key = {
                    "customers": "customer_id",
                    "products": "product_id",
                    "orders": "order_id",
                }.get(resource)
                if key:
                    values[key] = str(data["id"])
            if data.get("items") and isinstance(data["items"], list) and "number" in data:
                values["item_id"] = str(data["items"][0]["id"])
