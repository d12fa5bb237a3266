"""Work in a forked child: its value, exception and warnings come back; no process is left
behind; where fork is unavailable the same work runs in this process."""

import multiprocessing
import os
import signal
import time
import warnings

import pytest

from planner import forked as forked_mod
from planner.errors import InputError
from planner.forked import ChildError, ChildTraceback, can_fork, forked

needs_fork = pytest.mark.skipif(not can_fork(), reason="fork is unavailable on this platform")


def pid_and(value):
    return os.getpid(), value


def fails():
    raise InputError("the file has no lon column; name it with lon_column.")


def warns():
    warnings.warn("a cell has no people", UserWarning, stacklevel=1)
    return 7


def sleeps():
    time.sleep(60)


def dies():
    os.kill(os.getpid(), signal.SIGKILL)


def unpicklable():
    return lambda: None


def children() -> list:
    return multiprocessing.active_children()


def in_pool_worker():
    with forked(pid_and, 5) as job:
        return os.getpid(), job.result()


@needs_fork
def test_the_value_comes_from_a_child_process():
    with forked(pid_and, {"a": [1, 2]}) as job:
        pid, value = job.result()
    assert pid != os.getpid() and value == {"a": [1, 2]}
    assert not children()


@needs_fork
def test_the_childs_exception_is_raised_here_with_where_it_happened():
    with pytest.raises(InputError, match="no lon column") as caught, forked(fails) as job:
        job.result()
    assert isinstance(caught.value.__cause__, ChildTraceback)
    assert "in fails" in str(caught.value.__cause__)
    assert not children()


@needs_fork
def test_the_childs_warnings_are_issued_here():
    with warnings.catch_warnings(record=True) as caught, forked(warns) as job:
        warnings.simplefilter("always")
        assert job.result() == 7
    assert [str(w.message) for w in caught] == ["a cell has no people"]
    assert caught[0].category is UserWarning


@needs_fork
def test_a_failure_here_stops_the_child():
    started = time.perf_counter()
    with pytest.raises(RuntimeError, match="outputs failed"), forked(sleeps):
        raise RuntimeError("outputs failed")
    assert time.perf_counter() - started < 10  # stopped, not waited for
    assert not children()


@needs_fork
def test_a_child_that_dies_or_returns_what_cannot_pickle_is_an_error():
    with pytest.raises(ChildError, match="ended without a result"), forked(dies) as job:
        job.result()
    with pytest.raises(ChildError, match="result of unpicklable could not be sent"), forked(unpicklable) as job:
        job.result()
    assert not children()


def test_without_fork_the_work_runs_here_when_asked(monkeypatch):
    monkeypatch.setattr(forked_mod, "can_fork", lambda: False)
    with forked(pid_and, 3) as job:
        assert job.result() == (os.getpid(), 3)
    with pytest.raises(InputError, match="no lon column"), forked(fails) as job:
        job.result()
    ran = []
    with pytest.raises(RuntimeError), forked(ran.append, 1):
        raise RuntimeError("before the result was asked for")
    assert ran == []  # work never asked for is never done


@needs_fork
def test_in_a_pool_worker_the_work_runs_in_the_worker():
    """A Pool's workers are daemonic and may not have children: no fork, no error."""
    with multiprocessing.get_context("fork").Pool(1) as pool:
        worker, (pid, value) = pool.apply(in_pool_worker)
    assert pid == worker and value == 5


@needs_fork
def test_when_the_fork_fails_the_work_runs_here(monkeypatch):
    def no_fork():
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", no_fork)
    with forked(pid_and, 9) as job:
        assert job.result() == (os.getpid(), 9)
