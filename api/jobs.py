"""Long computations as jobs, each in its own worker process (never on the event loop).

Workers are forked from a ``forkserver`` process that has the planner's modules imported. The
server process keeps a queue and a dispatcher thread that starts at most ``workers``
processes at once. A worker writes its progress (0–1), timings, summary and final state to
SQLite itself, so the state survives a server restart. Cancelling a running job terminates its
process.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from api.store import ACTIVE, Store, new_id
from planner.errors import PlannerError

#: A job kind → the task it runs (resolved inside the worker, see api.tasks).
KINDS = ("network", "coverage", "optimize")
#: Imported once by the fork server, so a job starts without re-importing the stack (≈ 3 s).
PRELOAD = ["api.tasks", "planner.scenario", "maps", "openpyxl", "pyrosm", "highspy"]
_POLL_S = 0.2
_PROGRESS_EVERY_S = 0.3


class JobCancelled(Exception):
    """Raised inside a worker whose job is no longer running (cancelled or interrupted)."""


class ProgressWriter:
    """The ``progress(step, fraction)`` callback of a worker: throttled writes to SQLite.

    It also stops the worker (``JobCancelled``) when the job's state was changed from outside,
    e.g. a worker orphaned by a killed server whose job was marked interrupted at restart.
    """

    def __init__(self, store: Store, job_id: str) -> None:
        self.store, self.job_id = store, job_id
        self._last_write, self._last_step = 0.0, None

    def __call__(self, step: str, fraction: float) -> None:
        now = time.monotonic()
        if step == self._last_step and now - self._last_write < _PROGRESS_EVERY_S:
            return
        fraction = min(max(float(fraction), 0.0), 0.99)
        if not self.store.transition(self.job_id, "running", ("running",),
                                     step=str(step)[:200], progress=fraction):
            raise JobCancelled(self.job_id)
        self._last_write, self._last_step = now, step


def work(data_dir: str, job_id: str) -> None:
    """Entry point of a worker process: run one job and record its outcome."""
    from api.tasks import TASKS
    from planner.optimize.highs import silence_banner

    silence_banner()  # while this process has one thread: the optimizer's threads log later
    store = Store(data_dir)
    job = store.get("jobs", job_id)
    progress = ProgressWriter(store, job_id)
    try:
        outcome = TASKS[job["kind"]](store, job, progress)
    except JobCancelled:
        return
    except PlannerError as exc:
        store.transition(job_id, "failed", ("running",), error=str(exc), finished=time.time())
        return
    except Exception as exc:  # an unexpected failure is reported on the job, not lost
        store.transition(
            job_id, "failed", ("running",), finished=time.time(),
            error=f"Internal error ({type(exc).__name__}: {exc}). The inputs may be unusual; "
                  "report it with the job id.",
        )
        return
    store.transition(job_id, "done", ("running",), progress=1.0, step="done",
                     finished=time.time(), **outcome)


class JobManager:
    """Queue and worker processes of one server."""

    def __init__(self, store: Store, workers: int = 1,
                 target: Callable[[str, str], None] = work) -> None:
        self.store, self.workers, self._target = store, workers, target
        self._queue: deque[str] = deque()
        self._running: dict[str, multiprocessing.Process] = {}
        self._cond = threading.Condition()
        self._stop = False
        # workers fork from a clean single-threaded server process, never from this one
        self._ctx = multiprocessing.get_context("forkserver")
        self._ctx.set_forkserver_preload(PRELOAD)
        self._thread = threading.Thread(target=self._loop, name="job-dispatcher", daemon=True)

    def start(self) -> None:
        """Start dispatching queued jobs."""
        self._thread.start()

    def submit(self, kind: str, target_id: str, params: dict[str, Any] | None = None) -> dict:
        """Queue a job; returns its row."""
        if kind not in KINDS:
            raise ValueError(f"unknown job kind {kind!r}")
        row = self.store.insert("jobs", {
            "id": new_id(), "kind": kind, "target_id": target_id, "status": "queued",
            "created": time.time(), "params": params or {},
        })
        with self._cond:
            self._queue.append(row["id"])
            self._cond.notify_all()
        return row

    def cancel(self, job_id: str) -> bool:
        """Cancel a queued or running job; False when it had already finished."""
        with self._cond:
            if not self.store.transition(job_id, "cancelled", ACTIVE, finished=time.time(),
                                         error="Cancelled on request."):
                return False
            if job_id in self._queue:
                self._queue.remove(job_id)
            proc = self._running.pop(job_id, None)
        if proc is not None:
            _stop_process(proc)
        return True

    def running(self) -> int:
        """Worker processes alive now."""
        with self._cond:
            return len(self._running)

    def shutdown(self) -> None:
        """Stop the dispatcher and the workers; their jobs are marked interrupted."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
            procs = dict(self._running)
            self._running.clear()
            queued = list(self._queue)
            self._queue.clear()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        message = "The server shut down while this job was queued or running; submit it again."
        for job_id in [*procs, *queued]:
            self.store.transition(job_id, "interrupted", ACTIVE, finished=time.time(),
                                  error=message)
        for proc in procs.values():
            _stop_process(proc)

    def _loop(self) -> None:
        while True:
            with self._cond:
                if self._stop:
                    return
                self._reap()
                while self._queue and len(self._running) < self.workers:
                    self._launch(self._queue.popleft())
                self._cond.wait(timeout=_POLL_S)

    def _launch(self, job_id: str) -> None:
        if not self.store.transition(job_id, "running", ("queued",), started=time.time(),
                                     step="starting", progress=0.0):
            return
        proc = self._ctx.Process(target=self._target, args=(str(self.store.data_dir), job_id),
                                 name=f"planner-job-{job_id[:8]}")
        proc.start()
        self.store.update("jobs", job_id, pid=proc.pid)
        self._running[job_id] = proc

    def _reap(self) -> None:
        for job_id, proc in list(self._running.items()):
            if proc.exitcode is None:
                continue
            proc.join()
            del self._running[job_id]
            self.store.transition(
                job_id, "failed", ("running",), finished=time.time(),
                error=f"The worker process stopped (exit code {proc.exitcode}) before finishing, "
                      "e.g. out of memory. Submit the job again with a smaller area or fewer "
                      "categories.",
            )


def _stop_process(proc: multiprocessing.Process, grace_s: float = 3.0) -> None:
    proc.terminate()
    proc.join(grace_s)
    if proc.exitcode is None:
        proc.kill()
        proc.join(grace_s)
