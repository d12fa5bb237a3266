"""The project's exception family: every message names the problem and the fix."""


class PlannerError(Exception):
    """Base class of every error the planner raises on purpose."""


class InputError(PlannerError, ValueError):
    """An input file or layer is missing, unreadable or malformed."""


class CRSError(InputError):
    """A layer has no CRS, or its coordinates contradict the CRS it declares."""


class OfflineError(InputError):
    """OpenStreetMap's servers cannot be reached for an online download."""


class EmptyNetworkError(InputError):
    """No walkable ways remain after filtering."""


class NoPeopleError(InputError):
    """The population source holds no people in the area read."""


class UnknownCategoryError(InputError, KeyError):
    """A service category key is not in the standards table."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class InfeasibleError(PlannerError):
    """An optimisation request cannot be satisfied; the message says why."""
