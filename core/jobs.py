"""Background jobs on Dramatiq, with every run recorded in the ``job`` table.

- ``BROKER_URL`` unset → an in-process StubBroker and worker threads inside the web process
  (the embedded default); ``redis://…`` → RedisBroker; ``amqp://…`` → RabbitmqBroker.
- Handlers are registered with ``@job`` and declared as actors on the broker built by
  ``create_app`` (nothing is bound at import time). A message carries the job id only.
- ``enqueue`` writes the job row in the caller's transaction and sends the message only after
  that transaction commits; on rollback nothing is sent and no row remains.
- The actor wrapper claims the row (a lease, so two deliveries never run at once), pushes the
  app context, runs the handler in its own transaction together with storing the result, and
  on failure records the error and raises so Dramatiq retries; the last failure marks the
  job ``dead`` for the bureau admin to requeue.
- Jobs left unfinished by a crash are sent again when a worker boots, and every few minutes
  by the ``core.requeue_stale_jobs`` periodic job.
- Periodic jobs (``@periodic``) are fired by an APScheduler scheduler — a thread in the web
  process in the embedded mode, ``flask jobs scheduler`` in production — which enqueues with
  a per-tick dedupe key, so several schedulers never double a run.
"""
from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import dramatiq
import sqlalchemy as sa
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import Middleware
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from core.audit import normalise
from core.db import after_commit
from core.errors import Conflict
from core.models import Job, JobStatus
from core.permissions import Actor
from core.types import utcnow

log = logging.getLogger("yaocai.jobs")

DEFAULT_LEASE = timedelta(minutes=30)
SCHEDULER_TZ = "Asia/Shanghai"


@dataclass(frozen=True)
class Phases:
    """A long job in three steps, so no transaction stays open while it computes.

    ``load(session, **args)`` reads its input in a first transaction (and may mark its own
    row as started); ``compute(loaded, write)`` runs with no transaction open and may call
    ``write(fn)`` to run ``fn(session)`` in a short transaction of its own (progress shown while
    it runs); ``store(session, computed, **args)`` saves the outcome in the transaction that
    also records the job's success. On SQLite a transaction holds the database's write lock,
    so a solve of minutes inside one would stop every other writer for that long.
    """

    load: Callable[..., Any]
    compute: Callable[[Any, Callable[[Callable[[Session], None]], None]], Any]
    store: Callable[..., Any]


@dataclass(frozen=True)
class JobSpec:
    name: str
    fn: Callable[..., Any] | None
    queue: str = "default"
    max_retries: int | None = None  # None: the configured default
    lease: timedelta = DEFAULT_LEASE
    phases: Phases | None = None


@dataclass(frozen=True)
class PeriodicSpec:
    job_name: str
    cron: str  # crontab syntax, in Asia/Shanghai time


_JOBS: dict[str, JobSpec] = {}
_PERIODIC: dict[str, PeriodicSpec] = {}


def job(name: str, *, queue: str = "default", max_retries: int | None = None,
        lease: timedelta = DEFAULT_LEASE) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``fn(session, **args) -> dict | None`` as the handler of job ``name``.

    The handler must be idempotent: it may run again after a crash or a redelivery.
    """
    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        if name in _JOBS and _JOBS[name].fn is not fn:
            raise ValueError(f"job {name!r} registered twice")
        _JOBS[name] = JobSpec(name, fn, queue, max_retries, lease)
        return fn
    return register


def phased_job(name: str, phases: Phases, *, queue: str = "default",
               max_retries: int | None = None, lease: timedelta = DEFAULT_LEASE) -> Phases:
    """Register a job run in :class:`Phases`; each phase must be idempotent like a handler."""
    if name in _JOBS and _JOBS[name].phases is not phases:
        raise ValueError(f"job {name!r} registered twice")
    _JOBS[name] = JobSpec(name, None, queue, max_retries, lease, phases)
    return phases


def periodic(job_name: str, cron: str) -> None:
    """Run the (argument-less) job ``job_name`` on a crontab schedule."""
    _PERIODIC[job_name] = PeriodicSpec(job_name, cron)


def registered_jobs() -> dict[str, JobSpec]:
    return dict(_JOBS)


def periodic_jobs() -> dict[str, PeriodicSpec]:
    return dict(_PERIODIC)


# --- broker ----------------------------------------------------------------------------------

class _RequeueOnBoot(Middleware):
    """When a worker starts, send again what a crash left queued or running."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._booting: dict[int, datetime] = {}

    def before_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self._booting[id(worker)] = utcnow()

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        # The worker's threads are already consuming: what they claimed keeps its lease.
        booted_at = self._booting.pop(id(worker), None)
        try:
            with self.app.app_context():
                n = requeue_stale(self.app, include_unleased=True, booted_at=booted_at)
            if n:
                log.info("requeued unfinished jobs at worker start", extra={"count": n})
        except Exception:  # pragma: no cover - never stop a worker from booting
            log.exception("requeue at worker start failed")


def build_broker(app: Any) -> dramatiq.Broker:
    settings = app.extensions["yaocai.settings"]
    kind = settings.broker_kind
    if kind == "inprocess":
        broker: dramatiq.Broker = StubBroker()
        broker.emit_after("process_boot")
    elif kind == "redis":
        from dramatiq.brokers.redis import RedisBroker
        broker = RedisBroker(url=settings.broker_url,
                             namespace=settings.extra.get("broker_namespace", "dramatiq"))
    else:
        from dramatiq.brokers.rabbitmq import RabbitmqBroker
        broker = RabbitmqBroker(url=settings.broker_url)
    broker.add_middleware(_RequeueOnBoot(app))
    dramatiq.set_broker(broker)
    for spec in _JOBS.values():
        _declare(app, broker, spec, settings)
    return broker


def _max_retries(spec: JobSpec, settings: Any) -> int:
    return settings.job_max_retries if spec.max_retries is None else spec.max_retries


def _declare(app: Any, broker: dramatiq.Broker, spec: JobSpec, settings: Any) -> None:
    retries = _max_retries(spec, settings)

    def run(job_id: int) -> None:
        run_job(app, spec, job_id)

    run.__name__ = spec.name.replace(".", "_")
    dramatiq.Actor(run, broker=broker, actor_name=spec.name, queue_name=spec.queue, priority=0,
                   options={"max_retries": retries,
                            "min_backoff": settings.extra.get("job_min_backoff_ms", 5000),
                            "max_backoff": 10 * 60 * 1000,
                            "time_limit": int(spec.lease.total_seconds() * 1000)})


def get_broker(app: Any | None = None) -> dramatiq.Broker:
    from flask import current_app
    return (app or current_app).extensions["yaocai.broker"]


# --- enqueue ---------------------------------------------------------------------------------

def enqueue(session: Session, name: str, *, args: dict[str, Any] | None = None,
            dedupe_key: str | None = None, actor: Actor | None = None,
            broker: dramatiq.Broker | None = None) -> Job:
    """Record a job and send it once the current transaction commits.

    With ``dedupe_key``, a job with the same key is returned instead of a second one.
    """
    if name not in _JOBS:
        raise ValueError(f"unknown job {name!r}")
    args = normalise(args or {})
    if dedupe_key is not None:
        existing = session.exec(select(Job).where(Job.dedupe_key == dedupe_key)).first()
        if existing is not None:
            return existing
    from flask import current_app  # enqueue runs inside a request, job or command
    broker = broker or get_broker()
    retries = _max_retries(_JOBS[name], current_app.extensions["yaocai.settings"])
    row = Job(actor=name, args=args, dedupe_key=dedupe_key, max_attempts=retries + 1,
              org_id=actor.org_id if actor else None,
              created_by=actor.user_id if actor else None)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        # Another scheduler or request enqueued the same key first.
        existing = session.exec(select(Job).where(Job.dedupe_key == dedupe_key)).first()
        if existing is None:
            raise
        return existing
    job_id = row.id
    after_commit(session, lambda: _send(broker, name, job_id))
    return row


def _send(broker: dramatiq.Broker, name: str, job_id: int) -> None:
    try:
        broker.get_actor(name).send(job_id)
    except Exception:
        # The row stays queued; the stale-job sweep sends it again.
        log.exception("sending job failed; it will be requeued", extra={"job_id": job_id})


# --- the actor wrapper -----------------------------------------------------------------------

def run_job(app: Any, spec: JobSpec, job_id: int) -> None:
    db = app.extensions["yaocai.db"]
    with app.app_context():
        now = utcnow()
        with db.unit_of_work() as s:
            claimed = s.execute(
                sa.update(Job)
                .where(Job.id == job_id, Job.actor == spec.name,
                       sa.or_(Job.status.in_([JobStatus.queued, JobStatus.retrying]),
                              # No lease: released at worker start (see requeue_stale).
                              sa.and_(Job.status == JobStatus.running,
                                      sa.or_(Job.lease_until.is_(None),
                                             Job.lease_until < now))))
                .values(status=JobStatus.running, attempts=Job.attempts + 1,
                        started_at=now, lease_until=now + spec.lease)
            ).rowcount
        if not claimed:
            # Gone, finished, or running elsewhere under a live lease: nothing to do.
            log.info("job not claimable, skipped", extra={"job_id": job_id, "job": spec.name})
            return
        try:
            if spec.phases is None:
                with db.unit_of_work() as s:
                    row = s.get(Job, job_id)
                    _succeeded(row, spec.fn(s, **row.args))
                    s.add(row)
            else:
                _run_phases(db, spec.phases, job_id)
            log.info("job succeeded", extra={"job_id": job_id, "job": spec.name})
        except Exception as exc:
            with db.unit_of_work() as s:
                row = s.get(Job, job_id)
                if row is not None:
                    final = row.attempts >= row.max_attempts
                    row.status = JobStatus.dead if final else JobStatus.retrying
                    row.error = "".join(traceback.format_exception(exc))[-8000:]
                    row.finished_at = utcnow() if final else None
                    row.lease_until = None
                    s.add(row)
            log.warning("job failed", extra={"job_id": job_id, "job": spec.name,
                                             "error": repr(exc)})
            raise


def _succeeded(row: Job, result: Any) -> None:
    row.status = JobStatus.succeeded
    row.result = normalise(result) if result is not None else None
    row.error = None
    row.finished_at = utcnow()
    row.lease_until = None


def _run_phases(db: Any, phases: Phases, job_id: int) -> None:
    with db.unit_of_work() as s:
        args = dict(s.get(Job, job_id).args)
        loaded = phases.load(s, **args)

    def write(fn: Callable[[Session], None]) -> None:
        with db.unit_of_work() as ws:
            fn(ws)

    computed = phases.compute(loaded, write)
    with db.unit_of_work() as s:
        row = s.get(Job, job_id)
        _succeeded(row, phases.store(s, computed, **args))
        s.add(row)


# --- recovery --------------------------------------------------------------------------------

def requeue_stale(app: Any, *, include_unleased: bool = False,
                  older_than: timedelta = timedelta(minutes=2),
                  booted_at: datetime | None = None, session: Session | None = None) -> int:
    """Send again jobs a crash left behind: running with an expired lease, or queued/retrying
    for longer than ``older_than`` (all of them when ``include_unleased``, at worker start;
    ``booted_at`` is when that worker started consuming).
    Duplicates are harmless: the claim lets only one delivery run.

    ``session``: read through the caller's transaction (a job) instead of a new one — on
    SQLite a second write transaction in the same thread would wait for the first forever."""
    db = app.extensions["yaocai.db"]
    broker = app.extensions["yaocai.broker"]
    now = utcnow()
    waiting = sa.and_(Job.status.in_([JobStatus.queued, JobStatus.retrying]),
                      sa.true() if include_unleased else Job.created_at < now - older_than)
    expired = sa.and_(Job.status == JobStatus.running,
                      sa.or_(Job.lease_until.is_(None), Job.lease_until < now))
    with (nullcontext(session) if session is not None else db.unit_of_work()) as s:
        if include_unleased and isinstance(broker, StubBroker):
            # In the embedded mode this process is the only worker: a job still marked
            # running was cut off by the crash that ended the previous process - unless this
            # worker claimed it after it booted.
            cut_off = (sa.true() if booted_at is None else
                       sa.or_(Job.started_at.is_(None), Job.started_at < booted_at))
            s.execute(sa.update(Job).where(Job.status == JobStatus.running, cut_off)
                      .values(lease_until=None))
        rows = s.execute(sa.select(Job.id, Job.actor).where(sa.or_(waiting, expired))
                         .order_by(Job.id).limit(10000)).all()
    sent = 0
    for job_id, name in rows:
        if name in _JOBS:
            _send(broker, name, job_id)
            sent += 1
    return sent


def requeue_job(session: Session, actor: Actor, job_id: int) -> Job:
    """Bureau admin: run a dead job again."""
    from core import audit
    from core.scoping import get_readable
    row = get_readable(session, Job, job_id, actor)
    if row.status != JobStatus.dead:
        raise Conflict("only a dead job can be requeued", current_status=row.status.value)
    row.status = JobStatus.queued
    row.attempts = 0
    row.finished_at = None
    session.add(row)
    session.flush()
    audit.record(session, actor, "job.requeue", "job", row.id,
                 before={"status": "dead"}, after={"status": "queued"})
    broker = get_broker()
    after_commit(session, lambda: _send(broker, row.actor, job_id))
    return row


# --- in-process worker and scheduler ---------------------------------------------------------

class BackgroundServices:
    """The in-process worker (embedded mode) and the scheduler thread of one web process."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.worker: dramatiq.Worker | None = None
        self.scheduler: Any = None
        self._lock = threading.Lock()
        self.started = False

    def start(self, *, worker: bool, scheduler: bool) -> None:
        with self._lock:
            if self.started:
                return
            self.started = True
            if worker:
                self.worker = dramatiq.Worker(get_broker(self.app), worker_threads=2)
                self.worker.start()
                log.info("in-process job worker started")
            if scheduler:
                self.scheduler = make_scheduler(self.app, background=True)
                self.scheduler.start()
                log.info("job scheduler started", extra={"jobs": sorted(_PERIODIC)})

    def stop(self) -> None:
        with self._lock:
            if self.scheduler is not None:
                self.scheduler.shutdown(wait=False)
                self.scheduler = None
            if self.worker is not None:
                self.worker.stop()
                self.worker = None
            self.started = False


def fire_periodic(app: Any, job_name: str, tick: datetime | None = None) -> Job:
    """Enqueue one periodic run; the tick (to the minute) makes it idempotent."""
    tick = (tick or utcnow()).replace(second=0, microsecond=0)
    db = app.extensions["yaocai.db"]
    with app.app_context(), db.unit_of_work() as s:
        return enqueue(s, job_name, dedupe_key=f"{job_name}@{tick:%Y-%m-%dT%H:%M}Z",
                       broker=app.extensions["yaocai.broker"])


def make_scheduler(app: Any, *, background: bool) -> Any:
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.schedulers.blocking import BlockingScheduler
    from apscheduler.triggers.cron import CronTrigger

    cls = BackgroundScheduler if background else BlockingScheduler
    sched = cls(timezone=SCHEDULER_TZ, job_defaults={"coalesce": True,
                                                     "misfire_grace_time": 300,
                                                     "max_instances": 1})
    for spec in _PERIODIC.values():
        sched.add_job(fire_periodic, CronTrigger.from_crontab(spec.cron, timezone=SCHEDULER_TZ),
                      args=[app, spec.job_name], id=spec.job_name, replace_existing=True)
    return sched


# --- the kernel's own periodic jobs ----------------------------------------------------------

@job("core.prune_login_attempts")
def prune_login_attempts(session: Session) -> dict[str, int]:
    """Drop failed-login records older than a day (lockouts look back minutes, not days)."""
    from core.models import LoginAttempt
    cutoff = utcnow() - timedelta(days=1)
    n = session.execute(sa.delete(LoginAttempt).where(LoginAttempt.at < cutoff)).rowcount
    return {"deleted": n}


@job("core.requeue_stale_jobs")
def requeue_stale_jobs(session: Session) -> dict[str, int]:
    from flask import current_app
    return {"requeued": requeue_stale(current_app._get_current_object(), session=session)}


@job("core.audit_checkpoint")
def audit_checkpoint(session: Session) -> dict[str, Any]:
    """Anchor the audit chain's end outside its table (see ``core.audit.write_checkpoint``)."""
    from flask import current_app

    from core.audit import checkpoint_path, write_checkpoint
    path = checkpoint_path(current_app.extensions["yaocai.settings"])
    cp, appended = write_checkpoint(session, path)
    return {"file": str(path), "appended": appended, **(cp.as_dict() if cp else {})}


periodic("core.prune_login_attempts", "15 3 * * *")
periodic("core.audit_checkpoint", "*/15 * * * *")
periodic("core.requeue_stale_jobs", "*/5 * * * *")
