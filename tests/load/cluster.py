"""A throwaway PostgreSQL cluster of the soak's own: initdb, start, fast restart, remove."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

PG_BIN = Path(os.environ.get("SOAK_PG_BIN", "/usr/lib/postgresql/15/bin"))
DATABASE = "soak"
COMMAND_TIMEOUT = 60
# Durability is not under test: the cluster dies with the run. A fast restart still
# writes a shutdown checkpoint, so committed rows survive it.
SERVER_OPTIONS = (
    "-c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
    "-c full_page_writes=off -c max_connections=100 -c shared_buffers=64MB"
)


class ClusterError(RuntimeError):
    """A pg_ctl or initdb step failed; the message carries its output and the server log."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Cluster:
    """One PostgreSQL server in a temporary folder, on a free loopback port."""

    root: Path
    port: int

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "socket"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{DATABASE}"

    def _as_owner(self, *args: str) -> subprocess.CompletedProcess[str]:
        # PostgreSQL refuses to run as root: in CI (root) the cluster belongs to `postgres`.
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        result = subprocess.run(
            [*prefix, *args],
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
        if result.returncode != 0:
            raise ClusterError(
                f"{' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}\n"
                f"--- server log\n{self.server_log()}"
            )
        return result

    def server_log(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def init(self) -> None:
        self._as_owner(
            str(PG_BIN / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )

    def start(self) -> None:
        self._pg_ctl("start")

    def restart_fast(self) -> None:
        """`pg_ctl restart -m fast`: every session is terminated, then the server comes back."""
        before = self.postmaster_pid()
        self._pg_ctl("restart", "-m", "fast")
        if self.postmaster_pid() == before:  # a soak whose fault did not happen proves nothing
            raise ClusterError(f"pg_ctl restart left the same postmaster ({before}) running")

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, IndexError, ValueError):
            return None

    def stop(self) -> None:
        self._pg_ctl("stop", "-m", "immediate")

    def _pg_ctl(self, action: str, *extra: str) -> None:
        options = f"-p {self.port} -k {self.socket_dir} {SERVER_OPTIONS}"
        self._as_owner(
            str(PG_BIN / "pg_ctl"),
            action,
            *extra,
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            options,
            "-w",
            "-t",
            str(COMMAND_TIMEOUT),
        )

    def create_database(self) -> None:
        self._as_owner(
            str(PG_BIN / "createdb"),
            "-h",
            str(self.socket_dir),
            "-p",
            str(self.port),
            "-U",
            "postgres",
            DATABASE,
        )

    def is_running(self) -> bool:
        return (self.data / "postmaster.pid").exists()


def new_cluster() -> Cluster:
    """initdb in a fresh folder (readable by `postgres`), started, with the soak database."""
    # Not pytest's tmp_path: its parents are private to root, and the server runs as postgres.
    root = Path(tempfile.mkdtemp(prefix="backoffice-soak-pg-"))
    cluster = Cluster(root=root, port=free_port())
    (root / "socket").mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        shutil.chown(root / "socket", "postgres", "postgres")
    try:
        cluster.init()
        cluster.start()
        cluster.create_database()
    except BaseException:
        remove_cluster(cluster)
        raise
    return cluster


def remove_cluster(cluster: Cluster) -> None:
    """Stop the server if it runs (immediate: nothing in it is kept) and delete its folder."""
    try:
        if cluster.is_running():
            cluster.stop()
    finally:
        shutil.rmtree(cluster.root, ignore_errors=True)
