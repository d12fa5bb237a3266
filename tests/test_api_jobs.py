"""Job machinery: worker processes, progress, cancelling, crashes, restarts; and the small
pure pieces (upload names, overall progress, settings) as properties."""

from __future__ import annotations

import os
import string
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.api.jobs import JobCancelled, JobManager, ProgressWriter
from planner.api.settings import Settings
from planner.api.store import Store
from planner.api.tasks import StepProgress
from planner.api.uploads import UPLOAD_SUFFIXES, safe_filename
from planner.errors import InputError


def sleepy(data_dir: str, job_id: str) -> None:
    """A job that reports half way and then waits to be stopped."""
    ProgressWriter(Store(data_dir), job_id)("waiting", 0.5)
    time.sleep(60)


def crashing(data_dir: str, job_id: str) -> None:
    os._exit(3)


def _wait(store: Store, job_id: str, pred, timeout_s: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        row = store.get("jobs", job_id)
        if pred(row):
            return row
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never reached the expected state: {row}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]


@pytest.fixture()
def store(tmp_path):
    s = Store(tmp_path)
    s.initialise()
    return s


def _manager(store: Store, target, workers: int = 1) -> JobManager:
    m = JobManager(store, workers, target=target)
    m.start()
    return m


@pytest.mark.slow
def test_progress_cancel_and_queue(store):
    m = _manager(store, sleepy)
    try:
        first = m.submit("coverage", "a" * 32)
        second = m.submit("coverage", "b" * 32)
        row = _wait(store, first["id"], lambda r: r["progress"] == 0.5)
        assert row["status"] == "running" and row["step"] == "waiting" and row["pid"]
        assert store.get("jobs", second["id"])["status"] == "queued"  # one worker at a time
        assert m.cancel(second["id"])
        assert store.get("jobs", second["id"])["started"] is None
        assert m.cancel(first["id"])
        row = store.get("jobs", first["id"])
        assert row["status"] == "cancelled" and not _alive(row["pid"])
        assert not m.cancel(first["id"])  # already final
        assert m.running() == 0
    finally:
        m.shutdown()


@pytest.mark.slow
def test_a_crashed_worker_fails_its_job(store):
    m = _manager(store, crashing)
    try:
        job = m.submit("optimize", "a" * 32)
        row = _wait(store, job["id"], lambda r: r["status"] != "queued" and r["status"] != "running")
        assert row["status"] == "failed" and "exit code 3" in row["error"]
    finally:
        m.shutdown()


@pytest.mark.slow
def test_restart_marks_active_jobs_interrupted(store):
    m = _manager(store, sleepy)
    try:
        running = m.submit("coverage", "a" * 32)
        queued = m.submit("coverage", "b" * 32)
        _wait(store, running["id"], lambda r: r["progress"] == 0.5)
        store.close()  # the server process ends without shutting down: its lock is released
        assert Store(store.data_dir).initialise() == 2  # the next server on the directory
        for job in (running, queued):
            row = store.get("jobs", job["id"])
            assert row["status"] == "interrupted" and "submit it again" in row["error"]
    finally:
        m.shutdown()
    assert store.get("jobs", running["id"])["status"] == "interrupted"


@pytest.mark.slow
def test_shutdown_interrupts_and_stops_workers(store):
    m = _manager(store, sleepy)
    job = m.submit("coverage", "a" * 32)
    pid = _wait(store, job["id"], lambda r: r["progress"] == 0.5)["pid"]
    m.shutdown()
    assert store.get("jobs", job["id"])["status"] == "interrupted"
    assert not _alive(pid)


def test_an_orphaned_worker_stops_at_its_next_report(store):
    job = store.insert("jobs", {"id": "c" * 32, "kind": "coverage", "target_id": "a" * 32,
                                "status": "running", "created": time.time(), "params": {}})
    report = ProgressWriter(store, job["id"])
    report("catchments", 0.25)
    assert store.get("jobs", job["id"])["progress"] == 0.25
    store.transition(job["id"], "interrupted", ("running",))
    with pytest.raises(JobCancelled):
        report("coverage", 0.5)


def test_settings_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("PLANNER_API_KEY", "s3cr3t-value")
    monkeypatch.setenv("PLANNER_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PLANNER_CORS_ORIGINS", '["https://gis.example.cn"]')
    monkeypatch.setenv("PLANNER_MAX_UPLOAD_MB", "2")
    s = Settings()
    assert s.api_key.get_secret_value() == "s3cr3t-value" and s.data_dir == tmp_path
    assert s.cors_origins == ["https://gis.example.cn"] and s.max_upload_bytes == 2 * 1024 * 1024
    assert "s3cr3t" not in repr(s)


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=string.printable + "幼儿园/\\..", max_size=40),
       st.sampled_from(UPLOAD_SUFFIXES))
def test_upload_names_stay_inside_their_folder(name, suffix):
    folder = Path("/srv/uploads/x")
    try:
        safe = safe_filename(name + suffix, UPLOAD_SUFFIXES)
    except InputError:
        return
    assert "/" not in safe and "\\" not in safe and not safe.startswith(".")
    assert safe.lower().endswith(UPLOAD_SUFFIXES)
    assert (folder / safe).resolve().parent == folder


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["network", "facilities", "population", "catchments",
                                           "coverage", "optimize_1", "export", "mclp"]),
                          st.floats(-1, 2)), max_size=30))
def test_overall_progress_is_monotone_and_bounded(calls):
    seen: list[float] = []
    steps = ["network", "facilities", "population", "catchments", "coverage", "optimize_1",
             "export"]
    progress = StepProgress(lambda step, f: seen.append(f), steps)
    for step, fraction in [*calls, ("export", 1.0)]:
        progress(step, fraction)
    assert all(0.0 <= f <= 1.0 for f in seen)
    assert seen == sorted(seen) and seen[-1] == 1.0


def test_place_download_without_internet_names_the_fix(store, monkeypatch):
    import planner.io.osm
    from planner.api.tasks import build_network

    def offline(place, **kwargs):
        raise ConnectionError("Failed to resolve 'nominatim.openstreetmap.org'")

    monkeypatch.setattr(planner.io.osm, "network_from_osmnx", offline)
    job = {"target_id": "a" * 32, "params": {"file": None, "place": "迎泽区, 太原市", "crs": None}}
    with pytest.raises(InputError, match=r"no internet access\. Upload .*\.osm\.pbf"):
        build_network(store, job, lambda step, fraction: None)


def test_worker_silences_highs_before_its_job_runs(tmp_path, monkeypatch):
    """A worker builds HiGHS's first instance (which prints a banner to stdout) while it has one
    thread, so the banner never interleaves with what the optimizer's threads log."""
    from planner.api import jobs, tasks
    from planner.optimize import highs

    store = Store(tmp_path)
    store.initialise()
    row = store.insert("jobs", {"id": "j1", "kind": "optimize", "target_id": "s1",
                                "status": "running", "created": time.time(), "params": {}})
    seen = []
    monkeypatch.setattr(highs, "_banner_shown", False)
    monkeypatch.setitem(tasks.TASKS, "optimize", lambda *_: seen.append(highs._banner_shown) or {})
    jobs.work(str(tmp_path), row["id"])
    assert seen == [True]
    assert store.get("jobs", "j1")["status"] == "done"
