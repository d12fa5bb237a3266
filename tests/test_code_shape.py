"""Modules stay small enough to read: none of the library, API or map modules over 650 lines."""

from __future__ import annotations

from conftest import ROOT

MAX_LINES = 650


def _lines(path) -> int:
    with path.open(encoding="utf-8") as f:
        return sum(1 for _ in f)


def test_no_module_over_the_line_limit():
    sizes = {
        p.relative_to(ROOT).as_posix(): _lines(p)
        for folder in ("planner", "api", "maps")
        for p in (ROOT / folder).rglob("*.py")
    }
    long = {k: n for k, n in sorted(sizes.items()) if n > MAX_LINES}
    assert not long, f"split these modules (over {MAX_LINES} lines): {long}"
