"""Deploy the project as users do: build the wheel, install it into a fresh venv, run it elsewhere.

Nothing here imports the checkout's `app` into the processes it starts: they run the
installed console script from a temporary directory with a clean environment, so what
is tested is the wheel (SPEC §13), not the repository.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
# What a developer's tree holds that a clean clone does not (a stale build/ would leak
# deleted files into the wheel, a .venv would be copied for nothing).
UNTRACKED = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", "*.db*", "test-output", ".*cache"
)
_PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
INSTALL_TIMEOUT = 600
COMMAND_TIMEOUT = 120
START_TIMEOUT = 40
STOP_TIMEOUT = 25  # SPEC §10: SIGTERM, finish in-flight requests, exit within 25 s


class DeploymentFailed(AssertionError):
    """A step of the deployment failed; the message carries its output."""


def _run(
    args: list[str],
    *,
    cwd: Path,
    env: dict[str, str] | None = None,
    timeout: float,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        cwd=cwd,
        env=env,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _must(result: subprocess.CompletedProcess[str], what: str) -> str:
    if result.returncode != 0:
        raise DeploymentFailed(
            f"{what} exited {result.returncode}\n--- stdout\n{result.stdout}\n"
            f"--- stderr\n{result.stderr}"
        )
    return result.stdout


def copy_source(destination: Path) -> Path:
    """The files a clean clone has (the working tree's versions), copied to `destination`."""
    listed = (
        _run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            timeout=60,
        )
        if shutil.which("git") and (ROOT / ".git").exists()
        else None
    )
    if listed is None or listed.returncode != 0:
        shutil.copytree(ROOT, destination, symlinks=True, ignore=UNTRACKED)
        return destination
    for name in filter(None, listed.stdout.split("\0")):
        source = ROOT / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the working tree, not yet in the index
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)
    return destination


def build_wheel(workdir: Path) -> Path:
    """sdist, then the wheel from that sdist (so both must be complete), as `python -m build`."""
    source = copy_source(workdir / "source")
    dist = workdir / "dist"
    _must(
        _run(
            [PYTHON, "-m", "build", "--outdir", str(dist), str(source)],
            cwd=workdir,
            timeout=INSTALL_TIMEOUT,
        ),
        "python -m build",
    )
    [wheel] = dist.glob("backoffice-*.whl")
    return wheel


@dataclass
class Installation:
    """A fresh virtual environment with the wheel installed, and a directory to run it from."""

    venv: Path
    cwd: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def backoffice(self) -> str:
        return str(self.venv / "bin" / "backoffice")

    @property
    def site_packages(self) -> Path:
        [path] = (self.venv / "lib").glob("python3*/site-packages")
        return path

    def run(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        """`backoffice <args>` from the installation's directory, with its environment."""
        return _run(
            [self.backoffice, *args],
            cwd=self.cwd,
            env=self.env,
            input=input,
            timeout=COMMAND_TIMEOUT,
        )

    def must(self, *args: str, input: str | None = None) -> str:
        return _must(self.run(*args, input=input), f"backoffice {' '.join(args)}")

    def python(self, code: str) -> str:
        return _must(
            _run(
                [str(self.venv / "bin" / "python"), "-c", code],
                cwd=self.cwd,
                env=self.env,
                timeout=COMMAND_TIMEOUT,
            ),
            "python -c",
        )


def install(wheel: Path, constraints: Path, venv: Path, cwd: Path) -> Installation:
    """`python -m venv`, then `pip install -c constraints wheel`, as a container build does."""
    _must(_run([PYTHON, "-m", "venv", str(venv)], cwd=cwd, timeout=COMMAND_TIMEOUT), "venv")
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    _must(
        _run(
            [*pip, "install", "--quiet", "-c", str(constraints), str(wheel)],
            cwd=cwd,
            timeout=INSTALL_TIMEOUT,
        ),
        f"pip install -c {constraints.name} {wheel.name}",
    )
    return Installation(venv=venv, cwd=cwd)


def clean_env(**values: str) -> dict[str, str]:
    """A process environment with nothing from the test run but PATH, HOME and locale."""
    env = {name: os.environ[name] for name in _PASSED_THROUGH if name in os.environ}
    return env | values


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Running:
    """A started `backoffice` process and the file its output goes to."""

    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def fail(self, message: str) -> DeploymentFailed:
        return DeploymentFailed(f"{message}\n--- process output\n{self.output()}")

    def stop(self) -> int:
        """SIGTERM, then the exit status (SIGKILL and a failure past STOP_TIMEOUT)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise self.fail(f"did not stop within {STOP_TIMEOUT} s of SIGTERM") from None


@contextmanager
def started(installation: Installation, *args: str) -> Iterator[Running]:
    """Run `backoffice <args>` in the background; killed on the way out if still running."""
    log = installation.cwd / f"{args[0]}-{time.monotonic_ns()}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [installation.backoffice, *args],
            cwd=installation.cwd,
            env=installation.env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    running = Running(process, log)
    try:
        yield running
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def wait_for_http(running: Running, url: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if running.process.poll() is not None:
            raise running.fail(f"exited {running.process.returncode} before answering {url}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise running.fail(f"no answer from {url} within {START_TIMEOUT} s")


def wait_for_output(running: Running, text: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if text in running.output():
            return
        if running.process.poll() is not None:
            raise running.fail(f"exited {running.process.returncode} before logging {text!r}")
        time.sleep(0.2)
    raise running.fail(f"did not log {text!r} within {START_TIMEOUT} s")
