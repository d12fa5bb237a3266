"""Run a benchmark case in fresh processes, so each case's peak memory is its own."""

from __future__ import annotations

import multiprocessing as mp
import resource
from collections.abc import Callable


def _child(func: Callable[[object], dict], arg: object, queue) -> None:
    result = func(arg)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put(result)


def measure(func: Callable[[object], dict], arg: object, repeat: int) -> dict:
    """Best time (``func``'s own ``seconds``) of ``repeat`` fresh-process runs of
    ``func(arg)``, with the largest peak RSS (MB, imports included)."""
    ctx = mp.get_context("spawn")
    runs = []
    for _ in range(repeat):
        queue = ctx.Queue()
        proc = ctx.Process(target=_child, args=(func, arg, queue))
        proc.start()
        runs.append(queue.get())
        proc.join()
    best = min(runs, key=lambda r: r["seconds"])
    best["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs)
    return best


def run_metadata(args, load_before: tuple[float, float, float], **extra: object) -> dict:
    """What a benchmark's JSON records about its run: CPUs, load before and after, Python,
    commit and arguments, plus ``extra``."""
    import os
    import platform
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    return {
        "cpus": len(os.sched_getaffinity(0)),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "python": platform.python_version(),
        "commit": subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True
        ).stdout.strip(),
        "args": {k: str(v) for k, v in vars(args).items()},
        **extra,
    }
