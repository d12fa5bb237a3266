"""One piece of work in a forked child process while this process does another.

On Linux, :func:`forked` forks a child that inherits everything in memory (nothing is copied or
pickled on the way in), runs ``fn(*args, **kwargs)`` there and sends back its return value, its
exception or the warnings it raised; the child ends with its parent (Linux kills it when the
parent dies) and is stopped when the parent's own work fails. Where fork is unavailable
(Windows, macOS, whose system libraries are not fork-safe; a ``multiprocessing.Pool`` worker)
or fails, the work runs in this process when its result is asked for, so the outcome is the
same, only not concurrent.

Use it for work that writes files or returns a small value (the value must pickle)::

    with forked(write_report, result, out) as report:
        paths = write_result(result, out)  # meanwhile, the child writes the report
        paths.update(report.result())
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import traceback
import warnings
from collections.abc import Callable
from contextlib import suppress
from typing import Any

from planner.errors import PlannerError

_PR_SET_PDEATHSIG = 1
#: Seconds a stopped child gets to end on SIGTERM before it is killed.
_STOP_S = 2.0


def can_fork() -> bool:
    """Whether work can go to a forked child here: Linux with the fork start method, and not
    inside a daemonic process (a worker of a ``multiprocessing.Pool``, which may not have
    children)."""
    return (sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()
            and not multiprocessing.current_process().daemon)


class ChildError(PlannerError):
    """The child process ended without a result that could be read back."""


class ChildTraceback(Exception):
    """Where the child's exception was raised (the cause of the exception re-raised here)."""


class Forked:
    """``fn(*args, **kwargs)`` in a forked child (see the module); a context manager that
    leaves no process behind. :meth:`result` waits for the value, or raises the child's
    exception, and re-issues the child's warnings here."""

    def __init__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self._call = (fn, args, kwargs)
        self._name = getattr(fn, "__name__", "the work")
        self._process = None
        if can_fork():
            ctx = multiprocessing.get_context("fork")
            self._conn, child_conn = ctx.Pipe(duplex=False)
            for stream in (sys.stdout, sys.stderr):  # written once, not again by the child
                with suppress(OSError, ValueError, AttributeError):  # closed, or no stream
                    stream.flush()
            self._process = ctx.Process(target=_child, daemon=True,
                                        args=(child_conn, os.getpid(), fn, args, kwargs))
            try:
                self._process.start()
            except OSError:  # no memory or process slot for a fork: the work is done here
                self._process = None
                self._conn.close()
            child_conn.close()  # so a child that dies is seen as the pipe's end

    def result(self) -> Any:
        """The return value of the work (waiting for the child); its exception is raised."""
        if self._process is None:
            fn, args, kwargs = self._call
            return fn(*args, **kwargs)
        try:
            status, value, where, caught = self._conn.recv()
        except Exception as exc:  # EOFError when the child died, else an unreadable outcome
            self.stop()
            raise ChildError(f"The child process running {self._name} ended without a result "
                             f"(exit code {self._process.exitcode}: {exc!r}); run again, and "
                             "if it recurs, report it with the command line.") from None
        finally:
            self._conn.close()
        self._process.join()
        for message, category, filename, lineno in caught:
            warnings.warn_explicit(message, category, filename, lineno)
        if status == "error":
            raise value from ChildTraceback(where)
        return value

    def stop(self) -> None:
        """End the child if it still runs (SIGTERM, then SIGKILL) and reap it."""
        if self._process is None or self._process.exitcode is not None:
            return
        self._process.terminate()
        self._process.join(_STOP_S)
        if self._process.exitcode is None:
            self._process.kill()
            self._process.join()

    def __enter__(self) -> Forked:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def forked(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Forked:
    """Start ``fn(*args, **kwargs)`` in a forked child where the platform forks (see
    :class:`Forked`)."""
    return Forked(fn, *args, **kwargs)


def _child(conn, parent: int, fn: Callable[..., Any], args: tuple, kwargs: dict) -> None:
    """The child: run the work, send (status, value or exception, its traceback, warnings)
    and end at once (no exit handlers, no flushing of streams another thread of the parent
    may have held at the fork)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # the parent ended before the line above
        os._exit(1)
    code, where = 0, ""
    with warnings.catch_warnings(record=True) as caught:
        try:
            outcome = ("ok", fn(*args, **kwargs))
        except BaseException as exc:  # every failure, even an interrupt, goes to the parent
            outcome, code, where = ("error", exc), 1, traceback.format_exc()
    found = [(str(w.message), w.category, w.filename, w.lineno) for w in caught]
    try:
        conn.send((*outcome, where, found))
    except Exception as exc:  # the outcome would not pickle: say what it was
        what = "result" if outcome[0] == "ok" else "exception"
        conn.send(("error", ChildError(f"The {what} of {getattr(fn, '__name__', fn)} could not "
                                       f"be sent back from its child process ({exc}): "
                                       f"{outcome[1]!r}"[:2000]), where, found))
    conn.close()
    os._exit(code)
