"""requirements.txt (what Heroku installs) stays in step with pyproject.toml and the tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]


def _pin_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(
        "pin_requirements", ROOT / "scripts/pin_requirements.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["pin_requirements"] = module
    spec.loader.exec_module(module)
    return module


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==", 1)
            pins[canonicalize_name(name)] = version
    return pins


def test_requirements_txt_matches_what_the_generator_writes_now() -> None:
    pin = _pin_module()
    assert (ROOT / "requirements.txt").read_text() == pin.render(), (
        "requirements.txt drifted from pyproject.toml or the installed versions: "
        "run `make requirements`"
    )


def test_every_pyproject_dependency_is_pinned_within_its_range() -> None:
    pin = _pin_module()
    pins = _pins()
    for requirement in pin.runtime_requirements():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is in pyproject.toml but not pinned"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{name}=={pins[name]} does not satisfy {requirement}"
        )


def test_requirements_txt_installs_the_project_itself() -> None:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    assert "." in lines
    assert Requirement("fastapi").name in {line.split("==")[0] for line in lines}
