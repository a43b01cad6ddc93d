"""The publicity job (``listing.end_publicity``): registration, frozen dates, idempotence."""
from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import select

from core.jobs import periodic_jobs, registered_jobs
from core.models import AuditLog
from listing import jobs, services
from listing.models import Application, ApplicationStatus, Listing
from listing.storage import LocalStore
from tests.listing.factories import PDF, actor, company, count, draft, drive, freeze, world

S = ApplicationStatus
APPROVED_ON = date(2026, 9, 30)  # Wednesday: the window runs 1, 2 and 5 October


@pytest.fixture
def due(session, monkeypatch):
    clock = freeze(monkeypatch, APPROVED_ON)
    w = world(session)
    apps = [drive(session, draft(session, w.op), S.publicizing, w.op, w.reviewer)
            for _ in range(2)]
    assert {a.publicity_end for a in apps} == {date(2026, 10, 5)}
    return w, apps, clock


def test_job_is_registered_and_scheduled():
    assert registered_jobs()["listing.end_publicity"].fn is jobs.end_publicity
    assert periodic_jobs()["listing.end_publicity"].cron == "7 * * * *"


def test_job_lists_due_applications_once(session, due):
    w, apps, _ = due
    assert jobs.end_publicity(session, as_of="2026-10-05") == {
        "listed": 0, "held_by_objection": 0}
    assert all(session.get(Application, a.id).status == S.publicizing for a in apps)
    assert jobs.end_publicity(session, as_of="2026-10-06") == {
        "listed": 2, "held_by_objection": 0}
    for a in apps:
        session.refresh(a)
        assert a.status == S.listed and a.listing_id is not None
        (rec,) = session.exec(select(AuditLog).where(
            AuditLog.action == "listing_application.complete",
            AuditLog.object_id == str(a.id))).all()
        assert rec.actor_name == "publicity" and rec.actor_user_id is None
    # Replaying the same day, or a later one, finds nothing left to do.
    assert jobs.end_publicity(session, as_of="2026-10-06")["listed"] == 0
    assert jobs.end_publicity(session, as_of="2026-12-31")["listed"] == 0
    assert count(session, Listing, Listing.application_id.in_([a.id for a in apps])) == 2


def test_job_without_a_date_uses_today(session, due):
    _, apps, clock = due
    clock.today = date(2026, 10, 5)
    assert jobs.end_publicity(session)["listed"] == 0
    clock.today = date(2026, 10, 6)
    assert jobs.end_publicity(session)["listed"] == 2


def test_job_reports_applications_held_by_objections(session, due, tmp_path):
    w, apps, _ = due
    objector = actor(session, company(session), "operator")
    services.raise_objection(session, objector, LocalStore(tmp_path), apps[0].id, "价格不实",
                             [("p.pdf", PDF)])
    assert jobs.end_publicity(session, as_of="2026-10-06") == {
        "listed": 1, "held_by_objection": 1}
    assert session.get(Application, apps[0].id).status == S.publicizing
    assert session.get(Application, apps[1].id).status == S.listed


def test_job_refuses_a_malformed_date(session):
    with pytest.raises(ValueError):
        jobs.end_publicity(session, as_of="06/10/2026")


def test_only_the_scheduler_and_reviewers_end_publicity(session, due):
    from core.errors import Forbidden

    w, apps, _ = due
    for who in (w.op, w.viewer):
        with pytest.raises(Forbidden):
            services.end_publicity(session, who, as_of=date(2026, 10, 6))
    assert all(session.get(Application, a.id).status == S.publicizing for a in apps)
    assert services.end_publicity(session, w.reviewer, as_of=date(2026, 10, 6))["listed"] == 2
