"""docs/standards.md lists every norm of data/standards/ with its source, and stays in step."""

from __future__ import annotations

import re

from conftest import ROOT

from planner.standards import load_categories, load_speeds
from planner.standards_doc import render

DOC = ROOT / "docs" / "standards.md"


def test_the_document_matches_the_standards_files():
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/standards.md is stale: run `python -m planner.standards_doc > docs/standards.md`"
    )


def test_every_category_number_and_source_is_listed():
    text = DOC.read_text(encoding="utf-8")
    for key, c in load_categories().items():
        row = next(line for line in text.splitlines() if line.startswith(f"| `{key}` |"))
        assert f"| {c.level_min} min |" in row and f"| {c.distance_m:g} m |" in row
        for p in c.provenance:
            if p.field in ("level_min", "distance_m"):
                assert p.source in row and ("unverified" if not p.verified else "verified") in row
    for group, speed in load_speeds().items():
        assert f"| `{group}` | {speed:g} m/s |" in text


def test_links_point_inside_the_repository():
    text = DOC.read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#]+)\)", text)
    assert links
    for link in links:
        assert not link.startswith(("http", "/")) and (DOC.parent / link).resolve().exists(), link
    assert "../shared" not in text and "STANDARDS.md" not in text
