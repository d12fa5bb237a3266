"""Shared test fixtures: paths of the real data and the bundled sample."""

import os
from pathlib import Path

import pytest
from hypothesis import settings

# Property tests draw the same examples on every run, so a CI result does not depend on luck;
# HYPOTHESIS_PROFILE=explore draws fresh examples (and keeps the example database).
settings.register_profile("deterministic", derandomize=True, database=None)
settings.register_profile("explore")
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))

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
