"""Tools the benchmark needs that the product does not: Debian's wrk and the baselines' venv."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
BASELINES_DIR = BENCH_DIR / "baselines"
BASELINES_REQUIREMENTS = BASELINES_DIR / "requirements.txt"
BASELINES_VENV = BENCH_DIR / ".venv-baselines"
BASELINES_STAMP = BASELINES_VENV / ".requirements.sha256"


class SetupError(RuntimeError):
    """A tool could not be installed; the message says what to do."""


def ensure_wrk() -> str:
    """The path of wrk, installing Debian's package first when it is missing."""
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk is not installed: installing Debian's wrk (apt-get install -y wrk)", flush=True)
    if shutil.which("apt-get") is None:
        raise SetupError("wrk is missing and apt-get is not available: install wrk by hand")
    install = ["apt-get", "install", "-y", "-q", "wrk"]
    if subprocess.run(install, check=False).returncode != 0:
        # A fresh machine may have no package lists yet.
        subprocess.run(["apt-get", "update", "-q"], check=False)
        if subprocess.run(install, check=False).returncode != 0:
            raise SetupError("apt-get install wrk failed (not root?): install wrk by hand")
    found = shutil.which("wrk")
    if not found:
        raise SetupError("wrk is still not on PATH after apt-get install")
    return found


def baselines_python() -> Path:
    return BASELINES_VENV / "bin" / "python"


def ensure_baselines_venv() -> Path:
    """bench/.venv-baselines with bench/baselines/requirements.txt (reinstalled on change)."""
    wanted = hashlib.sha256(BASELINES_REQUIREMENTS.read_bytes()).hexdigest()
    if BASELINES_STAMP.exists() and BASELINES_STAMP.read_text().strip() == wanted:
        return BASELINES_VENV
    print(f"installing the baselines into {BASELINES_VENV.relative_to(BENCH_DIR.parent)}")
    if not baselines_python().exists():
        subprocess.run([sys.executable, "-m", "venv", str(BASELINES_VENV)], check=True)
    pip = [
        str(baselines_python()),
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
    ]
    subprocess.run([*pip, "-r", str(BASELINES_REQUIREMENTS)], check=True)
    BASELINES_STAMP.write_text(wanted + "\n")
    return BASELINES_VENV
