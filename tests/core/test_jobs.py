"""Tests of the job mechanism (core.jobs): enqueue after commit, the claim/lease actor wrapper,
retries and dead jobs, idempotent delivery, crash recovery, periodic jobs.

Jobs run in worker threads with their own sessions, so these tests work on COMMITTED data: a
module-scoped app of their own (``make_test_app``) on a scratch database beside the test
database, so committed job rows and audit records never leak into the rolled-back tests. Each
test deletes the rows it created. The broker is the one ``BROKER_URL`` selects (in-process
StubBroker when unset, RedisBroker for ``redis://``).
"""
from __future__ import annotations

import os
import threading
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import dramatiq
import pytest
import sqlalchemy as sa
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import Middleware
from sqlmodel import Session, select

from core import jobs
from core.errors import Conflict, NotFound
from core.migrate import upgrade
from core.models import AuditLog, Job, JobStatus, LoginAttempt, OrgKind
from core.permissions import JOB_MANAGE, JOB_READ, Actor
from core.types import utcnow
from tests.conftest import make_test_app
from tests.support import drop_scratch_database, scratch_database
from tests.support import test_database_url as configured_test_database

pytestmark = pytest.mark.committed

POLL_TIMEOUT = 20.0

# --- test-only handlers (registered at import, before the module's app builds its broker) ----

_lock = threading.Lock()
CALLS: dict[str, int] = defaultdict(int)  # token → invocations of a handler
SEEN_ERRORS: dict[str, list[str | None]] = defaultdict(list)  # token → Job.error at each start
FAILING: set[str] = set()  # tokens for which test.always_fails fails


def _bump(token: str) -> int:
    with _lock:
        CALLS[token] += 1
        return CALLS[token]


def _job_of(session: Session, actor: str, token: str) -> Job:
    rows = session.exec(select(Job).where(Job.actor == actor)).all()
    (row,) = [r for r in rows if r.args.get("token") == token]
    return row


@jobs.job("test.echo")
def _echo(session: Session, token: str, value: Any = None) -> dict[str, Any]:
    n = _bump(token)
    return {"token": token, "value": value, "call": n}


@jobs.job("test.flaky")
def _flaky(session: Session, token: str, fail_times: int) -> dict[str, int]:
    """Writes a row, then fails ``fail_times`` times before succeeding."""
    n = _bump(token)
    SEEN_ERRORS[token].append(_job_of(session, "test.flaky", token).error)
    session.add(LoginAttempt(username=token, ip=f"attempt-{n}", at=utcnow()))
    session.flush()
    if n <= fail_times:
        raise RuntimeError(f"flaky failure {n} of {token}")
    return {"calls": n}


@jobs.job("test.always_fails", max_retries=1)
def _always_fails(session: Session, token: str) -> dict[str, int]:
    n = _bump(token)
    if token in FAILING:
        raise RuntimeError(f"always fails ({token}, call {n})")
    return {"calls": n}


@jobs.job("test.slow")
def _slow(session: Session, token: str) -> dict[str, int]:
    n = _bump(token)
    time.sleep(0.3)
    return {"calls": n}


@jobs.job("test.periodic")
def _periodic_job(session: Session) -> None:
    return None


RELEASE: dict[str, threading.Event] = defaultdict(threading.Event)  # token → let compute end


def _phased_load(session: Session, token: str) -> dict[str, Any]:
    session.add(LoginAttempt(username=token, ip="loaded", at=utcnow()))
    session.flush()
    return {"token": token, "n": _bump(token)}


def _phased_compute(loaded: dict[str, Any], write) -> dict[str, Any]:
    token = loaded["token"]
    write(lambda s: s.add(LoginAttempt(username=token, ip="progress", at=utcnow())))
    if not RELEASE[token].wait(POLL_TIMEOUT):
        raise RuntimeError("never released")
    return loaded | {"computed": True}


def _phased_store(session: Session, computed: dict[str, Any], token: str) -> dict[str, Any]:
    session.add(LoginAttempt(username=token, ip="stored", at=utcnow()))
    session.flush()
    return {"n": computed["n"], "computed": computed["computed"]}


jobs.phased_job("test.phased", jobs.Phases(load=_phased_load, compute=_phased_compute,
                                           store=_phased_store))


# --- fixtures ----------------------------------------------------------------------------------

class Recorder(Middleware):
    """Records every message the broker enqueues and every message a worker processes."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.enqueued: list[tuple[str, Any, int | None]] = []
        self.processed: list[tuple[type, str, Any, BaseException | None]] = []

    def after_enqueue(self, broker: dramatiq.Broker, message: Any, delay: int | None) -> None:
        with self.lock:
            self.enqueued.append((message.actor_name, _job_id(message), delay))

    def after_process_message(self, broker: dramatiq.Broker, message: Any, *, result: Any = None,
                              exception: BaseException | None = None) -> None:
        with self.lock:
            self.processed.append((type(broker), message.actor_name, _job_id(message), exception))

    def sent_ids(self, actor: str | None = None) -> list[Any]:
        with self.lock:
            return [j for a, j, _ in self.enqueued if actor is None or a == actor]

    def runs_of(self, job_id: int) -> list[tuple[type, str, Any, BaseException | None]]:
        with self.lock:
            return [p for p in self.processed if p[2] == job_id]


def _job_id(message: Any) -> Any:
    return message.args[0] if message.args else None


@pytest.fixture(scope="module")
def japp(tmp_path_factory):
    url = scratch_database(str(tmp_path_factory.mktemp("jobs")), "jobs")
    upgrade(url)
    app = make_test_app(url, tmp_path_factory)
    broker = app.extensions["yaocai.broker"]
    broker.add_middleware(Recorder())
    yield app
    broker.flush_all()
    if hasattr(broker, "client"):  # Redis: drop what the namespace still holds (heartbeats)
        for key in list(broker.client.scan_iter(match=f"{broker.namespace}:*")):
            broker.client.delete(key)
        broker.client.close()
        broker.client.connection_pool.disconnect()
    app.extensions["yaocai.db"].dispose()
    if configured_test_database():
        drop_scratch_database(url)


@pytest.fixture
def broker(japp) -> dramatiq.Broker:
    return japp.extensions["yaocai.broker"]


@pytest.fixture
def recorder(broker) -> Recorder:
    (rec,) = [m for m in broker.middleware if isinstance(m, Recorder)]
    with rec.lock:  # job ids are reused on SQLite: start every test with a clean record
        rec.enqueued.clear()
        rec.processed.clear()
    return rec


class Tracker:
    """Tokens and job ids a test created, deleted at teardown."""

    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.job_ids: list[int] = []

    def token(self) -> str:
        t = uuid.uuid4().hex
        self.tokens.append(t)
        return t

    def job(self, job_id: int) -> int:
        self.job_ids.append(job_id)
        return job_id


@pytest.fixture
def track(japp, broker, recorder):
    tracker = Tracker()
    yield tracker
    db = japp.extensions["yaocai.db"]
    with db.unit_of_work() as s:
        if tracker.job_ids:
            s.execute(sa.delete(Job).where(Job.id.in_(tracker.job_ids)))
        if tracker.tokens:
            s.execute(sa.delete(LoginAttempt).where(LoginAttempt.username.in_(tracker.tokens)))
    # Messages left behind (jobs enqueued but never run) must not reach the next test.
    broker.flush_all()
    for t in tracker.tokens:
        CALLS.pop(t, None)
        SEEN_ERRORS.pop(t, None)
        FAILING.discard(t)


@pytest.fixture
def start_worker(broker, track):
    """Start a Dramatiq worker on the app's broker; every one is stopped at teardown
    (before ``track`` deletes the rows)."""
    started: list[dramatiq.Worker] = []

    def start(threads: int = 1) -> dramatiq.Worker:
        w = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=100)
        w.start()
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop()
    # A worker adds a middleware to the broker for its consumers; drop the stopped ones'.
    broker.middleware[:] = [m for m in broker.middleware
                            if type(m).__name__ != "_WorkerMiddleware"
                            or m.worker not in started]


def wait_for(app, job_id: int, *statuses: JobStatus, timeout: float = POLL_TIMEOUT) -> Job:
    db = app.extensions["yaocai.db"]
    deadline = time.monotonic() + timeout
    while True:
        with db.unit_of_work() as s:
            row = s.get(Job, job_id)
        assert row is not None, f"job {job_id} vanished"
        if row.status in statuses:
            return row
        if time.monotonic() > deadline:
            pytest.fail(f"job {job_id} still {row.status.value} (attempts {row.attempts}) "
                        f"after {timeout}s; error: {row.error}")
        time.sleep(0.05)


def wait_until(predicate, timeout: float = POLL_TIMEOUT, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def enqueue_committed(app, name: str, args: dict[str, Any] | None = None, **kw) -> int:
    db = app.extensions["yaocai.db"]
    with app.app_context(), db.unit_of_work() as s:
        row = jobs.enqueue(s, name, args=args, **kw)
        return row.id


def insert_job(app, name: str, args: dict[str, Any], **fields) -> int:
    """A job row written directly (no message sent), as a crash would leave it."""
    db = app.extensions["yaocai.db"]
    with db.unit_of_work() as s:
        row = Job(actor=name, args=args, max_attempts=4, **fields)
        s.add(row)
        s.flush()
        return row.id


def load(app, job_id: int) -> Job | None:
    with app.extensions["yaocai.db"].unit_of_work() as s:
        return s.get(Job, job_id)


def expected_broker_class() -> type:
    url = os.environ.get("BROKER_URL", "")
    if url.startswith(("redis://", "rediss://")):
        from dramatiq.brokers.redis import RedisBroker
        return RedisBroker
    assert not url, f"these tests know StubBroker and RedisBroker, not {url!r}"
    return StubBroker


def bureau_admin() -> Actor:
    return Actor(org_id=None, org_kind=OrgKind.bureau, name="bureau admin",
                 roles=frozenset({"org_admin"}), permissions=frozenset({JOB_READ, JOB_MANAGE}))


# --- running a job ---------------------------------------------------------------------------

def _marks(app, token: str) -> list[str]:
    with app.extensions["yaocai.db"].unit_of_work() as s:
        return sorted(s.exec(select(LoginAttempt.ip).where(LoginAttempt.username == token)))


def test_a_phased_job_holds_no_transaction_while_it_computes(japp, track, start_worker):
    start_worker()
    token = track.token()
    job_id = track.job(enqueue_committed(japp, "test.phased", {"token": token}))
    # While compute waits: the load and the progress are committed and visible, and another
    # writer gets through at once (on SQLite an open job transaction would hold the lock).
    wait_until(lambda: _marks(japp, token) == ["loaded", "progress"], what="progress")
    db = japp.extensions["yaocai.db"]
    began = time.monotonic()
    with db.unit_of_work() as s:
        s.add(LoginAttempt(username=token, ip="other writer", at=utcnow()))
    assert time.monotonic() - began < 2.0
    assert load(japp, job_id).status == JobStatus.running
    RELEASE[token].set()
    row = wait_for(japp, job_id, JobStatus.succeeded, JobStatus.dead)
    assert row.status == JobStatus.succeeded and row.result == {"n": 1, "computed": True}
    assert _marks(japp, token) == ["loaded", "other writer", "progress", "stored"]
    RELEASE.pop(token, None)


def test_committed_job_runs_on_the_apps_broker(japp, broker, recorder, track, start_worker):
    assert type(broker) is expected_broker_class()
    start_worker()
    token = track.token()

    job_id = track.job(enqueue_committed(japp, "test.echo", {"token": token, "value": "药采"}))

    row = wait_for(japp, job_id, JobStatus.succeeded, JobStatus.dead)
    assert row.status == JobStatus.succeeded
    assert row.result == {"token": token, "value": "药采", "call": 1}
    assert row.attempts == 1
    assert row.error is None
    assert row.lease_until is None
    assert row.started_at is not None and row.finished_at is not None
    assert CALLS[token] == 1
    # The message went through this app's broker, of the class BROKER_URL selects.
    assert recorder.sent_ids("test.echo").count(job_id) >= 1
    runs = recorder.runs_of(job_id)
    assert runs and {r[0] for r in runs} == {expected_broker_class()}
    assert all(r[3] is None for r in runs)


def test_enqueue_in_a_rolled_back_unit_of_work_sends_nothing(japp, broker, recorder, track,
                                                            start_worker):
    db = japp.extensions["yaocai.db"]
    token = track.token()
    sent_before = len(recorder.sent_ids())
    sizes_before = ({q: broker.queues[q].qsize() for q in broker.queues}
                    if isinstance(broker, StubBroker) else None)

    class Boom(Exception):
        pass

    with pytest.raises(Boom), japp.app_context(), db.unit_of_work() as s:
        row = jobs.enqueue(s, "test.echo", args={"token": token})
        job_id = row.id
        assert job_id is not None  # the row existed inside the transaction
        raise Boom

    with db.unit_of_work() as s:
        assert s.get(Job, job_id) is None
        assert not [r for r in s.exec(select(Job).where(Job.actor == "test.echo")).all()
                    if r.args.get("token") == token]
    assert len(recorder.sent_ids()) == sent_before
    if sizes_before is not None:
        assert {q: broker.queues[q].qsize() for q in broker.queues} == sizes_before

    # With a worker running, nothing runs either.
    start_worker()
    time.sleep(1.0)
    assert CALLS[token] == 0
    assert recorder.runs_of(job_id) == []
    assert job_id not in recorder.sent_ids()


# --- retries, dead jobs, requeue -------------------------------------------------------------

def test_failing_job_is_retried_until_it_succeeds(japp, recorder, track, start_worker):
    start_worker()
    token = track.token()

    job_id = track.job(enqueue_committed(japp, "test.flaky", {"token": token, "fail_times": 2}))

    row = wait_for(japp, job_id, JobStatus.succeeded, JobStatus.dead)
    assert row.status == JobStatus.succeeded
    assert row.attempts == 3
    assert row.result == {"calls": 3}
    assert row.error is None
    assert CALLS[token] == 3
    # Each retry started with the previous attempt's error recorded on the row.
    first, second, third = SEEN_ERRORS[token]
    assert first is None
    assert "RuntimeError: flaky failure 1" in second
    assert "RuntimeError: flaky failure 2" in third
    # A failed attempt's writes were rolled back with it; the successful one's were kept.
    with japp.extensions["yaocai.db"].unit_of_work() as s:
        ips = s.exec(select(LoginAttempt.ip).where(LoginAttempt.username == token)).all()
    assert ips == ["attempt-3"]
    assert [r[3] is not None for r in recorder.runs_of(job_id)] == [True, True, False]


def test_always_failing_job_ends_dead_and_can_be_requeued(japp, recorder, track, start_worker):
    db = japp.extensions["yaocai.db"]
    start_worker()
    token = track.token()
    FAILING.add(token)

    job_id = track.job(enqueue_committed(japp, "test.always_fails", {"token": token}))

    row = wait_for(japp, job_id, JobStatus.dead, JobStatus.succeeded)
    assert row.status == JobStatus.dead
    assert row.max_attempts == 2  # max_retries=1
    assert row.attempts == 2
    assert row.error.startswith("Traceback (most recent call last):")
    assert f"RuntimeError: always fails ({token}, call 2)" in row.error
    assert row.finished_at is not None and row.lease_until is None
    time.sleep(0.3)  # no further attempt after the last one
    assert CALLS[token] == 2
    assert load(japp, job_id).status == JobStatus.dead

    # Only a dead job can be requeued; a company cannot even see the bureau's job.
    company = Actor(org_id=987654, org_kind=OrgKind.enterprise, name="company",
                    permissions=frozenset({JOB_MANAGE}))
    with japp.app_context(), db.unit_of_work() as s, pytest.raises(NotFound):
        jobs.requeue_job(s, company, job_id)

    # The bureau admin requeues it: it runs again (and, still failing, dies again).
    with japp.app_context(), db.unit_of_work() as s:
        requeued = jobs.requeue_job(s, bureau_admin(), job_id)
        assert requeued.status == JobStatus.queued and requeued.attempts == 0
    row = wait_for(japp, job_id, JobStatus.dead, JobStatus.succeeded)
    assert row.status == JobStatus.dead and row.attempts == 2
    assert CALLS[token] == 4

    # Fixed; the system actor requeues it and it succeeds.
    FAILING.discard(token)
    with japp.app_context(), db.unit_of_work() as s:
        jobs.requeue_job(s, Actor.system_actor("test"), job_id)
    row = wait_for(japp, job_id, JobStatus.succeeded, JobStatus.dead)
    assert row.status == JobStatus.succeeded
    assert row.attempts == 1
    assert row.result == {"calls": 5}
    assert row.error is None

    with japp.app_context(), db.unit_of_work() as s, pytest.raises(Conflict):
        jobs.requeue_job(s, bureau_admin(), job_id)
    with db.unit_of_work() as s:
        records = s.exec(select(AuditLog).where(AuditLog.action == "job.requeue",
                                                AuditLog.object_id == str(job_id))).all()
    assert [r.actor_name for r in records][-2:] == ["bureau admin", "test"]


# --- idempotent delivery ---------------------------------------------------------------------

def test_duplicate_deliveries_run_the_handler_once(japp, broker, recorder, track, start_worker):
    token = track.token()
    job_id = track.job(enqueue_committed(japp, "test.slow", {"token": token}))
    actor = broker.get_actor("test.slow")
    actor.send(job_id)
    actor.send(job_id)

    # Two threads, so deliveries overlap the first run (the lease turns them away) and
    # follow it (the finished status turns them away).
    start_worker(threads=2)
    row = wait_for(japp, job_id, JobStatus.succeeded, JobStatus.dead)
    wait_until(lambda: len(recorder.runs_of(job_id)) >= 3, what="all three deliveries")
    time.sleep(0.2)
    # A redelivery after the job finished.
    delivered = len(recorder.runs_of(job_id))
    actor.send(job_id)
    wait_until(lambda: len(recorder.runs_of(job_id)) > delivered, what="the late delivery")
    assert row.status == JobStatus.succeeded
    assert CALLS[token] == 1
    assert load(japp, job_id).attempts == 1
    assert row.result == {"calls": 1}


def test_a_late_delivery_of_a_deleted_job_returns_quietly(japp, broker, recorder, track,
                                                          start_worker):
    start_worker()
    broker.get_actor("test.echo").send(2_000_000_000)
    wait_until(lambda: recorder.runs_of(2_000_000_000), what="the delivery")
    assert recorder.runs_of(2_000_000_000)[-1][3] is None  # no exception, so no retry


def test_a_message_runs_only_a_job_of_its_own_actor(japp, track, start_worker):
    """A job enqueued in a savepoint that is rolled back still has its message sent when the
    outer transaction commits (core.db's after_commit keeps it), and on SQLite its id is
    reused by the next job. Such a message must not run another actor's job."""
    db = japp.extensions["yaocai.db"]
    t_gone, t_kept = track.token(), track.token()

    class Undo(Exception):
        pass

    with japp.app_context(), db.unit_of_work() as s:
        with pytest.raises(Undo), s.begin_nested():
            gone = jobs.enqueue(s, "test.echo", args={"token": t_gone}).id
            raise Undo
        kept = track.job(jobs.enqueue(s, "test.slow", args={"token": t_kept}).id)

    start_worker()  # one thread: a stray message, sent first, is processed first
    row = wait_for(japp, kept, JobStatus.succeeded, JobStatus.dead)
    time.sleep(0.2)
    assert row.status == JobStatus.succeeded
    assert row.result == {"calls": 1}  # test.slow's handler, not test.echo's
    assert row.attempts == 1
    assert CALLS[t_kept] == 1 and CALLS[t_gone] == 0
    if db.dialect == "sqlite":
        assert kept == gone  # the id was reused: the stray message named this job


# --- crash recovery --------------------------------------------------------------------------

def test_requeue_stale_sends_again_what_a_crash_left(japp, recorder, track, start_worker):
    start_worker()
    now = utcnow()
    t_running, t_queued, t_live, t_fresh = (track.token() for _ in range(4))
    running = track.job(insert_job(japp, "test.echo", {"token": t_running},
                                   status=JobStatus.running, attempts=1,
                                   started_at=now - timedelta(minutes=40),
                                   lease_until=now - timedelta(minutes=10)))
    queued = track.job(insert_job(japp, "test.echo", {"token": t_queued},
                                  created_at=now - timedelta(minutes=10)))
    live = track.job(insert_job(japp, "test.echo", {"token": t_live},
                                status=JobStatus.running, attempts=1, started_at=now,
                                lease_until=now + timedelta(minutes=30)))
    fresh = track.job(insert_job(japp, "test.echo", {"token": t_fresh}))

    assert jobs.requeue_stale(japp) >= 2

    sent = recorder.sent_ids("test.echo")
    assert running in sent and queued in sent
    assert live not in sent and fresh not in sent  # running elsewhere / just enqueued
    row = wait_for(japp, running, JobStatus.succeeded, JobStatus.dead)
    assert row.status == JobStatus.succeeded and row.attempts == 2
    row = wait_for(japp, queued, JobStatus.succeeded, JobStatus.dead)
    assert row.status == JobStatus.succeeded and row.attempts == 1
    assert CALLS[t_running] == CALLS[t_queued] == 1
    assert load(japp, live).status == JobStatus.running
    assert load(japp, fresh).status == JobStatus.queued


def test_worker_start_recovers_unfinished_jobs(japp, broker, recorder, track, start_worker):
    now = utcnow()
    t_expired, t_unsent, t_cut = (track.token() for _ in range(3))
    expired = track.job(insert_job(japp, "test.echo", {"token": t_expired},
                                   status=JobStatus.running, attempts=1,
                                   started_at=now - timedelta(minutes=40),
                                   lease_until=now - timedelta(minutes=10)))
    unsent = track.job(insert_job(japp, "test.echo", {"token": t_unsent}))
    # Running under a live lease: in the embedded mode this process is the only worker, so
    # the previous process's crash cut it off; with a real broker another worker may hold it.
    cut = track.job(insert_job(japp, "test.echo", {"token": t_cut},
                               status=JobStatus.running, attempts=1, started_at=now,
                               lease_until=now + timedelta(minutes=30)))

    start_worker()

    for job_id, token in ((expired, t_expired), (unsent, t_unsent)):
        row = wait_for(japp, job_id, JobStatus.succeeded, JobStatus.dead)
        assert row.status == JobStatus.succeeded
        assert CALLS[token] == 1
    if isinstance(broker, StubBroker):
        row = wait_for(japp, cut, JobStatus.succeeded, JobStatus.dead)
        assert row.status == JobStatus.succeeded and row.attempts == 2
        assert CALLS[t_cut] == 1
    else:
        time.sleep(0.3)
        assert cut not in recorder.sent_ids()
        assert load(japp, cut).status == JobStatus.running
        assert CALLS[t_cut] == 0


# --- periodic jobs ---------------------------------------------------------------------------

def test_fire_periodic_enqueues_once_per_minute(japp, track):
    tick = datetime(2026, 3, 1, 8, 30, 5, tzinfo=UTC)
    first = jobs.fire_periodic(japp, "test.periodic", tick)
    track.job(first.id)
    again = jobs.fire_periodic(japp, "test.periodic", tick.replace(second=50))
    later = jobs.fire_periodic(japp, "test.periodic", tick + timedelta(minutes=1))
    track.job(later.id)

    assert again.id == first.id
    assert later.id != first.id
    assert first.dedupe_key == "test.periodic@2026-03-01T08:30Z"
    assert later.dedupe_key == "test.periodic@2026-03-01T08:31Z"
    with japp.extensions["yaocai.db"].unit_of_work() as s:
        rows = s.exec(select(Job).where(Job.actor == "test.periodic")).all()
    assert sorted(r.id for r in rows) == sorted([first.id, later.id])
    assert all(r.status == JobStatus.queued for r in rows)


def test_scheduler_registers_the_kernels_periodic_jobs(japp, track, start_worker):
    sched = jobs.make_scheduler(japp, background=True)
    scheduled = {j.id: j for j in sched.get_jobs()}
    assert {"core.prune_login_attempts", "core.requeue_stale_jobs"} <= set(scheduled)
    assert set(scheduled) == set(jobs.periodic_jobs())
    shanghai = ZoneInfo("Asia/Shanghai")

    prune = scheduled["core.prune_login_attempts"]
    assert str(prune.trigger.timezone) == "Asia/Shanghai"
    assert str(prune.trigger) == ("cron[month='*', day='*', day_of_week='*', hour='3', "
                                  "minute='15']")
    # 03:15 in Shanghai is 19:15 UTC the day before.
    nxt = prune.trigger.get_next_fire_time(None, datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    assert nxt == datetime(2026, 3, 2, 3, 15, tzinfo=shanghai)
    assert nxt.astimezone(UTC) == datetime(2026, 3, 1, 19, 15, tzinfo=UTC)

    sweep = scheduled["core.requeue_stale_jobs"]
    assert str(sweep.trigger.timezone) == "Asia/Shanghai"
    assert str(sweep.trigger) == ("cron[month='*', day='*', day_of_week='*', hour='*', "
                                  "minute='*/5']")
    nxt = sweep.trigger.get_next_fire_time(None, datetime(2026, 3, 1, 12, 1, tzinfo=UTC))
    assert nxt.astimezone(UTC) == datetime(2026, 3, 1, 12, 5, tzinfo=UTC)

    # What a tick calls enqueues the job, which runs on a worker.
    assert prune.func is jobs.fire_periodic
    assert prune.args == (japp, "core.prune_login_attempts")
    start_worker()
    fired = prune.func(*prune.args, **prune.kwargs)
    track.job(fired.id)
    row = wait_for(japp, fired.id, JobStatus.succeeded, JobStatus.dead)
    assert row.status == JobStatus.succeeded
    assert set(row.result) == {"deleted"}

    # The sweep runs as a job too. It reads through the job's own transaction: on SQLite a
    # second transaction from the same thread would wait on the first and fail locked.
    fired = sweep.func(*sweep.args, **sweep.kwargs)
    track.job(fired.id)
    started = time.monotonic()
    row = wait_for(japp, fired.id, JobStatus.succeeded, JobStatus.dead)
    assert row.status == JobStatus.succeeded, row.error
    assert set(row.result) == {"requeued"}
    assert time.monotonic() - started < 10

    # It can also start and stop.
    sched.start(paused=True)
    sched.shutdown(wait=False)


def test_prune_login_attempts_keeps_a_day(session):
    name = uuid.uuid4().hex
    now = utcnow()
    session.add_all([
        LoginAttempt(username=name, ip="old", at=now - timedelta(days=1, minutes=1)),
        LoginAttempt(username=name, ip="older", at=now - timedelta(days=30)),
        LoginAttempt(username=name, ip="recent", at=now - timedelta(hours=23)),
        LoginAttempt(username=name, ip="now", at=now),
    ])
    session.flush()
    stale = session.execute(sa.select(sa.func.count()).select_from(LoginAttempt).where(
        LoginAttempt.at < now - timedelta(days=1))).scalar_one()

    result = jobs.prune_login_attempts(session)

    assert stale >= 2
    assert result == {"deleted": stale}
    kept = session.exec(select(LoginAttempt.ip).where(LoginAttempt.username == name)).all()
    assert sorted(kept) == ["now", "recent"]
