"""Listing applications (挂网申请): the transition table, the full happy path, price checks."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from sqlmodel import select

from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.models import Organisation
from core.permissions import Actor
from core.states import IllegalTransition, StaleVersion
from core.types import local_today
from listing import jobs, services
from listing.models import (
    Application,
    ApplicationKind,
    ApplicationStatus,
    CheckStage,
    Listing,
    ListingCategory,
    Objection,
    PriceCheck,
    Product,
    ProductStatus,
)
from listing.storage import LocalStore
from tests.listing.factories import (
    PDF,
    D,
    World,
    actor,
    audit_count,
    audits,
    checks,
    company,
    count,
    draft,
    drive,
    evidence,
    freeze,
    hospital,
    list_product,
    product,
    proposal,
    world,
)

S = ApplicationStatus
OK, NOOP = "ok", "noop"

ROLES = ("applicant", "other_company", "bureau_reviewer", "bureau_viewer", "hospital")
ACTIONS = ("submit", "withdraw", "start_review", "return", "approve", "reject",
           "uphold_objection", "complete")
#: The statuses each action moves from, and where it goes (DOMAIN §1).
SOURCES = {
    "submit": ({S.draft, S.returned}, S.submitted),
    "withdraw": ({S.draft, S.submitted, S.under_review, S.returned}, S.withdrawn),
    "start_review": ({S.submitted}, S.under_review),
    "return": ({S.under_review}, S.returned),
    "approve": ({S.under_review}, S.publicizing),
    "reject": ({S.under_review}, S.rejected),
    "uphold_objection": ({S.publicizing}, S.rejected),
    "complete": ({S.publicizing}, S.listed),
}


def expected(action: str, status: ApplicationStatus, role: str):
    """What ``role`` doing ``action`` on an application in ``status`` must get.

    The order of the checks: the applicant's own actions need the edit permission first (403),
    then the application must be the actor's own (404); the bureau's actions look the
    application up in the actor's scope (404), then check the move (409), then the
    permission (403). ``complete`` is the publicity sweep: only the bureau's reviewers (and
    the scheduler) may run it, and it leaves everything but a due publicizing application
    alone.
    """
    sources, _ = SOURCES[action]
    legal = status in sources
    if action in ("submit", "withdraw"):
        if role in ("bureau_reviewer", "bureau_viewer", "hospital"):
            return Forbidden
        if role == "other_company":
            return NotFound
        return OK if legal else IllegalTransition
    if action in ("start_review", "return", "approve", "reject"):
        if role in ("other_company", "hospital"):
            return NotFound
        if not legal:
            return IllegalTransition
        return OK if role == "bureau_reviewer" else Forbidden
    if action == "uphold_objection":
        # Raised by a third company: it, the applicant it is against and the bureau can read
        # it; only the bureau's reviewers may resolve it.
        if role in ("other_company", "hospital"):
            return NotFound
        if role in ("applicant", "bureau_viewer"):
            return Forbidden
        return OK if legal else IllegalTransition
    assert action == "complete"
    if role != "bureau_reviewer":
        return Forbidden
    return OK if legal else NOOP


@dataclass
class Cast:
    w: World
    actors: dict[str, Actor]
    objector: Organisation
    objector_op: Actor


@pytest.fixture
def cast(session) -> Cast:
    w = world(session)
    other = company(session)
    hosp = hospital(session)
    objector = company(session)
    return Cast(w=w, objector=objector, objector_op=actor(session, objector, "operator"),
                actors={"applicant": w.op,
                        "other_company": actor(session, other, "operator"),
                        "bureau_reviewer": w.reviewer,
                        "bureau_viewer": w.viewer,
                        "hospital": actor(session, hosp, "operator")})


def _objection(session, c: Cast, app: Application, store: LocalStore) -> Objection:
    """An open objection by a third company. Objections can only be raised during publicity,
    so for any other status the row is inserted directly: that is the only way to put the
    ``uphold_objection`` move to the test from the statuses it must refuse."""
    if app.status == S.publicizing:
        return services.raise_objection(session, c.objector_op, store, app.id,
                                        "外省实际挂网价更低", [("proof.pdf", PDF)])
    obj = Objection(application_id=app.id, org_id=c.objector.id, reason="inserted by the test",
                    created_by=c.objector_op.user_id)
    session.add(obj)
    session.flush()
    return obj


def _run(session, action: str, who: Actor, app: Application, objection: Objection | None):
    if action == "submit":
        return services.submit(session, who, app.id)
    if action == "withdraw":
        return services.withdraw(session, who, app.id, reason="不再销售")
    if action == "start_review":
        return services.start_review(session, who, app.id)
    if action == "return":
        return services.return_for_amendment(session, who, app.id, "补充材料")
    if action == "approve":
        return services.approve(session, who, app.id)
    if action == "reject":
        return services.reject(session, who, app.id, "材料不实")
    if action == "uphold_objection":
        return services.resolve_objection(session, who, objection.id, True, "异议成立")
    return services.end_publicity(session, who, as_of=local_today() + timedelta(days=60))


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("status", list(ApplicationStatus))
def test_transition_table(session, cast, tmp_path, status, action, role):
    w = cast.w
    app = drive(session, draft(session, w.op), status, w.op, w.reviewer)
    assert app.status == status
    store = LocalStore(tmp_path)
    objection = _objection(session, cast, app, store) if action == "uphold_objection" else None
    who = cast.actors[role]
    outcome = expected(action, status, role)
    before_version = app.version
    before_audit = audit_count(session)
    before_checks = count(session, PriceCheck)
    app_id = app.id
    audited = "complete" if action == "complete" else action
    before_moves = len(audits(session, f"listing_application.{audited}", app_id))

    if outcome in (OK, NOOP):
        _run(session, action, who, app, objection)
        session.expire_all()
        app = session.get(Application, app_id)
        if outcome == NOOP:
            assert app.status == status and app.version == before_version
            assert audit_count(session) == before_audit
            return
        target = SOURCES[action][1]
        assert app.status == target
        assert app.version > before_version
        recs = audits(session, f"listing_application.{audited}", app_id)
        assert len(recs) == before_moves + 1
        assert recs[-1].before == {"status": status.value}
        assert recs[-1].after["status"] == target.value
        assert recs[-1].actor_user_id == who.user_id
        return

    savepoint = session.begin_nested()
    with pytest.raises(outcome) as exc:
        _run(session, action, who, app, objection)
    if outcome is IllegalTransition:
        assert exc.value.status == 409
        assert exc.value.extra["current_status"] == status.value
    elif outcome is Forbidden:
        assert exc.value.status == 403
    else:
        assert exc.value.status == 404
    if action != "uphold_objection":
        # Refused before anything was written (the objection is resolved before the
        # application is moved, so only the rollback undoes that one).
        assert audit_count(session) == before_audit
        assert count(session, PriceCheck) == before_checks
    savepoint.rollback()
    session.expire_all()
    app = session.get(Application, app_id)
    assert app.status == status
    assert app.version == before_version
    assert audit_count(session) == before_audit
    if objection is not None:
        assert session.get(Objection, objection.id).status.value == "open"


def test_every_status_and_action_is_in_the_table():
    assert set(SOURCES) == set(services.APPLICATION_FLOW.actions)
    for action, (sources, target) in SOURCES.items():
        for status in ApplicationStatus:
            move = services.APPLICATION_FLOW.find(status, action)
            assert (move is not None) == (status in sources), (action, status)
            if move is not None:
                assert move.target == target


# --- the happy path ---------------------------------------------------------------------------

@pytest.fixture
def clock(monkeypatch):
    return freeze(monkeypatch, date(2026, 9, 30))  # a Wednesday, eve of the National Day


def _national_day(session, admin: Actor) -> None:
    for day in range(1, 8):
        services.set_holiday(session, admin, services.HolidayIn(
            day=date(2026, 10, day), name="国庆节"))
    # Saturday 10 October is worked instead (调休).
    services.set_holiday(session, admin, services.HolidayIn(
        day=date(2026, 10, 10), name="国庆调休", workday=True))


def test_working_days_use_the_holiday_calendar(session):
    w = world(session)
    start = date(2026, 9, 30)
    assert services.add_working_days(session, start, 3) == (date(2026, 10, 1), date(2026, 10, 5))
    services.set_holiday(session, w.admin, services.HolidayIn(day=date(2026, 10, 1),
                                                              name="国庆节"))
    assert services.add_working_days(session, start, 3) == (date(2026, 10, 2), date(2026, 10, 6))
    _national_day(session, w.admin)
    assert services.add_working_days(session, start, 3) == (date(2026, 10, 8),
                                                            date(2026, 10, 10))
    with pytest.raises(Forbidden):
        services.set_holiday(session, w.reviewer, services.HolidayIn(
            day=date(2026, 10, 12), name="x"))


def test_happy_path_with_a_proposed_product(session, clock):
    w = world(session)
    _national_day(session, w.admin)
    new = proposal(generic_name="瑞舒伐他汀钙片", spec="10mg×28片")
    app = services.create_application(session, w.op, services.ApplicationIn(
        kind=ApplicationKind.new_listing, new_product=new, proposed_price="5.60"))
    assert app.status == S.draft and app.round == 0
    assert app.number == f"GW2026{app.id:07d}"
    prod = session.get(Product, app.product_id)
    assert prod.status == ProductStatus.proposed and prod.proposed_by_org_id == w.company.id
    assert prod.code == new.code and prod.mah_org_id == w.company.id
    assert len(audits(session, "listing_application.create", app.id)) == 1

    # Submitting without evidence is refused.
    with pytest.raises(Invalid) as exc:
        services.submit(session, w.op, app.id)
    assert [e.field for e in exc.value.errors] == ["evidence"]

    services.set_evidence(session, w.op, app.id, [
        evidence("6.00", "浙江", date(2026, 3, 1)), evidence("5.50", "江苏", date(2026, 5, 1))])
    assert [(e.province, e.price) for e in services.evidence_lines(session, w.op, app.id)] \
        == [("浙江", D("6.00")), ("江苏", D("5.50"))]
    # 5.60 is above the lowest declared price: refused at submit.
    with pytest.raises(Invalid):
        with session.begin_nested():
            services.submit(session, w.op, app.id)
    services.update_application(session, w.op, app.id, services.ApplicationIn(
        kind=ApplicationKind.new_listing, new_product=new, proposed_price="5.40"))

    version = session.get(Application, app.id).version
    services.submit(session, w.op, app.id, expected_version=version)
    assert app.status == S.submitted and app.round == 1 and app.submitted_at is not None
    (check,) = checks(session, app.id)
    assert check.stage == CheckStage.submit and check.rule_version == 1
    assert check.passed and check.proposed_price == D("5.40")
    assert check.governing_cap == D("5.50") and check.governing_rule == "linkage"
    assert app.check_passed is True and app.check_cap == D("5.50")

    # Review: take it, hand it to a colleague, return it (a reason is required).
    services.start_review(session, w.reviewer, app.id)
    assert app.status == S.under_review and app.assigned_to == w.reviewer.user_id
    services.assign(session, w.reviewer, app.id, w.reviewer2.user_id)
    assert app.assigned_to == w.reviewer2.user_id
    assert audits(session, "listing_application.assign", app.id)[-1].after == {
        "assigned_to": w.reviewer2.user_id}
    with pytest.raises(Invalid) as exc:
        services.assign(session, w.reviewer, app.id, w.op.user_id)
    assert exc.value.errors[0].field == "assigned_to"
    for blank in (None, "", "   "):
        with pytest.raises(Invalid) as exc:
            services.return_for_amendment(session, w.reviewer2, app.id, blank)
        assert exc.value.errors[0].field == "reason"
    assert session.get(Application, app.id).status == S.under_review
    services.return_for_amendment(session, w.reviewer2, app.id, "请补充江苏挂网公告原件")
    assert app.status == S.returned and app.decision_reason == "请补充江苏挂网公告原件"
    assert audits(session, "listing_application.return", app.id)[0].after["reason"] \
        == "请补充江苏挂网公告原件"

    # The applicant amends and resubmits: the round goes up, the price is checked again.
    services.set_evidence(session, w.op, app.id, [
        evidence("6.00", "浙江", date(2026, 3, 1)), evidence("5.50", "江苏", date(2026, 5, 1)),
        evidence("5.45", "安徽", date(2026, 6, 1))])
    services.submit(session, w.op, app.id, expected_version=app.version)
    assert app.status == S.submitted and app.round == 2
    assert [c.governing_cap for c in checks(session, app.id)] == [D("5.50"), D("5.45")]

    services.start_review(session, w.reviewer2, app.id)
    assert app.assigned_to == w.reviewer2.user_id  # kept, not re-claimed
    services.approve(session, w.reviewer2, app.id, "符合挂网条件", expected_version=app.version)
    assert app.status == S.publicizing and app.decided_at is not None
    # 3 working days after Wed 30 Sept: 1–7 Oct are holidays, Sat 10 Oct is worked.
    assert (app.publicity_start, app.publicity_end) == (date(2026, 10, 8), date(2026, 10, 10))
    rec = audits(session, "listing_application.approve", app.id)[0]
    assert rec.after["publicity_end"] == "2026-10-10"
    review_check = checks(session, app.id)[-1]
    assert review_check.stage == CheckStage.review and review_check.passed

    board = services.publicity_board(session)
    assert app.id in [a.id for a, _, _ in board.items]
    assert app.id not in [lst.application_id for lst in services.search_listings(
        session, services.SearchQuery(q="瑞舒伐他汀")).items]

    system = Actor.system_actor("test")
    # The last day of the window still takes objections: nothing listed yet.
    assert services.end_publicity(session, system, as_of=date(2026, 10, 10)) == {
        "listed": 0, "held_by_objection": 0}
    assert app.status == S.publicizing
    assert services.end_publicity(session, system, as_of=date(2026, 10, 11)) == {
        "listed": 1, "held_by_objection": 0}
    session.refresh(app)
    assert app.status == S.listed and app.listed_at is not None
    listing = session.get(Listing, app.listing_id)
    assert listing.price == D("5.40") and listing.org_id == w.company.id
    assert listing.product_id == prod.id and listing.product_code == prod.code
    assert listing.generic_name == "瑞舒伐他汀钙片" and listing.company_name == w.company.name
    assert listing.category == ListingCategory.regular and listing.status.value == "listed"
    assert session.get(Product, prod.id).status == ProductStatus.active
    assert len(audits(session, "listing.create", listing.id)) == 1

    # Idempotent: a second run (and the job with an ISO date) lists nothing more.
    assert services.end_publicity(session, system, as_of=date(2026, 10, 12))["listed"] == 0
    assert jobs.end_publicity(session, as_of="2026-10-13")["listed"] == 0
    assert count(session, Listing, Listing.product_id == prod.id) == 1
    assert len(audits(session, "listing_application.complete", app.id)) == 1
    found = services.search_listings(session, services.SearchQuery(q="瑞舒伐他汀"))
    assert listing.id in [lst.id for lst in found.items]


def test_happy_path_with_a_catalogue_product(session):
    w = world(session)
    prod = product(session, w.company)
    app = draft(session, w.op, prod, price="8.00", lines=[evidence("8.50")])
    assert app.product_id == prod.id
    drive(session, app, S.publicizing, w.op, w.reviewer)
    assert app.publicity_start > local_today() and app.publicity_end >= app.publicity_start
    out = jobs.end_publicity(session, as_of=(app.publicity_end + timedelta(days=1)).isoformat())
    assert out["listed"] >= 1
    session.refresh(app)
    assert app.status == S.listed
    assert session.get(Listing, app.listing_id).price == D("8.00")
    assert session.get(Product, prod.id).status == ProductStatus.active
    # Listed now: the product is no longer a choice; a second application is refused.
    assert prod.id not in {p.id for p in services.listable_products(session, w.op)}
    with pytest.raises(Invalid) as listed:
        services.create_application(session, w.op, services.ApplicationIn(
            kind=ApplicationKind.new_listing, product_id=prod.id, proposed_price="7.00"))
    assert listed.value.status == 422 and listed.value.errors[0].field == "product_id"


def test_a_proposed_products_moves_are_transitions_with_their_records(session):
    """Retired with its withdrawn application, proposed again by the next one: each status
    change of a catalogue product is its workflow's, with an audit record."""
    w = world(session)
    app = draft(session, w.op)
    services.withdraw(session, w.op, app.id)
    prod = session.get(Product, app.product_id)
    again = services.create_application(session, w.op, services.ApplicationIn(
        kind=ApplicationKind.new_listing, new_product=proposal(code=prod.code),
        proposed_price="5.00"))
    assert again.product_id == prod.id and prod.status == ProductStatus.proposed
    moves = [(a.action, a.before, a.after) for a in
             audits(session, "product.retire", prod.id)
             + audits(session, "product.propose_again", prod.id)]
    assert moves == [
        ("product.retire", {"status": "proposed"}, {"status": "retired"}),
        ("product.propose_again", {"status": "retired"}, {"status": "proposed"})]
    with pytest.raises(IllegalTransition):
        services.PRODUCT_FLOW.transition(session, prod, "propose_again", w.op)


def test_stale_version_is_refused(session):
    w = world(session)
    app = draft(session, w.op, product(session, w.company))
    with pytest.raises(StaleVersion):
        with session.begin_nested():
            services.submit(session, w.op, app.id, expected_version=app.version + 1)
    services.submit(session, w.op, app.id, expected_version=app.version)
    with pytest.raises(StaleVersion):
        with session.begin_nested():
            services.start_review(session, w.reviewer, app.id, expected_version=app.version - 1)
    services.start_review(session, w.reviewer, app.id, expected_version=app.version)
    with pytest.raises(StaleVersion):
        with session.begin_nested():
            services.approve(session, w.reviewer, app.id, expected_version=app.version - 1)
    services.approve(session, w.reviewer, app.id, expected_version=app.version)
    assert app.status == S.publicizing


def test_duplicate_and_foreign_products_are_refused(session):
    w = world(session)
    prod = product(session, w.company)
    first = draft(session, w.op, prod)
    assert prod.id not in {p.id for p in services.listable_products(session, w.op)}
    # The draft being edited keeps its own product among the choices.
    assert prod.id in {p.id for p in services.listable_products(session, w.op,
                                                                   app_id=first.id)}
    with pytest.raises(Invalid) as duplicate:
        services.create_application(session, w.op, services.ApplicationIn(
            kind=ApplicationKind.new_listing, product_id=prod.id, proposed_price="5.00"))
    assert duplicate.value.errors[0].field == "product_id"
    stranger = product(session, company(session))
    with pytest.raises(Invalid) as exc:
        services.create_application(session, w.op, services.ApplicationIn(
            kind=ApplicationKind.new_listing, product_id=stranger.id, proposed_price="5.00"))
    assert [e.field for e in exc.value.errors] == ["product_id"]
    with pytest.raises(Invalid) as exc:
        services.create_application(session, w.op, services.ApplicationIn(
            kind=ApplicationKind.new_listing, new_product=proposal(code="Y123"),
            proposed_price="5.00"))
    assert [e.field for e in exc.value.errors] == ["new_product.code"]
    with pytest.raises(Invalid) as exc:
        services.create_application(session, w.op, services.ApplicationIn(
            kind=ApplicationKind.new_listing, new_product=proposal(code=prod.code),
            proposed_price="5.00"))
    assert [e.field for e in exc.value.errors] == ["new_product.code"]
    with pytest.raises(Forbidden):
        services.create_application(session, w.reviewer, services.ApplicationIn(
            kind=ApplicationKind.new_listing, product_id=prod.id, proposed_price="5.00"))


def test_withdrawing_and_rejecting_retire_a_proposal(session):
    w = world(session)
    app = draft(session, w.op)
    services.withdraw(session, w.op, app.id)
    assert session.get(Product, app.product_id).status == ProductStatus.retired
    second = draft(session, w.op)
    drive(session, second, S.rejected, w.op, w.reviewer)
    assert second.decision_reason == "价格证明材料不实" and second.decided_at is not None
    assert session.get(Product, second.product_id).status == ProductStatus.retired
    with pytest.raises(Invalid) as exc:
        services.reject(session, w.reviewer, second.id, " ")
    assert exc.value.errors[0].field == "reason"


def test_returned_application_can_be_edited_but_submitted_cannot(session):
    w = world(session)
    prod = product(session, w.company)
    app = draft(session, w.op, prod)
    drive(session, app, S.submitted, w.op, w.reviewer)
    data = services.ApplicationIn(kind=ApplicationKind.new_listing, product_id=prod.id,
                                  proposed_price="4.00")
    with pytest.raises(Conflict):
        services.update_application(session, w.op, app.id, data)
    with pytest.raises(Conflict):
        services.set_evidence(session, w.op, app.id, [evidence()])
    services.start_review(session, w.reviewer, app.id)
    services.return_for_amendment(session, w.reviewer, app.id, "价格偏高")
    services.update_application(session, w.op, app.id, data)
    assert session.get(Application, app.id).proposed_price == D("4.00")


# --- price checks -----------------------------------------------------------------------------

def test_price_above_the_linkage_cap_is_refused_at_submit_and_nothing_is_written(session):
    w = world(session)
    app = draft(session, w.op, product(session, w.company), price="6.01",
                lines=[evidence("6.50", "浙江"), evidence("6.00", "江苏")])
    version, audit_before = app.version, audit_count(session)
    with pytest.raises(Invalid) as exc:
        with session.begin_nested():
            services.submit(session, w.op, app.id)
    assert [e.field for e in exc.value.errors] == ["proposed_price"]
    session.expire_all()
    app = session.get(Application, app.id)
    assert app.status == S.draft and app.version == version and app.round == 0
    assert app.check_passed is None and app.submitted_at is None
    assert checks(session, app.id) == []
    assert audit_count(session) == audit_before
    # The preview shows why, without storing anything.
    rule_version, result = services.preview_check(session, app)
    assert rule_version == 1 and not result.passed
    assert result.governing_rule == "linkage" and result.governing_cap == D("6.00")
    assert checks(session, app.id) == []
    # At the cap it passes.
    services.update_application(session, w.op, app.id, services.ApplicationIn(
        kind=ApplicationKind.new_listing, product_id=app.product_id, proposed_price="6.00"))
    services.submit(session, w.op, app.id)
    assert app.status == S.submitted


def test_price_difference_ratio_is_applied_at_review(session):
    """The representative product (10 mg × 24 at ¥3.00) becomes listed only after the 20 mg
    application was submitted: the review check applies 差比价 (cap ¥5.10) and stores every
    rule with its numbers."""
    w = world(session)
    rep = product(session, w.company, content="10", units=24)
    target = product(session, w.company, content="20", units=24)
    rep_app = draft(session, w.op, rep, price="3.00", lines=[evidence("3.20")])
    drive(session, rep_app, S.publicizing, w.op, w.reviewer)

    data = services.ApplicationIn(
        kind=ApplicationKind.new_listing, product_id=target.id, proposed_price="5.50",
        representative_product_id=rep.id, category=ListingCategory.vbp_non_supplying,
        vbp_own_price="4.00")
    app = services.create_application(session, w.op, data)
    services.set_evidence(session, w.op, app.id, [evidence("9.00", "浙江", date(2026, 2, 1))])
    services.submit(session, w.op, app.id)
    (at_submit,) = checks(session, app.id)
    assert at_submit.passed and at_submit.governing_rule == "vbp"  # 1.5 × 4.00 = 6.00
    assert at_submit.governing_cap == D("6.00")
    diff = {r["code"]: r for r in at_submit.result["results"]}["diff_ratio"]
    assert diff["applies"] is False  # the representative is not listed yet

    system = Actor.system_actor("test")
    services.end_publicity(session, system, as_of=rep_app.publicity_end + timedelta(days=1))
    services.start_review(session, w.reviewer, app.id)
    with pytest.raises(Conflict) as exc:
        with session.begin_nested():
            services.approve(session, w.reviewer, app.id)
    assert "5.10" in exc.value.detail and "diff_ratio" in exc.value.detail
    assert session.get(Application, app.id).status == S.under_review

    services.return_for_amendment(session, w.reviewer, app.id, "超出差比价上限5.10元")
    data = data.model_copy(update={"proposed_price": D("5.10")})
    services.update_application(session, w.op, app.id, data)
    services.submit(session, w.op, app.id)
    services.start_review(session, w.reviewer, app.id)
    services.approve(session, w.reviewer, app.id)
    assert app.status == S.publicizing
    review = checks(session, app.id)[-1]
    assert review.stage == CheckStage.review and review.rule_version == 1
    assert review.passed and review.governing_rule == "diff_ratio"
    assert review.governing_cap == D("5.10") and review.proposed_price == D("5.10")
    result = review.result
    assert result["passed"] is True and result["governing_cap"] == "5.10"
    by_code = {r["code"]: r for r in result["results"]}
    assert [r["code"] for r in result["results"]] == ["linkage", "diff_ratio", "vbp"]
    # Prices read back from the database carry the column's 4 decimal places ("9.0000").
    assert by_code["linkage"]["applies"] and D(by_code["linkage"]["cap"]) == D("9.00")
    assert by_code["linkage"]["numbers"]["lowest_province"] == "浙江"
    assert D(by_code["linkage"]["numbers"]["lowest_price"]) == D("9.00")
    assert by_code["diff_ratio"]["applies"] and by_code["diff_ratio"]["cap"] == "5.10"
    numbers = by_code["diff_ratio"]["numbers"]
    assert D(numbers["rep_price"]) == D("3.00") and numbers["k_content"] == "1.7000"
    assert numbers["k_form"] == numbers["k_units"] == "1.0000"
    assert numbers["k_product"] == "1.7000" and D(numbers["price"]) == D("5.10")
    assert numbers["cap"] == "5.10"
    assert rep.code in numbers["rep_label"]
    assert by_code["vbp"]["applies"] and by_code["vbp"]["cap"] == "6.00"
    assert by_code["vbp"]["numbers"]["multiplier"] == "1.5"
    assert D(by_code["vbp"]["numbers"]["own_winning_price"]) == D("4.00")
    history = services.price_checks(session, w.reviewer, app.id)
    assert [c.stage for c in history] == [CheckStage.review, CheckStage.submit,
                                          CheckStage.submit]


def test_representative_must_share_generic_name_and_applicant(session):
    w = world(session)
    target = product(session, w.company, content="20")
    other_name = product(session, w.company, generic_name="辛伐他汀片")
    foreign = product(session, company(session), content="10")
    for rep in (other_name, foreign, target):
        with pytest.raises(Invalid) as exc:
            services.create_application(session, w.op, services.ApplicationIn(
                kind=ApplicationKind.new_listing, product_id=target.id, proposed_price="5.00",
                representative_product_id=rep.id))
        assert [e.field for e in exc.value.errors] == ["representative_product_id"]


def test_vbp_category_needs_the_winning_price(session):
    w = world(session)
    with pytest.raises(Invalid) as exc:
        services.create_application(session, w.op, services.ApplicationIn(
            kind=ApplicationKind.new_listing, product_id=product(session, w.company).id,
            proposed_price="5.00", category=ListingCategory.vbp_winner))
    assert [e.field for e in exc.value.errors] == ["vbp_own_price"]


def test_representative_listed_lowers_the_cap_at_submit_too(session):
    w = world(session)
    rep = product(session, w.company, content="10")
    list_product(session, w, rep, "3.00", lines=[evidence("3.50")])
    target = product(session, w.company, content="40")
    app = draft(session, w.op, target, price="8.68", lines=[evidence("20.00")],
                representative_product_id=rep.id)
    with pytest.raises(Invalid) as exc:
        with session.begin_nested():
            services.submit(session, w.op, app.id)
    assert exc.value.errors[0].field == "proposed_price"
    assert checks(session, app.id) == []
    services.update_application(session, w.op, app.id, services.ApplicationIn(
        kind=ApplicationKind.new_listing, product_id=target.id, proposed_price="8.67",
        representative_product_id=rep.id))
    services.submit(session, w.op, app.id)
    (check,) = checks(session, app.id)
    assert check.governing_rule == "diff_ratio" and check.governing_cap == D("8.67")


def test_reviewer_only_permission_is_checked_before_the_price_check(session):
    """An applicant calling approve gets 403, even when the price would now fail: the
    permission is checked before the price rules run (and store anything)."""
    from listing.models import ReferencePrice

    w = world(session)
    prod = product(session, w.company)
    app = draft(session, w.op, prod, price="5.00", lines=[evidence("6.00")])
    drive(session, app, S.under_review, w.op, w.reviewer)
    session.add(ReferencePrice(product_id=prod.id, province="上海", price=D("4.00"),
                               price_date=date(2026, 6, 1), source="上海挂网"))
    session.flush()
    before = count(session, PriceCheck)
    with pytest.raises(Forbidden):
        services.approve(session, w.op, app.id)
    assert count(session, PriceCheck) == before
    with pytest.raises(Conflict) as exc:
        with session.begin_nested():
            services.approve(session, w.reviewer, app.id)
    assert "4.00" in exc.value.detail


def test_queue_and_status_counts(session):
    w = world(session)
    a = draft(session, w.op, product(session, w.company))
    b = draft(session, w.op, product(session, w.company))
    drive(session, a, S.submitted, w.op, w.reviewer)
    drive(session, b, S.under_review, w.op, w.reviewer)
    queue = services.list_applications(session, w.reviewer, queue=True,
                                       org_id=w.company.id)
    assert [x.id for x, _, _ in queue.items] == [a.id, b.id]  # oldest submission first
    mine = services.list_applications(session, w.reviewer, assigned="me", org_id=w.company.id)
    assert [x.id for x, _, _ in mine.items] == [b.id]
    with pytest.raises(Forbidden):
        services.list_applications(session, w.op, queue=True)
    counts = services.status_counts(session, w.op)
    assert counts == {"submitted": 1, "under_review": 1}
    assert session.exec(select(Application).where(Application.org_id == w.company.id)
                        ).all() != []


def test_field_checks_on_drafts(session, clock):
    w = world(session)
    prod = product(session, w.company)
    app = draft(session, w.op, prod)
    with pytest.raises(Invalid) as exc:
        services.set_evidence(session, w.op, app.id, [
            evidence("6.00", "浙江", date(2026, 9, 30)), evidence("6.00", "江苏", date(2026, 10, 1))])
    assert [(e.field, e.row) for e in exc.value.errors] == [("evidence_date", 2)]
    assert len(services.evidence_lines(session, w.op, app.id)) == 1  # unchanged
    with pytest.raises(Invalid) as exc:
        services.update_application(session, w.op, app.id, services.ApplicationIn(
            kind=ApplicationKind.price_change, product_id=prod.id, proposed_price="5.00"))
    assert exc.value.errors[0].field == "kind"
    with pytest.raises(Conflict):
        services.update_application(session, w.op, app.id, services.ApplicationIn(
            kind=ApplicationKind.new_listing, product_id=prod.id, proposed_price="4.00"),
            expected_version=app.version - 1)
    with pytest.raises(Conflict):  # only submitted or under-review applications are assigned
        services.assign(session, w.reviewer, app.id, w.reviewer.user_id)
    with pytest.raises(Forbidden):
        services.assign(session, w.op, app.id, None)
    services.withdraw(session, w.op, app.id)
    assert session.get(Product, prod.id).status == ProductStatus.active  # a catalogue product


def test_the_review_time_limit_is_the_services(session):
    """The queue marks an application overdue from ``REVIEW_SLA`` on (the page holds no
    threshold of its own)."""
    w = world(session)
    app = draft(session, w.op)
    services.submit(session, w.op, app.id)
    start = app.submitted_at
    assert services.waiting_times([app], start + services.REVIEW_SLA - timedelta(hours=1)) \
        == {app.id: services.Waiting(4, 23, False)}
    assert services.waiting_times([app], start + services.REVIEW_SLA)[app.id].overdue
    assert services.waiting_times([draft(session, w.op)]) == {}
