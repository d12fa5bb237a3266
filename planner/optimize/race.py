"""The meeting point of the two halves of a solve: the searches (main thread) raise the best
answer, the bound stage (background thread) lowers the best bound, and both stop as soon as
they meet."""

from __future__ import annotations

import threading

import numpy as np


class Race:
    """People covered by the best answer found so far and the best bound proven, shared across
    threads. ``met`` is set once they are within ``mip_gap`` (relative) of each other.

    ``floor`` is a bound on the answers the bound stage does not see (those excluded by site
    fixing); ``integral`` floors the bound, as coverage is then a whole number of people.
    """

    def __init__(self, value: float, mip_gap: float, *, integral: bool,
                 floor: float = -np.inf) -> None:
        self.value = float(value)
        self.bound = np.inf
        self.met = threading.Event()
        self._gap, self._integral, self._floor = mip_gap, integral, floor
        self._lock = threading.Lock()

    def offer_value(self, value: float) -> None:
        """A search found an answer covering ``value`` people."""
        with self._lock:
            if value > self.value:
                self.value = float(value)
                self._check()

    def offer_bound(self, bound: float) -> None:
        """The bound stage proved that no answer covers more than ``bound`` people."""
        with self._lock:
            if bound < self.bound:
                self.bound = float(bound)
                self._check()

    def _check(self) -> None:
        bound = max(self.bound, self._floor)
        if self._integral:
            bound = float(np.floor(bound + 1e-6))
        if bound - self.value <= max(self._gap * abs(self.value),
                                     1e-9 * max(1.0, abs(self.value))):
            self.met.set()
