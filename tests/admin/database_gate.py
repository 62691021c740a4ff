"""A loopback TCP relay between an app and PostgreSQL that a test can cut: a real outage.

While open it passes bytes both ways. `cut()` stops listening (a new connection is
refused, as when the server is down) and drops every connection it relays (the pooled
ones die as in a restart). `open()` listens again on the same port: the server is back.
Both are synchronous, so a SQLAlchemy event hook can cut (and reopen) in the middle of a
request, just before a chosen statement is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket


class DatabaseGate:
    """Relays 127.0.0.1:`port` to the PostgreSQL server at `target_host`:`target_port`."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._listener: socket.socket | None = None
        self._serving: asyncio.Task[asyncio.Server] | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def open(self) -> None:
        """Listen (on a free port the first time, then on the same one); nothing to do when
        it already listens (a test's cleanup after a cut that never came).

        The socket listens before this returns: a client connecting at once waits in the
        backlog until the relay accepts it, rather than being refused.
        """
        if self._listener is not None:
            return
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.setblocking(False)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._serving = asyncio.get_running_loop().create_task(
            asyncio.start_server(self._relay, sock=listener)
        )

    def cut(self) -> None:
        """The database goes away: nothing new connects, every open connection drops."""
        if self._serving is not None:
            if self._serving.done() and not self._serving.cancelled():
                self._serving.result().close()
            else:
                self._serving.cancel()
            self._serving = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def restart(self) -> None:
        """Every connection drops, and the server takes new ones again at once."""
        self.cut()
        self.open()

    async def close(self) -> None:
        serving = self._serving
        self.cut()
        if serving is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await serving
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _relay(
        self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter
    ) -> None:
        try:
            server_reader, server = await asyncio.open_connection(*self.target)
        except OSError:
            client.transport.abort()
            return
        self._writers.update({client, server})
        pumps = [
            asyncio.create_task(_pump(client_reader, server)),
            asyncio.create_task(_pump(server_reader, client)),
        ]
        self._tasks.update(pumps)
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
                self._tasks.discard(pump)
            for writer in (client, server):
                self._writers.discard(writer)
                writer.transport.abort()


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy bytes one way until either side goes away."""
    with contextlib.suppress(ConnectionError, OSError):
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
