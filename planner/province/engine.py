"""Running the units: on a Dask distributed cluster (a local one by default, or a running
scheduler), or one after another in this process. Each unit is retried once; a unit that still
fails is recorded with its error while the others go on."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence

from planner.errors import InputError
from planner.province.plan import UnitTask
from planner.province.unit_run import UnitOutcome, error_text, finished, record, run_unit

#: Called with (units finished, units in all, the outcome just in).
Progress = Callable[[int, int, UnitOutcome], None]


def _failed(task: UnitTask, exc: BaseException, attempts: int) -> UnitOutcome:
    outcome = UnitOutcome(task.code, task.name, "failed", error=error_text(exc),
                          attempts=attempts)
    record(task, outcome)
    return outcome


def run_serial(tasks: Sequence[UnitTask], progress: Progress | None = None) -> list[UnitOutcome]:
    """Every unit in this process, in order (each tried twice at most)."""
    outcomes = []
    for task in tasks:
        for attempt in (1, 2):
            try:
                outcome = run_unit(task)
                outcome.attempts = attempt
                break
            except Exception as exc:  # noqa: BLE001 — any failure of one unit is recorded
                if attempt == 2:
                    outcome = _failed(task, exc, attempt)
        outcomes.append(outcome)
        if progress:
            progress(len(outcomes), len(tasks), outcome)
    return outcomes


def local_cluster(workers: int | None = None, memory_limit: str = "auto"):
    """A Dask LocalCluster of single-threaded worker processes (default one per core)."""
    from distributed import LocalCluster

    n = workers or os.cpu_count() or 1
    return LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                        dashboard_address=None, memory_limit=memory_limit,
                        silence_logs=logging.CRITICAL)  # failures are reported per unit


def connect(scheduler: str | None = None, workers: int | None = None):
    """A Dask client: to ``scheduler`` (e.g. ``tcp://host:8786``), else to a new local
    cluster. The caller closes it (and its cluster)."""
    from distributed import Client

    if scheduler is None:
        return Client(local_cluster(workers))
    try:
        return Client(scheduler, timeout="5s")
    except (OSError, TimeoutError) as exc:
        raise InputError(f"Cannot reach the Dask scheduler at {scheduler}: {exc}. Start it "
                         "(dask scheduler) and its workers, or leave --scheduler out to run "
                         "on this machine.") from exc


def run_dask(tasks: Sequence[UnitTask], client, progress: Progress | None = None
             ) -> list[UnitOutcome]:
    """Every unit on a Dask cluster; units done before with the same inputs are not sent.

    Workers must see the input files and the output folder at the same paths as this
    process (a shared file system on a real cluster)."""
    from distributed import as_completed

    by_key, outcomes = {}, {}
    for task in tasks:
        done = finished(task)
        if done is not None:
            outcomes[task.code] = done
            if progress:
                progress(len(outcomes), len(tasks), done)
            continue
        future = client.submit(run_unit, task, key=f"unit-{task.code}-{task.key}", retries=1,
                               pure=False)
        by_key[future.key] = (future, task)
    for future in as_completed([f for f, _ in by_key.values()]):
        task = by_key[future.key][1]
        if future.status == "error":
            outcome = _failed(task, future.exception(), attempts=2)
        else:
            outcome = future.result()
        outcomes[task.code] = outcome
        future.release()
        if progress:
            progress(len(outcomes), len(tasks), outcome)
    return [outcomes[t.code] for t in tasks]
