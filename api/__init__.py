"""HTTP service of the planner: networks, scenarios, coverage and optimisation jobs (``/v1``)."""

from planner.api.app import create_app
from planner.api.settings import Settings

__all__ = ["Settings", "create_app"]
