"""15-minute living-circle planning: walk networks, coverage, gaps and site optimisation."""

from pathlib import Path as _Path

# In a source checkout the top-level api/ and maps/ folders are planner.api and planner.maps
# (an installed copy has them inside the package; see [tool.setuptools.package-dir]).
_ROOT = _Path(__file__).resolve().parent.parent
if not (_Path(__file__).parent / "maps").is_dir() and (_ROOT / "maps" / "__init__.py").is_file():
    __path__.append(str(_ROOT))
