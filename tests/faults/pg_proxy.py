"""A loopback TCP proxy in front of PostgreSQL that can cut a connection at a chosen message.

Real faults, not mocks: the app talks to the real server through it; the proxy reads the
wire protocol (v3, plain text: the URL says `sslmode=disable`) just enough to know which
SQL a message carries, and when an armed trigger matches it closes both sockets, so the
server and the app each see a real connection loss at that exact point. Two points matter
for a unit of work: before the server has the COMMIT (its work is rolled back), and after
the server committed but before the app hears so (the outcome is unknown to the app).
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

# Client → server message types that carry SQL: simple Query, and Parse (named statement).
QUERY, PARSE, BIND = b"Q", b"P", b"B"
COMMAND_COMPLETE = b"C"


@dataclass
class Trigger:
    """Cut the connection when a message matches; fires `times` times, then disarms."""

    # "to_server": a client message whose SQL matches, not forwarded (the server never
    # sees it). "to_client": a server CommandComplete whose tag matches, not forwarded
    # (the server has done it; the client never hears).
    direction: str
    matches: Callable[[str], bool]
    times: int = 1
    fired: int = 0


@dataclass
class PgFaultProxy:
    """Listens on 127.0.0.1:<port>, forwards to the real server, cuts on armed triggers."""

    upstream_host: str
    upstream_port: int
    triggers: list[Trigger] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)

    async def start(self) -> None:
        """Listen (again, on the same port after `stop`)."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Refuse new connections and cut every open one: the database is gone."""
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        if self._server is not None:
            await self._server.wait_closed()

    def arm(self, direction: str, matches: Callable[[str], bool], times: int = 1) -> Trigger:
        trigger = Trigger(direction, matches, times)
        self.triggers.append(trigger)
        return trigger

    def _fire(self, direction: str, text: str) -> bool:
        for trigger in self.triggers:
            armed = trigger.direction == direction and trigger.fired < trigger.times
            if armed and trigger.matches(text):
                trigger.fired += 1
                return True
        return False

    async def _serve(self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter):
        server_reader, server = await asyncio.open_connection(
            self.upstream_host, self.upstream_port
        )
        self._writers.update({client, server})
        statements: dict[str, str] = {}
        cut = asyncio.Event()

        def close() -> None:
            cut.set()
            for writer in (client, server):
                writer.close()

        async def to_server() -> None:
            # The startup message has no type byte: length, then the body.
            length = struct.unpack("!I", await client_reader.readexactly(4))[0]
            server.write(struct.pack("!I", length) + await client_reader.readexactly(length - 4))
            while True:
                kind = await client_reader.readexactly(1)
                raw_length = await client_reader.readexactly(4)
                body = await client_reader.readexactly(struct.unpack("!I", raw_length)[0] - 4)
                text = _sql_of(kind, body, statements)
                if text is not None and self._fire("to_server", text):
                    close()
                    return
                server.write(kind + raw_length + body)
                await server.drain()

        async def to_client() -> None:
            while True:
                kind = await server_reader.readexactly(1)
                raw_length = await server_reader.readexactly(4)
                body = await server_reader.readexactly(struct.unpack("!I", raw_length)[0] - 4)
                if kind == COMMAND_COMPLETE:
                    tag = body.rstrip(b"\0").decode("utf-8", "replace")
                    if self._fire("to_client", tag):
                        close()
                        return
                client.write(kind + raw_length + body)
                await client.drain()

        tasks = [asyncio.ensure_future(to_server()), asyncio.ensure_future(to_client())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for writer in (client, server):
                writer.close()
                self._writers.discard(writer)


def _sql_of(kind: bytes, body: bytes, statements: dict[str, str]) -> str | None:
    """The SQL a client message runs: a Query's text, a Parse's, or a Bind's statement's."""
    if kind == QUERY:
        return body.rstrip(b"\0").decode("utf-8", "replace")
    if kind == PARSE:
        name, rest = body.split(b"\0", 1)
        query = rest.split(b"\0", 1)[0].decode("utf-8", "replace")
        statements[name.decode()] = query
        return query
    if kind == BIND:
        _portal, rest = body.split(b"\0", 1)
        name = rest.split(b"\0", 1)[0].decode()
        return statements.get(name)
    return None
