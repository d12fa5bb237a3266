"""The install lists every package of the source tree (the package-dir mapping of api/ and maps/
needs an explicit list, and a package missing from it works in a checkout but not installed)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INSTALLED_AS = {"planner": "planner", "api": "planner.api", "maps": "planner.maps"}


def test_every_source_package_is_installed():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]
    listed = set(config["setuptools"]["packages"])
    found = set()
    for folder, package in INSTALLED_AS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            parts = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((package, *parts)))
    assert found == listed, (f"missing from [tool.setuptools] packages: {sorted(found - listed)}; "
                             f"listed but absent: {sorted(listed - found)}")
    assert config["setuptools"]["package-dir"] == {"planner.api": "api", "planner.maps": "maps"}
