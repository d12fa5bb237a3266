"""Long computations as jobs, each in its own worker process (never on the event loop).

Workers are forked from a ``forkserver`` process that has the planner's modules imported. The
server process keeps a queue (at most ``max_queued`` jobs; beyond that ``QueueFull``) and a
dispatcher thread that starts at most ``workers`` processes at once. A worker writes its
progress (0–1), timings, summary and final state to SQLite itself, so the state survives a
server restart. Cancelling a running job terminates its process.

Faults cost at most the job they hit: a storage error in the dispatcher is logged and the step
retried (a supervisor thread restarts the dispatcher should it ever die); a worker's end is
recorded as soon as the database accepts it; jobs the dispatcher lost track of are failed with
the reason. A worker dies with its server (it watches the server's process; on Linux the kernel
also kills it when the fork server exits) and writes its results to a staging directory that
becomes the job's only if the job is still running, so nothing is written for an interrupted
job. Finished jobs, uploads and cache entries older than ``retention_s`` are deleted.
"""

from __future__ import annotations

import ctypes
import logging
import math
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from planner.api.store import ACTIVE, FINAL, StorageError, Store, is_disk_full, new_id, remove_tree
from planner.errors import PlannerError

log = logging.getLogger("planner.api")

#: A job kind → the task it runs (resolved inside the worker, see api.tasks).
KINDS = ("network", "coverage", "optimize", "province")
#: Imported once by the fork server, so a job starts without re-importing the stack (≈ 3 s).
PRELOAD = ["planner.api.tasks", "planner.scenario", "planner.maps", "openpyxl", "pyrosm", "highspy"]
_POLL_S = 0.2
_PROGRESS_EVERY_S = 0.3
#: After a failed dispatcher step, wait this long before the next one (doubling, seconds).
_BACKOFF_S = (0.2, 5.0)
#: How often the dispatcher compares the database with the jobs it holds, and purges old ones.
_RECONCILE_EVERY_S = 5.0
_PURGE_EVERY_S = 600.0
#: An active row the dispatcher does not hold this long after its creation is lost (seconds).
_LOST_AFTER_S = 10.0
#: How long a worker keeps trying to record its outcome in a failing database (seconds).
_RECORD_FOR_S = 60.0
#: Tries to start a worker (the first after a killed fork server fails).
_START_ATTEMPTS = 3
#: Exit code of a worker that could not record its outcome.
EXIT_UNRECORDED = 75
_PR_SET_PDEATHSIG = 1
#: How often a worker checks that its server still runs (seconds).
_WATCH_S = 0.1


class QueueFull(Exception):
    """The queue holds ``max_queued`` jobs; ``retry_after_s`` estimates when one leaves it."""

    def __init__(self, queued: int, retry_after_s: int) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(
            f"The job queue is full ({queued} jobs waiting); submit this job again in about "
            f"{retry_after_s} s (see the Retry-After header), or cancel queued jobs you no "
            "longer need with DELETE /v1/jobs/{id}.")


class JobCancelled(Exception):
    """Raised inside a worker whose job is no longer running (cancelled or interrupted)."""


class ProgressWriter:
    """The ``progress(step, fraction)`` callback of a worker: throttled writes to SQLite.

    It also stops the worker (``JobCancelled``) when the job's state was changed from outside,
    e.g. a worker orphaned by a killed server whose job was marked interrupted at restart.
    A progress write the database refuses is skipped (logged): the job goes on.
    """

    def __init__(self, store: Store, job_id: str) -> None:
        self.store, self.job_id = store, job_id
        self._last_write, self._last_step = 0.0, None

    def __call__(self, step: str, fraction: float) -> None:
        now = time.monotonic()
        if step == self._last_step and now - self._last_write < _PROGRESS_EVERY_S:
            return
        fraction = min(max(float(fraction), 0.0), 0.99)
        try:
            moved = self.store.transition(self.job_id, "running", ("running",),
                                          step=str(step)[:200], progress=fraction)
        except StorageError as exc:
            log.warning("job %s: progress not recorded (%s)", self.job_id, exc)
            return
        if not moved:
            raise JobCancelled(self.job_id)
        self._last_write, self._last_step = now, step


def staging_dir(store: Store, job_id: str) -> Path:
    """Where a worker writes a job's results before they become the job's (same disk)."""
    return store.data_dir / "jobs" / f".{job_id}.partial"


def _gone(pid: int) -> bool:
    """Whether process ``pid`` has ended (a zombie counts as ended)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def _die_with_server(server_pid: int) -> None:
    """End this worker within ``_WATCH_S`` of its server's end: a watcher thread checks the
    server; on Linux the kernel also kills it when its parent, the fork server, ends."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux
        pass

    def watch() -> None:
        while not _gone(server_pid):
            time.sleep(_WATCH_S)
        os._exit(1)

    if _gone(server_pid):
        os._exit(1)
    threading.Thread(target=watch, name="server-watch", daemon=True).start()


def _worker_main(target: Callable[[str, str], None], data_dir: str, job_id: str,
                 server_pid: int) -> None:
    """What a worker process runs: the job's target, tied to the life of its server."""
    _die_with_server(server_pid)
    target(data_dir, job_id)


def _record(store: Store, job_id: str, status: str, **fields: Any) -> bool:
    """Move a running job to its final state, retrying while the database fails; True when
    it moved, False when the job was no longer running. A worker that cannot record its
    outcome at all exits with ``EXIT_UNRECORDED`` (its server then fails the job)."""
    deadline = time.monotonic() + _RECORD_FOR_S
    while True:
        try:
            return store.transition(job_id, status, ("running",), **fields)
        except StorageError as exc:
            if time.monotonic() > deadline:
                log.error("job %s: outcome %s not recorded: %s", job_id, status, exc)
                os._exit(EXIT_UNRECORDED)
            time.sleep(1.0)


def work(data_dir: str, job_id: str) -> None:
    """Entry point of a worker process: run one job and record its outcome."""
    from planner.api.tasks import TASKS
    from planner.optimize.highs import silence_banner

    silence_banner()  # before the optimizer's threads log anything
    store = Store(data_dir)
    job = store.get("jobs", job_id)
    progress = ProgressWriter(store, job_id)
    staging = staging_dir(store, job_id)
    try:
        outcome = TASKS[job["kind"]](store, job, progress)
    except JobCancelled:
        remove_tree(staging)
        return
    except PlannerError as exc:
        remove_tree(staging)
        _record(store, job_id, "failed", error=str(exc), finished=time.time())
        return
    except Exception as exc:  # an unexpected failure is reported on the job, not lost
        remove_tree(staging)
        if is_disk_full(exc):
            error = ("The server's disk filled up while this job wrote its results (the partial "
                     "files were removed). Ask the operator to free space, then submit it again.")
        else:
            error = (f"Internal error ({type(exc).__name__}). The inputs may be unusual; "
                     "report it with the job id.")
            log.exception("job %s failed", job_id)
        _record(store, job_id, "failed", finished=time.time(), error=error)
        return
    if staging.exists():
        try:
            progress("saving", 0.99)  # is the job still running?
        except JobCancelled:
            remove_tree(staging)
            return
        final = store.path("jobs", job_id)
        remove_tree(final)
        staging.rename(final)
    if not _record(store, job_id, "done", progress=1.0, step="done", finished=time.time(),
                   **outcome):
        remove_tree(store.path("jobs", job_id))  # interrupted or cancelled meanwhile


def forget_result(store: Store, job_id: str) -> None:
    """Drop a deleted job from the results route's memory of finished jobs."""
    from planner.api.routes.results import _FINISHED

    _FINISHED.pop((store.data_dir, job_id), None)


def _run_time_s(store: Store) -> float:
    """Mean run time of the last 20 finished jobs, seconds (30 without any)."""
    rows = [r for r in store.list("jobs", 20, status="done") if r["started"] and r["finished"]]
    return sum(r["finished"] - r["started"] for r in rows) / len(rows) if rows else 30.0


class JobManager:
    """Queue and worker processes of one server."""

    def __init__(self, store: Store, workers: int = 1,
                 target: Callable[[str, str], None] = work, max_queued: int = 100,
                 retention_s: float | None = None,
                 on_delete: Callable[[Store, str], None] | None = None) -> None:
        self.store, self.workers, self._target = store, workers, target
        self.max_queued, self.retention_s = max_queued, retention_s
        self._on_delete = on_delete or forget_result
        self._queue: deque[str] = deque()
        self._running: dict[str, multiprocessing.Process] = {}
        #: workers that ended, with their exit code, until their end is recorded
        self._ended: dict[str, int] = {}
        self._cond = threading.Condition()
        self._stop = False
        self._next_reconcile = self._next_purge = 0.0
        # workers fork from a clean single-threaded server process, never from this one
        self._ctx = multiprocessing.get_context("forkserver")
        self._ctx.set_forkserver_preload(PRELOAD)
        self._thread = threading.Thread(target=self._supervise, name="job-supervisor",
                                        daemon=True)
        self.restarts = 0

    def start(self) -> None:
        """Start dispatching queued jobs."""
        for stale in (self.store.data_dir / "jobs").glob(".*.partial"):
            remove_tree(stale)  # results of workers of a previous server run
        self._thread.start()

    def submit(self, kind: str, target_id: str, params: dict[str, Any] | None = None) -> dict:
        """Queue a job; returns its row. Raises ``QueueFull`` when ``max_queued`` jobs wait."""
        if kind not in KINDS:
            raise ValueError(f"unknown job kind {kind!r}")
        with self._cond:
            queued = len(self._queue)
        if queued >= self.max_queued:
            runs = math.ceil((queued + 1) / self.workers)
            raise QueueFull(queued, int(min(max(runs * _run_time_s(self.store), 5), 3600)))
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
        for proc in procs.values():
            _stop_process(proc)
        message = "The server shut down while this job was queued or running; submit it again."
        for job_id in [*procs, *queued]:
            try:
                self.store.transition(job_id, "interrupted", ACTIVE, finished=time.time(),
                                      error=message)
            except StorageError as exc:  # the next server marks it interrupted at start
                log.error("job %s not marked interrupted: %s", job_id, exc)

    # --- the dispatcher ------------------------------------------------------------------------

    def _supervise(self) -> None:
        """Run the dispatcher; restart it should it ever die."""
        while True:
            try:
                self._loop()
            except BaseException:
                log.exception("the job dispatcher died; restarting it")
            with self._cond:
                if self._stop:
                    return
            self.restarts += 1
            time.sleep(_BACKOFF_S[0])

    def _loop(self) -> None:
        backoff = _BACKOFF_S[0]
        while True:
            with self._cond:
                if self._stop:
                    return
                try:
                    self._step()
                    backoff = _BACKOFF_S[0]
                    wait = _POLL_S
                except Exception:
                    log.exception("job dispatcher step failed; retrying in %.1f s", backoff)
                    wait, backoff = backoff, min(backoff * 2, _BACKOFF_S[1])
                self._cond.wait(timeout=wait)
            now = time.monotonic()
            if self.retention_s is not None and now >= self._next_purge:
                self._next_purge = now + _PURGE_EVERY_S
                try:  # outside the lock: submitting and health checks never wait for it
                    self.purge(time.time() - self.retention_s)
                except Exception:
                    log.exception("retention: purge failed; trying again later")

    def _step(self) -> None:
        self._reap()
        while self._queue and len(self._running) < self.workers:
            self._launch(self._queue[0])
            self._queue.popleft()
        now = time.monotonic()
        if now >= self._next_reconcile:
            self._reconcile()
            self._next_reconcile = now + _RECONCILE_EVERY_S

    def _launch(self, job_id: str) -> None:
        if not self.store.transition(job_id, "running", ("queued",), started=time.time(),
                                     step="starting", progress=0.0):
            return
        for attempt in range(_START_ATTEMPTS):
            try:
                proc = self._ctx.Process(target=_worker_main,
                                         args=(self._target, str(self.store.data_dir), job_id,
                                               os.getpid()),
                                         name=f"planner-job-{job_id[:8]}")
                proc.start()  # restarts the fork server if it died
                break
            except Exception as exc:
                if attempt + 1 < _START_ATTEMPTS:
                    log.warning("job %s: worker did not start (%r); retrying", job_id, exc)
                    time.sleep(0.5)
                    continue
                self.store.transition(job_id, "failed", ("running",), finished=time.time(),
                                      error=f"The worker process could not start ({exc}); "
                                            "submit the job again.")
                raise
        self._running[job_id] = proc
        try:
            self.store.update("jobs", job_id, pid=proc.pid)
        except StorageError as exc:  # the pid is for information only
            log.warning("job %s: pid not recorded (%s)", job_id, exc)

    def _reap(self) -> None:
        for job_id, proc in list(self._running.items()):
            if proc.exitcode is None:
                continue
            proc.join()
            del self._running[job_id]
            self._ended[job_id] = proc.exitcode
        for job_id, code in list(self._ended.items()):
            if code == EXIT_UNRECORDED:
                error = ("The job ran but its result could not be recorded (the server's "
                         "storage failed); submit it again.")
            else:
                error = (f"The worker process stopped (exit code {code}) before finishing, e.g. "
                         "out of memory. Submit the job again with a smaller area or fewer "
                         "categories.")
            if self.store.transition(job_id, "failed", ("running",), finished=time.time(),
                                     error=error):
                remove_tree(staging_dir(self.store, job_id))
            del self._ended[job_id]  # recorded, or the worker had recorded its own end

    def _reconcile(self) -> None:
        """Fail active jobs that the dispatcher neither queues nor runs (lost to a fault)."""
        known = {*self._queue, *self._running, *self._ended}
        lost = set(self.store.ids("jobs", f"status IN {ACTIVE!r} AND created < ?",
                                  (time.time() - _LOST_AFTER_S,))) - known
        for job_id in lost:
            log.error("job %s was lost by the dispatcher; marking it failed", job_id)
            self.store.transition(job_id, "failed", ACTIVE, finished=time.time(),
                                  error="The job was lost after a storage fault on the server; "
                                        "submit it again (its inputs are kept).")

    # --- deleting ------------------------------------------------------------------------------

    def delete_job(self, job_id: str) -> None:
        """Remove a finished job and its results."""
        self.store.delete("jobs", job_id)
        remove_tree(staging_dir(self.store, job_id))
        self._on_delete(self.store, job_id)

    def purge(self, before: float) -> dict[str, int]:
        """Delete finished jobs (not the build jobs of networks) and uploads created before
        ``before`` (a Unix time), and, while no job runs, cache entries last written before
        it (a later job rebuilds them); returns how many of each."""
        jobs = self.store.ids(
            "jobs", f"status IN {FINAL!r} AND kind != 'network' AND created < ?", (before,))
        for job_id in jobs:
            self.delete_job(job_id)
        uploads = self.store.ids("uploads", "created < ?", (before,))
        for upload_id in uploads:
            self.store.delete("uploads", upload_id)
        cached = []
        with self._cond:  # no job starts meanwhile
            if not self._running:
                cached = [p for p in (self.store.data_dir / "cache").glob("*")
                          if p.stat().st_mtime < before]
                for entry in cached:
                    remove_tree(entry) if entry.is_dir() else entry.unlink(missing_ok=True)
        if jobs or uploads or cached:
            log.info("retention: deleted %d job(s), %d upload(s), %d cache entries",
                     len(jobs), len(uploads), len(cached))
        return {"jobs": len(jobs), "uploads": len(uploads), "cache": len(cached)}


def _stop_process(proc: multiprocessing.Process, grace_s: float = 3.0) -> None:
    proc.terminate()
    proc.join(grace_s)
    if proc.exitcode is None:
        proc.kill()
        proc.join(grace_s)
