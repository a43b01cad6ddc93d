"""Listing's to-do items (待办) for the home pages: one COUNT query per provider, within the
actor's scope (``Application.readable_clause``, ``Objection.readable_clause``)."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import Session

from core import todo
from core.i18n import N_
from core.permissions import Actor
from core.todo import Todo
from core.types import utcnow
from listing.models import Application, ApplicationStatus, Objection, ObjectionStatus
from listing.permissions import APP_EDIT, APP_REVIEW, OBJECTION_RESOLVE

S = ApplicationStatus
#: An application waiting this long since submission is past the review time the bureau
#: promises (the review queue marks it too).
REVIEW_SLA = timedelta(days=5)


def _counts(session: Session, model: type, actor: Actor, **conditions) -> dict[str, int]:
    """Several counts of the actor's readable rows of ``model`` in one query."""
    columns = [sa.func.count().filter(cond).label(name) for name, cond in conditions.items()]
    row = session.execute(sa.select(*columns).select_from(model)
                          .where(model.readable_clause(actor))).one()
    return dict(row._mapping)


def review_todos(session: Session, actor: Actor) -> list[Todo]:
    """The reviewer's: new applications to take up, their own in review, and those past the
    review time."""
    overdue_since = utcnow() - REVIEW_SLA
    n = _counts(session, Application, actor,
                new=Application.status == S.submitted,
                mine=sa.and_(Application.status == S.under_review,
                             Application.assigned_to == actor.user_id),
                overdue=sa.and_(Application.status.in_((S.submitted, S.under_review)),
                                Application.submitted_at <= overdue_since))
    return [
        Todo(N_("Applications waiting for review for 5 days or more"), n["overdue"],
             "listing.review_queue", overdue=True),
        Todo(N_("Submitted applications waiting to be taken up"), n["new"],
             "listing.review_queue", {"status": S.submitted.value}),
        Todo(N_("Applications you are reviewing"), n["mine"], "listing.review_queue",
             {"status": S.under_review.value, "assigned": "me"}),
    ]


def objection_todos(session: Session, actor: Actor) -> list[Todo]:
    """The bureau's open objections to decide."""
    n = _counts(session, Objection, actor, open=Objection.status == ObjectionStatus.open)
    return [Todo(N_("Objections waiting for a decision"), n["open"], "listing.objections",
                 {"status": ObjectionStatus.open.value})]


def applicant_todos(session: Session, actor: Actor) -> list[Todo]:
    """The company's: applications returned for amendment, objections raised against its
    applications (to answer), drafts not yet submitted."""
    if actor.is_bureau:
        return []
    n = _counts(session, Application, actor, returned=Application.status == S.returned,
                drafts=Application.status == S.draft)
    # Objections others raised against the company's applications (it may see its own too).
    against = _counts(session, Objection, actor,
                      open=sa.and_(Objection.status == ObjectionStatus.open,
                                   Objection.org_id != actor.org_id))
    return [
        Todo(N_("Applications returned to you for amendment"), n["returned"],
             "listing.applications", {"status": S.returned.value}),
        Todo(N_("Objections raised against your applications"), against["open"],
             "listing.objections", {"status": ObjectionStatus.open.value}),
        Todo(N_("Draft applications not yet submitted"), n["drafts"], "listing.applications",
             {"status": S.draft.value}),
    ]


def register_todos() -> None:
    todo.register("listing.review", review_todos, permission=APP_REVIEW, order=10)
    todo.register("listing.objections", objection_todos, permission=OBJECTION_RESOLVE, order=20)
    todo.register("listing.applicant", applicant_todos, permission=APP_EDIT, order=30)
