"""Listing's to-do items on the home pages: the reviewer's queue and its overdue items, the
bureau's objections to decide, the company's returned applications, objections to answer and
drafts — counted within each actor's scope."""
from __future__ import annotations

from datetime import timedelta

from core.models import User
from core.todo import todos_for
from core.types import utcnow
from listing.models import ApplicationStatus, Objection
from tests.listing.factories import actor, company, draft, drive, hospital, world
from tests.support import login

S = ApplicationStatus


def _items(session, actor) -> dict[str, tuple[int, str, dict]]:
    return {t.label: (t.count, t.endpoint, t.args) for t in todos_for(session, actor)}


def test_the_reviewer_sees_new_own_and_overdue_applications(session):
    w = world(session)
    fresh = drive(session, draft(session, w.op), S.submitted, w.op, w.reviewer)
    mine = drive(session, draft(session, w.op), S.under_review, w.op, w.reviewer)
    items = _items(session, w.reviewer)
    assert items["Submitted applications waiting to be taken up"] == (
        1, "listing.review_queue", {"status": "submitted"})
    assert items["Applications you are reviewing"][0] == 1
    assert "Applications waiting for review for 5 days or more" not in items
    assert "Applications you are reviewing" not in _items(session, w.reviewer2)

    fresh.submitted_at = utcnow() - timedelta(days=6)
    mine.submitted_at = utcnow() - timedelta(days=5, hours=1)
    session.flush()
    first = todos_for(session, w.reviewer)[0]
    assert (first.label, first.count, first.overdue) == (
        "Applications waiting for review for 5 days or more", 2, True)


def test_the_company_sees_returned_drafts_and_objections_against_it(session):
    w = world(session)
    drive(session, draft(session, w.op), S.returned, w.op, w.reviewer)
    draft(session, w.op)
    publicized = drive(session, draft(session, w.op), S.publicizing, w.op, w.reviewer)
    objector = hospital(session)
    session.add(Objection(application_id=publicized.id, org_id=objector.id, reason="价格不实"))
    session.flush()
    items = _items(session, w.op)
    assert items["Applications returned to you for amendment"] == (
        1, "listing.applications", {"status": "returned"})
    assert items["Draft applications not yet submitted"][0] == 1
    assert items["Objections raised against your applications"] == (
        1, "listing.objections", {"status": "open"})
    assert _items(session, w.reviewer)["Objections waiting for a decision"][0] == 1
    # Another company sees none of it.
    assert _items(session, actor(session, company(session), "operator")) == {}


def test_the_reviewer_home_lists_the_queue_in_chinese_with_links(client, session):
    w = world(session)
    drive(session, draft(session, w.op), S.submitted, w.op, w.reviewer)
    login(client, session.get(User, w.reviewer.user_id).username)
    html = client.get("/home").get_data(as_text=True)
    assert "已提交待受理的挂网申请" in html
    assert 'href="/listing/review?status=submitted"' in html
    assert html.index("待办事项") < html.index("我的业务模块")
