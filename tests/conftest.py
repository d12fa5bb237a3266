"""Shared test fixtures: paths of the real data and the bundled sample."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def taiyuan_roads() -> Path:
    """Central Taiyuan OSM lines layer (© OpenStreetMap contributors, ODbL)."""
    path = SHARED_DATA / "taiyuan" / "road.json"
    if not path.exists():
        pytest.skip(f"real Taiyuan data not found at {path} (../shared/data is absent)")
    return path
