"""Shared test fixtures: paths of the real data and the bundled sample."""

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Property tests draw the same examples on every run, so a CI result does not depend on luck;
# HYPOTHESIS_PROFILE=explore draws fresh examples (and keeps the example database), and
# `--hypothesis-seed=N` replays the examples of seed N (the seed an explore failure prints).
# Timing never fails a test: a busy machine must not change the verdict.
_UNTIMED = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
settings.register_profile("deterministic", derandomize=True, database=None, **_UNTIMED)
settings.register_profile("seeded", derandomize=False, database=None, **_UNTIMED)
settings.register_profile("explore", **_UNTIMED)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))


def pytest_configure(config: pytest.Config) -> None:
    """A derandomised profile ignores seeds: switch to one that uses the seed given."""
    if (config.getoption("--hypothesis-seed", None) is not None
            and settings.get_current_profile_name() == "deterministic"):
        settings.load_profile("seeded")


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


@pytest.fixture(scope="session")
def sample_cache(tmp_path_factory) -> Path:
    """One cache of the sample's parsed network, facilities and demand grid for the session
    (entries are keyed by their inputs and settings, so runs that differ never share one)."""
    return tmp_path_factory.mktemp("sample-cache")


@pytest.fixture(scope="session")
def share_sample_cache(sample_cache):
    """``share_sample_cache(folder)``: a run writing to ``folder`` (which keeps its cache in
    ``folder/.cache``) reuses the session's parsed sample; returns ``folder``."""

    def link(folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / ".cache").symlink_to(sample_cache, target_is_directory=True)
        return folder

    return link
