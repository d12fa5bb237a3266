"""Province-wide monitoring: one scenario run per unit (city, county, 街道 or 社区), each exact
across its borders, on a Dask cluster or in this process, merged into one set of tables, a
workbook and an overview map. See docs/province.md."""

from planner.province.merge import ProvinceResult
from planner.province.run import run_province

__all__ = ["ProvinceResult", "run_province"]
