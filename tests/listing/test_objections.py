"""Objections (异议) during the publicity window (公示期)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest

from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.permissions import Actor
from core.states import IllegalTransition
from listing import jobs, services
from listing.models import (
    Application,
    ApplicationStatus,
    Attachment,
    Listing,
    Objection,
    ObjectionStatus,
    Product,
    ProductStatus,
)
from listing.storage import LocalStore
from tests.listing.factories import (
    JPEG,
    PDF,
    PNG,
    TEXT,
    Clock,
    World,
    actor,
    audits,
    company,
    count,
    draft,
    drive,
    freeze,
    hospital,
    world,
)

S = ApplicationStatus
SYSTEM = Actor.system_actor("test")
# Approved on Wednesday 30 September 2026 with no holidays on file: the window is
# Thu 1 – Mon 5 October (3 working days); objections are taken up to and including the 5th.
APPROVED_ON = date(2026, 9, 30)
LAST_DAY = date(2026, 10, 5)
AFTER = date(2026, 10, 6)


@dataclass
class Case:
    w: World
    app: Application
    clock: Clock
    store: LocalStore
    objector: Actor
    hospital_op: Actor


@pytest.fixture
def case(session, monkeypatch, tmp_path) -> Case:
    clock = freeze(monkeypatch, APPROVED_ON)
    w = world(session)
    app = drive(session, draft(session, w.op), S.publicizing, w.op, w.reviewer)
    assert (app.publicity_start, app.publicity_end) == (date(2026, 10, 1), LAST_DAY)
    return Case(w=w, app=app, clock=clock, store=LocalStore(tmp_path / "attachments"),
                objector=actor(session, company(session), "operator"),
                hospital_op=actor(session, hospital(session), "operator"))


def _object(session, c: Case, who: Actor | None = None, files=None) -> Objection:
    return services.raise_objection(session, who or c.objector, c.store, c.app.id,
                                    "该产品在外省挂网价格更低", files or [("证明.pdf", PDF)])


def _stored_files(store: LocalStore) -> list:
    return [p for p in store.root.rglob("*") if p.is_file()] if store.root.exists() else []


def test_reason_and_evidence_are_required_and_nothing_is_written(session, case):
    c = case
    with pytest.raises(Invalid) as exc:
        services.raise_objection(session, c.objector, c.store, c.app.id, "  ", [])
    assert {e.field for e in exc.value.errors} == {"reason", "files"}
    # A text file renamed .pdf is refused by its content, even next to a real PDF.
    for files in ([("伪装.pdf", TEXT)], [("ok.pdf", PDF), ("伪装.pdf", TEXT)],
                  [("empty.png", b"")]):
        with pytest.raises(Invalid) as exc:
            services.raise_objection(session, c.objector, c.store, c.app.id, "价格不实", files)
        assert [e.field for e in exc.value.errors] == ["files"]
    assert count(session, Objection) == 0
    assert count(session, Attachment) == 0
    assert _stored_files(c.store) == []
    assert session.get(Application, c.app.id).status == S.publicizing


def test_objection_with_pdf_png_and_jpeg_is_stored(session, case):
    c = case
    obj = _object(session, c, files=[("a.pdf", PDF), ("b.png", PNG), ("c.jpg", JPEG)])
    assert obj.status == ObjectionStatus.open and obj.org_id == c.objector.org_id
    assert obj.reason == "该产品在外省挂网价格更低"
    atts = services.attachments_of(session, c.objector, objection_id=obj.id)
    assert [(a.filename, a.content_type) for a in atts] == [
        ("a.pdf", "application/pdf"), ("b.png", "image/png"), ("c.jpg", "image/jpeg")]
    assert all(a.objection_id == obj.id and a.application_id is None for a in atts)
    assert len(_stored_files(c.store)) == 3
    (rec,) = audits(session, "objection.raise", obj.id)
    assert rec.after == {"application_id": c.app.id, "reason": obj.reason}
    # The bureau sees the objection and its evidence; the applicant sees the objection
    # against it (to answer it) but not the objector's files; a bystander sees nothing.
    assert len(services.attachments_of(session, c.w.reviewer, objection_id=obj.id)) == 3
    assert services.attachments_of(session, c.w.op, objection_id=obj.id) == []
    assert services.get_objection(session, c.w.op, obj.id).id == obj.id
    assert [o.id for o in services.list_objections(
        session, c.w.op, application_id=c.app.id).items] == [obj.id]
    bystander = actor(session, company(session), "operator")
    with pytest.raises(NotFound):
        services.get_objection(session, bystander, obj.id)
    assert services.list_objections(session, bystander, application_id=c.app.id).items == []
    assert [o.id for o in services.list_objections(
        session, c.w.reviewer, application_id=c.app.id).items] == [obj.id]


def test_applicant_cannot_object_to_itself(session, case):
    c = case
    colleague = actor(session, c.w.company, "operator")
    for who in (c.w.op, colleague):
        with pytest.raises(Forbidden):
            with session.begin_nested():
                _object(session, c, who)
    assert count(session, Objection) == 0


def test_who_may_object(session, case):
    c = case
    with pytest.raises(Forbidden):  # the bureau resolves objections, it does not raise them
        _object(session, c, c.w.viewer)
    obj = _object(session, c, c.hospital_op)
    assert obj.org_id == c.hospital_op.org_id


def test_window_closes_after_its_last_day(session, case):
    c = case
    c.clock.today = LAST_DAY
    _object(session, c)
    c.clock.today = AFTER
    with pytest.raises(Conflict) as exc:
        with session.begin_nested():
            _object(session, c, c.hospital_op)
    assert exc.value.status == 409 and exc.value.extra["current_status"] == "publicizing"
    assert count(session, Objection) == 1


def test_only_publicized_applications_take_objections(session, case):
    c = case
    other = draft(session, c.w.op)
    with pytest.raises(NotFound):
        services.raise_objection(session, c.objector, c.store, other.id, "x",
                                 [("a.pdf", PDF)])
    services.end_publicity(session, SYSTEM, as_of=AFTER)
    assert session.get(Application, c.app.id).status == S.listed
    with pytest.raises(Conflict):
        _object(session, c)


def test_open_objection_holds_the_listing(session, case):
    c = case
    _object(session, c)
    assert services.end_publicity(session, SYSTEM, as_of=AFTER) == {
        "listed": 0, "held_by_objection": 1}
    assert jobs.end_publicity(session, as_of="2026-10-07") == {
        "listed": 0, "held_by_objection": 1}
    assert session.get(Application, c.app.id).status == S.publicizing
    assert count(session, Listing, Listing.application_id == c.app.id) == 0
    assert services.open_objection_count(session, c.app.id) == 1


def test_dismissed_after_the_window_is_listed_at_once(session, case):
    c = case
    obj = _object(session, c)
    c.clock.today = date(2026, 10, 8)
    services.end_publicity(session, SYSTEM, as_of=date(2026, 10, 8))
    assert session.get(Application, c.app.id).status == S.publicizing
    with pytest.raises(Invalid) as exc:
        services.resolve_objection(session, c.w.reviewer, obj.id, False, " ")
    assert exc.value.errors[0].field == "resolution"
    services.resolve_objection(session, c.w.reviewer, obj.id, False, "外省价格系促销价，异议不成立",
                               expected_version=obj.version)
    assert obj.status == ObjectionStatus.dismissed
    assert obj.resolution == "外省价格系促销价，异议不成立"
    assert obj.status_changed_by == c.w.reviewer.user_id
    app = session.get(Application, c.app.id)
    assert app.status == S.listed
    listing = session.get(Listing, app.listing_id)
    assert listing is not None and listing.price == app.proposed_price
    assert len(audits(session, "objection.dismiss", obj.id)) == 1
    assert len(audits(session, "listing_application.complete", app.id)) == 1
    assert session.get(Product, app.product_id).status == ProductStatus.active
    # Nothing is listed twice by the next sweep.
    assert services.end_publicity(session, SYSTEM, as_of=date(2026, 10, 9))["listed"] == 0
    assert count(session, Listing, Listing.application_id == app.id) == 1


def test_dismissed_during_the_window_waits_for_its_end(session, case):
    c = case
    obj = _object(session, c)
    services.resolve_objection(session, c.w.reviewer, obj.id, False, "不成立",
                               as_of=date(2026, 10, 2))
    assert session.get(Application, c.app.id).status == S.publicizing
    assert services.end_publicity(session, SYSTEM, as_of=LAST_DAY)["listed"] == 0
    assert services.end_publicity(session, SYSTEM, as_of=AFTER) == {
        "listed": 1, "held_by_objection": 0}
    assert session.get(Application, c.app.id).status == S.listed


def test_the_last_open_objection_releases_the_listing(session, case):
    c = case
    first = _object(session, c)
    second = _object(session, c, c.hospital_op)
    services.resolve_objection(session, c.w.reviewer, first.id, False, "不成立", as_of=AFTER)
    assert session.get(Application, c.app.id).status == S.publicizing
    services.resolve_objection(session, c.w.reviewer, second.id, False, "不成立", as_of=AFTER)
    assert session.get(Application, c.app.id).status == S.listed


def test_upheld_rejects_the_application_and_retires_the_proposal(session, case):
    c = case
    obj = _object(session, c)
    services.resolve_objection(session, c.w.reviewer, obj.id, True, "异议成立：外省挂网价4.00元")
    assert obj.status == ObjectionStatus.upheld
    app = session.get(Application, c.app.id)
    assert app.status == S.rejected
    assert app.decision_reason == "异议成立：外省挂网价4.00元" and app.decided_at is not None
    assert session.get(Product, app.product_id).status == ProductStatus.retired
    (rec,) = audits(session, "listing_application.uphold_objection", app.id)
    assert rec.after["objection_id"] == obj.id and rec.before == {"status": "publicizing"}
    assert services.end_publicity(session, SYSTEM, as_of=AFTER)["listed"] == 0
    assert count(session, Listing, Listing.application_id == app.id) == 0
    # Resolved once only.
    with pytest.raises(IllegalTransition):
        services.resolve_objection(session, c.w.reviewer, obj.id, False, "改判")


def test_who_may_resolve(session, case):
    c = case
    obj = _object(session, c)
    with pytest.raises(Forbidden):  # the objector reads its objection but cannot resolve it
        services.resolve_objection(session, c.objector, obj.id, False, "撤回")
    with pytest.raises(Forbidden):
        services.resolve_objection(session, c.w.viewer, obj.id, True, "成立")
    with pytest.raises(Forbidden):  # the applicant reads the objection against it, no more
        services.resolve_objection(session, c.w.op, obj.id, True, "成立")
    with pytest.raises(NotFound):
        services.resolve_objection(session, c.hospital_op, obj.id, True, "成立")
    assert session.get(Objection, obj.id).status == ObjectionStatus.open
    assert session.get(Application, c.app.id).status == S.publicizing


def test_upholding_one_objection_settles_the_others(session, case):
    c = case
    first = _object(session, c)
    second = _object(session, c, who=c.hospital_op, files=[("照片.png", PNG)])
    services.resolve_objection(session, c.w.reviewer, first.id, True, "外省价格更低属实")
    session.expire_all()
    assert session.get(Application, c.app.id).status == S.rejected
    settled = session.get(Objection, second.id)
    assert settled.status == ObjectionStatus.upheld
    assert settled.resolution == "外省价格更低属实"
    (rec,) = audits(session, "objection.uphold", second.id)
    assert rec.after["settled_with"] == first.id
