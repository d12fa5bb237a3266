"""Faults a server meets over months, injected: storage errors (once, and for a while), a full
disk, a full queue, a dispatcher that dies, workers that cannot start or record their result,
kill -9 of a worker and of the server, a second server on the same data directory, half-open
connections; and deleting what the server holds. Each asserts that nothing is lost or stuck and
that the server stays responsive."""

from __future__ import annotations

import errno
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx
import pytest
from api_support import HELSINKI_POINT, built_data_dir, client, wait_job

import planner.api.jobs
from planner.api.jobs import JobManager, ProgressWriter, QueueFull
from planner.api.store import StorageFull, StorageUnavailable, Store

FULL = "database or disk is full"


# --- job targets run in worker processes (imported by name there) -------------------------------

def sleepy(data_dir: str, job_id: str) -> None:
    """Reports half way, then waits to be stopped."""
    ProgressWriter(Store(data_dir), job_id)("waiting", 0.5)
    time.sleep(60)


def crash_on_flag(data_dir: str, job_id: str) -> None:
    """Runs until the file ``go`` appears in the data directory, then dies (exit code 3)."""
    ProgressWriter(Store(data_dir), job_id)("waiting", 0.5)
    deadline = time.monotonic() + 30
    while not (Path(data_dir) / "go").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    os._exit(3)


def finishing(data_dir: str, job_id: str) -> None:
    """Records its own success, as a real worker does."""
    Store(data_dir).transition(job_id, "done", ("running",), progress=1.0, finished=time.time())


def unrecordable(data_dir: str, job_id: str) -> None:
    """Runs to the end in a database that refuses every write."""

    def broken(self, work):
        raise StorageUnavailable("injected")

    Store._run = broken
    planner.api.jobs._RECORD_FOR_S = 0.3
    planner.api.jobs._record(Store(data_dir), job_id, "done", progress=1.0)


# --- helpers ------------------------------------------------------------------------------------

class Faults:
    """Makes every database operation of this process fail while ``on`` (as a full disk or a
    failing drive would), optionally only for writes, optionally only ``times`` times."""

    def __init__(self, monkeypatch, message: str = "disk I/O error", writes_only: bool = False):
        self.on, self.times, self.hits = False, None, 0
        self.message, self.writes_only = message, writes_only
        real = Store.connect
        faults = self

        @contextmanager
        def connect(store):
            with real(store) as con:
                yield _Faulty(con, faults) if faults.writes_only else faults.check() or con

        monkeypatch.setattr(Store, "connect", connect)

    def check(self, sql: str = "") -> None:
        if self.on and (self.times is None or self.hits < self.times):
            self.hits += 1
            raise sqlite3.OperationalError(self.message)


class _Faulty:
    """A connection whose writing statements fail (reads still work, as on a full disk)."""

    def __init__(self, con: sqlite3.Connection, faults: Faults) -> None:
        self._con, self._faults = con, faults

    def execute(self, sql: str, *args):
        if sql.lstrip().split()[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            self._faults.check(sql)
        return self._con.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self._con, name)


def _wait(pred, timeout_s: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} not reached within {timeout_s} s")


def _status(store: Store, job_id: str) -> str:
    return store.get("jobs", job_id)["status"]


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch):
    """Shorter waits between retries and dispatcher steps in this process (same logic), and a
    fork server that preloads nothing (these workers need nothing; it starts in 0.1 s)."""
    monkeypatch.setattr("planner.api.store._RETRY_WAITS_S", (0.01, 0.02, 0.05))
    monkeypatch.setattr(planner.api.jobs, "PRELOAD", [])
    monkeypatch.setattr(planner.api.jobs, "_BACKOFF_S", (0.05, 0.2))


@pytest.fixture()
def store(tmp_path):
    s = Store(tmp_path)
    s.initialise()
    yield s
    s.close()


@contextmanager
def manager(store: Store, target, **kwargs):
    m = JobManager(store, target=target, **kwargs)
    m.start()
    try:
        yield m
    finally:
        m.shutdown()


# --- storage errors -----------------------------------------------------------------------------

def test_a_storage_error_once_is_retried(store, monkeypatch):
    faults = Faults(monkeypatch)
    faults.on, faults.times = True, 1
    row = store.insert("uploads", {"id": "a" * 32, "filename": "x.csv", "size_bytes": 1,
                                   "created": time.time()})
    assert row["filename"] == "x.csv" and faults.hits == 1


def test_lasting_storage_errors_are_named(store, monkeypatch):
    faults = Faults(monkeypatch)
    faults.on = True
    with pytest.raises(StorageUnavailable, match="nothing was changed"):
        store.get("jobs", "a" * 32)
    faults.message = FULL
    with pytest.raises(StorageFull, match="disk is full.*can still be read"):
        store.update("jobs", "a" * 32, step="x")


@pytest.mark.slow
def test_dispatcher_survives_storage_errors_for_a_while(store, monkeypatch):
    """The fault of the field report: the worker ends while the database fails; once it
    recovers, the job is recorded as failed and the next job runs."""
    faults = Faults(monkeypatch, message=FULL)
    with manager(store, crash_on_flag) as m:
        first = m.submit("coverage", "a" * 32)
        _wait(lambda: store.get("jobs", first["id"])["progress"] == 0.5, what="first job running")
        faults.on = True
        (store.data_dir / "go").touch()
        _wait(lambda: m.running() == 0, what="worker reaped")
        time.sleep(1.5)  # the dispatcher keeps failing against the database meanwhile
        assert faults.hits > 3 and m._thread.is_alive()
        faults.on = False
        _wait(lambda: _status(store, first["id"]) == "failed", 10, "first job recorded")
        assert "exit code 3" in store.get("jobs", first["id"])["error"]
        (store.data_dir / "go").unlink()
        second = m.submit("coverage", "b" * 32)
        _wait(lambda: store.get("jobs", second["id"])["progress"] == 0.5, 20, "second job runs")


@pytest.mark.slow
def test_a_dead_dispatcher_is_restarted(store, monkeypatch):
    class Boom(BaseException):
        pass

    real, calls = JobManager._step, []

    def step_once_dies(self):
        calls.append(1)
        if len(calls) == 2:
            raise Boom
        real(self)

    monkeypatch.setattr(JobManager, "_step", step_once_dies)
    with manager(store, finishing) as m:
        _wait(lambda: m.restarts == 1, 10, "dispatcher restart")
        job = m.submit("coverage", "a" * 32)
        _wait(lambda: _status(store, job["id"]) == "done", 20, "job done after the restart")


@pytest.mark.slow
def test_a_killed_fork_server_is_restarted(store):
    from multiprocessing import forkserver

    with manager(store, finishing) as m:
        first = m.submit("coverage", "a" * 32)
        _wait(lambda: _status(store, first["id"]) == "done", 30, "first job done")
        os.kill(forkserver._forkserver._forkserver_pid, signal.SIGKILL)
        second = m.submit("coverage", "b" * 32)
        _wait(lambda: _status(store, second["id"]) == "done", 30, "job done after the kill")


@pytest.mark.slow
def test_a_worker_that_cannot_start_fails_its_job(store, monkeypatch):
    with manager(store, finishing) as m:
        def no_fork(*args, **kwargs):
            raise OSError(errno.EAGAIN, "Resource temporarily unavailable")

        monkeypatch.setattr(m._ctx, "Process", no_fork)
        job = m.submit("coverage", "a" * 32)
        _wait(lambda: _status(store, job["id"]) == "failed", 10, "job failed")
        assert "could not start" in store.get("jobs", job["id"])["error"]
        monkeypatch.undo()
        second = m.submit("coverage", "b" * 32)
        _wait(lambda: _status(store, second["id"]) == "done", 20, "next job done")


def test_a_job_the_dispatcher_lost_is_failed(store, monkeypatch):
    monkeypatch.setattr(planner.api.jobs, "_LOST_AFTER_S", 0.0)
    monkeypatch.setattr(planner.api.jobs, "_RECONCILE_EVERY_S", 0.2)
    lost = store.insert("jobs", {"id": "c" * 32, "kind": "coverage", "target_id": "a" * 32,
                                 "status": "running", "created": time.time() - 1, "params": {}})
    with manager(store, finishing):
        _wait(lambda: _status(store, lost["id"]) == "failed", 10, "lost job failed")
    assert "storage fault" in store.get("jobs", lost["id"])["error"]


@pytest.mark.slow
def test_a_result_that_cannot_be_recorded_fails_the_job(store):
    with manager(store, unrecordable) as m:
        job = m.submit("coverage", "a" * 32)
        _wait(lambda: _status(store, job["id"]) == "failed", 20, "job failed")
    assert "could not be recorded" in store.get("jobs", job["id"])["error"]


def test_a_progress_write_that_fails_does_not_stop_the_job(store, monkeypatch):
    job = store.insert("jobs", {"id": "c" * 32, "kind": "coverage", "target_id": "a" * 32,
                                "status": "running", "created": time.time(), "params": {}})
    report = ProgressWriter(store, job["id"])
    faults = Faults(monkeypatch)
    faults.on = True
    report("catchments", 0.25)  # skipped, not raised
    faults.on = False
    report("coverage", 0.5)
    assert store.get("jobs", job["id"])["progress"] == 0.5


def _job_row(store: Store, status: str = "running") -> dict:
    return store.insert("jobs", {"id": planner.api.jobs.new_id(), "kind": "coverage",
                                 "target_id": "a" * 32, "status": status,
                                 "created": time.time(), "params": {}})


@pytest.mark.parametrize("fault", ["disk full", "internal", "interrupted"])
def test_a_worker_leaves_no_partial_results(store, monkeypatch, fault):
    """Results are written to a staging directory that becomes the job's only when it is done;
    a full disk, an unexpected error or an interruption leave nothing behind, and no server
    path reaches the job's error."""
    from planner.api import tasks

    job = _job_row(store)

    def task(store_, row, progress):
        staging = planner.api.jobs.staging_dir(store_, row["id"])
        (staging / "tables").mkdir(parents=True)
        (staging / "tables" / "coverage.csv").write_text("a,b\n")
        if fault == "disk full":
            raise OSError(errno.ENOSPC, "No space left on device", str(staging / "map.html"))
        if fault == "internal":
            raise KeyError(str(store_.data_dir / "secret"))
        store_.transition(row["id"], "interrupted", ("running",))  # a restart meanwhile
        return {"summary": {}, "timings": {}, "outputs": {}}

    monkeypatch.setitem(tasks.TASKS, "coverage", task)
    planner.api.jobs.work(str(store.data_dir), job["id"])
    row = store.get("jobs", job["id"])
    assert not store.path("jobs", job["id"]).exists()
    assert not planner.api.jobs.staging_dir(store, job["id"]).exists()
    if fault == "interrupted":
        assert row["status"] == "interrupted"
    else:
        assert row["status"] == "failed" and str(store.data_dir) not in row["error"]
        assert ("disk filled up" in row["error"]) == (fault == "disk full")


def test_a_finished_worker_moves_its_results_into_place(store, monkeypatch):
    from planner.api import tasks

    job = _job_row(store)

    def task(store_, row, progress):
        staging = planner.api.jobs.staging_dir(store_, row["id"])
        staging.mkdir(parents=True)
        (staging / "map.html").write_text("<html></html>")
        return {"summary": {"ok": 1}, "timings": {}, "outputs": {"map": True}}

    monkeypatch.setitem(tasks.TASKS, "coverage", task)
    planner.api.jobs.work(str(store.data_dir), job["id"])
    assert store.get("jobs", job["id"])["status"] == "done"
    assert (store.path("jobs", job["id"]) / "map.html").exists()
    assert not planner.api.jobs.staging_dir(store, job["id"]).exists()


# --- queue limit, retention ---------------------------------------------------------------------

def test_a_full_queue_is_refused_with_a_retry_time(store):
    with manager(store, sleepy, max_queued=2) as m:
        running = m.submit("coverage", "a" * 32)
        _wait(lambda: m.running() == 1, 20, "first job running")
        m.submit("coverage", "b" * 32)
        m.submit("coverage", "c" * 32)
        with pytest.raises(QueueFull, match="queue is full") as info:
            m.submit("coverage", "d" * 32)
        assert 5 <= info.value.retry_after_s <= 3600
        assert store.count_jobs("queued") == 2  # nothing stored for the refused job
        assert m.cancel(running["id"])


def test_retention_deletes_old_finished_jobs_and_uploads(store):
    old, new = time.time() - 10 * 86400, time.time()
    rows = {}
    for name, kind, status, created in [("old_done", "coverage", "done", old),
                                        ("old_net", "network", "done", old),
                                        ("old_queued", "coverage", "queued", old),
                                        ("new_done", "optimize", "done", new)]:
        rows[name] = store.insert("jobs", {"id": planner.api.jobs.new_id(), "kind": kind,
                                           "target_id": "a" * 32, "status": status,
                                           "created": created, "params": {}})["id"]
        (store.path("jobs", rows[name]) / "tables").mkdir(parents=True)
    upload = store.insert("uploads", {"id": "e" * 32, "filename": "a.csv", "size_bytes": 1,
                                      "created": old})
    store.path("uploads", upload["id"]).mkdir()
    stale, fresh = store.data_dir / "cache" / "net-old", store.data_dir / "cache" / "net-new"
    stale.mkdir()
    fresh.mkdir()
    os.utime(stale, (old, old))
    m = JobManager(store, target=finishing, retention_s=7 * 86400)
    assert m.purge(time.time() - m.retention_s) == {"jobs": 1, "uploads": 1, "cache": 1}
    assert not stale.exists() and fresh.exists()
    assert store.get("jobs", rows["old_done"]) is None
    assert not store.path("jobs", rows["old_done"]).exists()
    assert not store.path("uploads", upload["id"]).exists()
    for kept in ("old_net", "old_queued", "new_done"):
        assert store.get("jobs", rows[kept]) is not None


def test_a_server_with_retention_purges_by_itself(tmp_path):
    with client(tmp_path, retention_days=1) as c:
        store = c.app.state.store
        old = store.insert("jobs", {"id": planner.api.jobs.new_id(), "kind": "coverage",
                                    "target_id": "a" * 32, "status": "done",
                                    "created": time.time() - 2 * 86400, "params": {}})
        c.app.state.jobs._next_purge = 0.0
        _wait(lambda: store.get("jobs", old["id"]) is None, 10, "old job purged")
        assert c.get("/v1/health").status_code == 200


# --- over HTTP: disk full, queue full, deleting -------------------------------------------------

@pytest.fixture(scope="module")
def net_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("faults")
    return d, built_data_dir(d)


def _csv() -> bytes:
    lon, lat = HELSINKI_POINT
    return f"名称,经度,纬度\n新幼儿园,{lon},{lat}\n".encode()


def _scenario(c, network_id: str) -> dict:
    up = c.post("/v1/uploads", files={"file": ("k.csv", _csv())}).json()
    r = c.post("/v1/scenarios", json={
        "network_id": network_id,
        "facilities": [{"source": "upload", "upload_id": up["id"], "coords": "wgs84",
                        "lon": "经度", "lat": "纬度", "name_column": "名称",
                        "category": "kindergarten"}],
        "analysis": {"categories": ["kindergarten"], "levels_min": [5]}})
    assert r.status_code == 201, r.text
    return r.json()


def test_a_full_disk_refuses_writes_and_keeps_reads(net_dir, monkeypatch):
    data_dir, network_id = net_dir
    with client(data_dir) as c:
        before = set(os.listdir(data_dir / "uploads"))
        kept = c.post("/v1/uploads", files={"file": ("a.csv", _csv())}).json()

        def half_then_full(src, dest, max_inflated=None):
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(src.read(10))
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr("planner.api.routes.uploads.copy_stream", half_then_full)
        r = c.post("/v1/uploads", files={"file": ("b.csv", _csv())})
        assert r.status_code == 507 and r.json()["error"] == "InsufficientStorage"
        assert "disk is full" in r.json()["detail"] and str(data_dir) not in r.text
        assert set(os.listdir(data_dir / "uploads")) == before | {kept["id"]}  # no partial file
        monkeypatch.undo()

        faults = Faults(monkeypatch, message=FULL, writes_only=True)
        faults.on = True
        r = c.post("/v1/uploads", files={"file": ("c.csv", _csv())})
        assert r.status_code == 507
        assert set(os.listdir(data_dir / "uploads")) == before | {kept["id"]}
        scenarios = set(os.listdir(data_dir / "scenarios"))
        r = c.post("/v1/scenarios", json={"network_id": network_id})
        assert r.status_code == 507, r.text
        assert set(os.listdir(data_dir / "scenarios")) == scenarios
        # reads keep working
        assert c.get("/v1/health").status_code == 200
        assert c.get(f"/v1/uploads/{kept['id']}").json()["filename"] == "a.csv"
        assert c.get(f"/v1/networks/{network_id}").json()["status"] == "ready"
        assert c.get("/v1/jobs").status_code == 200
        faults.on = False
        assert c.post("/v1/uploads", files={"file": ("d.csv", _csv())}).status_code == 201


@pytest.fixture()
def small_disk(tmp_path):
    """A 4 MB filesystem (tmpfs; needs the right to mount, else the test is skipped)."""
    mount = tmp_path / "small"
    mount.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small filesystem here ({r.stderr.strip()})")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_really_full_disk(small_disk):
    """On a filesystem that is really full: writes 507 without partial files, reads work (the
    server keeps the database's WAL files, which a read would otherwise have to recreate)."""
    data_dir = small_disk / "data"
    with client(data_dir) as c:
        kept = c.post("/v1/uploads", files={"file": ("a.csv", _csv())}).json()
        filler = small_disk / "filler"
        with pytest.raises(OSError), filler.open("wb") as fh:
            for _ in range(1000):
                fh.write(b"0" * 65536)
                fh.flush()
        r = c.post("/v1/uploads", files={"file": ("big.csv", _csv() * 5000)})
        assert r.status_code == 507 and "disk is full" in r.json()["detail"], r.text
        assert os.listdir(data_dir / "uploads") == [kept["id"]]
        assert c.get(f"/v1/uploads/{kept['id']}").status_code == 200
        assert c.get("/v1/health").status_code == 200 and c.get("/v1/jobs").status_code == 200
        filler.unlink()
        assert c.post("/v1/uploads", files={"file": ("b.csv", _csv())}).status_code == 201


def test_a_full_queue_answers_429(net_dir):
    data_dir, _ = net_dir
    with client(data_dir) as c:
        c.app.state.jobs.max_queued = 0
        networks = set(os.listdir(data_dir / "networks"))
        r = c.post("/v1/networks", data={"place": "迎泽区, 太原市"})
        assert r.status_code == 429 and r.json()["error"] == "TooManyJobs"
        assert int(r.headers["retry-after"]) >= 5
        assert set(os.listdir(data_dir / "networks")) == networks  # nothing left behind
        assert c.get("/v1/networks").status_code == 200


@pytest.mark.slow
def test_delete_uploads_networks_scenarios_and_jobs(net_dir):
    data_dir, network_id = net_dir
    with client(data_dir) as c:
        up = c.post("/v1/uploads", files={"file": ("a.csv", _csv())}).json()
        assert c.delete(f"/v1/uploads/{up['id']}").status_code == 204
        assert c.get(f"/v1/uploads/{up['id']}").status_code == 404
        assert c.delete(f"/v1/uploads/{up['id']}").status_code == 404
        assert not (data_dir / "uploads" / up["id"]).exists()

        scenario = _scenario(c, network_id)
        job = c.post(f"/v1/scenarios/{scenario['id']}/coverage").json()
        r = c.delete(f"/v1/scenarios/{scenario['id']}")
        assert r.status_code == 409 and job["id"] in r.json()["detail"]
        done = wait_job(c, job["id"], timeout_s=120)
        assert done["status"] == "done", done
        assert c.get(f"/v1/jobs/{job['id']}/result").status_code == 200  # cached in memory
        r = c.delete(f"/v1/networks/{network_id}")
        assert r.status_code == 409 and scenario["id"] in r.json()["detail"]
        assert c.delete(f"/v1/scenarios/{scenario['id']}").status_code == 204
        assert not (data_dir / "scenarios" / scenario["id"]).exists()

        assert c.delete(f"/v1/jobs/{job['id']}").status_code == 204
        assert c.get(f"/v1/jobs/{job['id']}").status_code == 404
        assert c.get(f"/v1/jobs/{job['id']}/result").status_code == 404
        assert not (data_dir / "jobs" / job["id"]).exists()

        net_job = c.get(f"/v1/networks/{network_id}").json()["job_id"]
        assert c.delete(f"/v1/jobs/{net_job}").status_code == 409  # goes with its network


def test_delete_a_network(tmp_path):
    network_id = built_data_dir(tmp_path)
    with client(tmp_path) as c:
        net_job = c.get(f"/v1/networks/{network_id}").json()["job_id"]
        assert c.delete(f"/v1/networks/{network_id}").status_code == 204
        assert c.get(f"/v1/networks/{network_id}").status_code == 404
        assert c.get(f"/v1/jobs/{net_job}").status_code == 404
        assert not (tmp_path / "networks" / network_id).exists()


# --- real servers: a second server, kill -9, half-open connections ------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(data_dir: Path, port: int, **env) -> subprocess.Popen:
    """``planner serve`` in its own process group; its output goes to ``proc.log_path``."""
    log_path = data_dir.parent / f"server-{port}-{time.monotonic_ns()}.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from planner.cli import main; main()", "serve",
             "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir)],
            env={**os.environ, "PLANNER_WORKERS": "1", "COLUMNS": "200", **env}, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True)
    proc.log_path = log_path
    return proc


def _log(proc: subprocess.Popen) -> str:
    return " ".join(proc.log_path.read_text().split())


@contextmanager
def _server(data_dir: Path, **env):
    port = _free_port()
    proc = _start(data_dir, port, **env)
    base = f"http://127.0.0.1:{port}"
    try:
        def up():
            assert proc.poll() is None, _log(proc)
            try:
                return httpx.get(f"{base}/v1/health", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        _wait(up, 60, "server start")
        with httpx.Client(base_url=base, timeout=30) as c:
            yield proc, port, c
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def _pid(data_dir: Path, job_id: str) -> int | None:
    con = sqlite3.connect(f"file:{data_dir / 'planner.sqlite3'}?mode=ro", uri=True)
    try:
        return con.execute("SELECT pid FROM jobs WHERE id=?", (job_id,)).fetchone()[0]
    finally:
        con.close()


def _optimize(c, scenario_id: str) -> dict:
    r = c.post(f"/v1/scenarios/{scenario_id}/optimize",
               json={"categories": ["kindergarten"], "new_sites": 5})
    assert r.status_code == 202, r.text
    return r.json()


def _job(c, job_id: str) -> dict:
    return c.get(f"/v1/jobs/{job_id}").json()


def _running_job(c, job_ids: list[str]) -> str | None:
    return next((j for j in job_ids if _job(c, j)["status"] == "running"), None)


@pytest.mark.slow
def test_one_server_per_data_directory_and_workers_die_with_it(tmp_path):
    data_dir = tmp_path / "data"
    network_id = built_data_dir(data_dir)
    with _server(data_dir, PLANNER_HEADER_TIMEOUT_S="1") as (proc, port, c):
        # half-open connections are closed after the header timeout; the server stays up
        socks = []
        for _ in range(20):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n")
            socks.append(s)
        assert c.get("/v1/health").status_code == 200
        try:
            assert all(s.recv(100) == b"" for s in socks)  # closed by the server, not timed out
        finally:
            for s in socks:
                s.close()

        scenario = _scenario(c, network_id)
        jobs = [_optimize(c, scenario["id"])["id"] for _ in range(4)]  # one runs, three wait
        _wait(lambda: _job(c, jobs[0])["status"] == "running", 60, "first job running")

        # a second server on the same directory, on another port and on the same port
        others = [_start(data_dir, other_port) for other_port in (_free_port(), port)]
        for other in others:
            try:
                assert other.wait(timeout=60) == 2, _log(other)
            finally:
                if other.poll() is None:
                    os.killpg(other.pid, signal.SIGKILL)
                    other.wait(timeout=10)
            out = _log(other)
            assert f"process {proc.pid}" in out and "nothing was changed" in out, out
        states = [_job(c, j)["status"] for j in jobs]
        assert "interrupted" not in states and c.get("/v1/health").status_code == 200, states

        # kill -9 of the server alone: the worker dies with it and writes nothing
        victim = _wait(lambda: _running_job(c, jobs), 30, "a running job")
        worker = _wait(lambda: _pid(data_dir, victim), 10, "worker pid")
        killed_at = time.time()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        _wait(lambda: not _alive(worker), 10, "orphaned worker gone")
        assert time.time() - killed_at < 2.0
    with _server(data_dir) as (_, _port, c):
        job = _job(c, victim)
        if job["status"] == "done":  # it finished just before the server died (within 0.3 s)
            assert job["finished"] < killed_at + 0.3, (job, killed_at)
        else:
            assert job["status"] == "interrupted" and "submit it again" in job["error"]
            assert not (data_dir / "jobs" / victim).exists()
        assert not list((data_dir / "jobs").glob(".*.partial"))
        assert c.get("/v1/health").json()["jobs_running"] == 0

        # kill -9 of a worker: its job fails with the reason; the server goes on
        job = _optimize(c, scenario["id"])["id"]
        _wait(lambda: _job(c, job)["status"] == "running", 60, "job running")
        pid = _wait(lambda: _pid(data_dir, job), 10, "worker pid")
        with suppress(ProcessLookupError):  # unless it just finished
            os.kill(pid, signal.SIGKILL)
        final = _wait(lambda: (j := _job(c, job))["status"] in ("failed", "done") and j,
                      30, "job final")
        assert final["status"] == "done" or "exit code -9" in final["error"], final
        assert c.get("/v1/health").json()["jobs_running"] == 0
