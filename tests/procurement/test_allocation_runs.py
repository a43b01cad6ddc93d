"""Allocation runs as a job and the agreements they are published as (DOMAIN §2)."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlmodel import select

from core import jobs, rules
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.models import Job, JobStatus
from core.states import IllegalTransition
from procurement import services
from procurement import services_allocation as alloc
from procurement import services_award as award
from procurement.models import (
    AgreementStatus,
    AllocationLine,
    AllocationRun,
    AwardStage,
    BatchStatus,
    RunStatus,
)
from procurement.rules import ProcurementRuleParams
from tests.procurement.factories import batch_in_bidding, bid, cast, report, to_allocating

D = Decimal


@pytest.fixture(autouse=True)
def app_context(app):
    # Enqueueing a job needs the app (its broker); these tests make no client requests.
    with app.app_context():
        yield


@pytest.fixture
def world(session):
    """Winners W1 (ucp 0.50) and W2 (ucp 0.80, capacity 200); hospitals H1 in 杭州 (agreed
    600 of a report of 1,000) and H2 in 宁波 (agreed 300 of 500). W1 supplies both cities,
    W2 only 宁波."""
    c = cast(session, cities=("330106", "330203"), companies=2)
    current = rules.current(session, services.RULE_SET)
    rules.publish(session, c.manager, services.RULE_SET,
                  ProcurementRuleParams(**(current.params.model_dump() | {"entrant_cap_k": 0})))
    batch, (bp,) = batch_in_bidding(session, c)
    batch.cycle_start = date(2027, 1, 1)
    report(session, c, bp, [1000, 500])
    services.move_batch(session, c.manager, batch.id, "open_bidding", reason="报量截止前开始投标（测试）")
    bid(session, c.companies[0], bp, "0.50")
    bid(session, c.companies[1], bp, "0.80", capacity=200)
    to_allocating(session, c, batch)
    w1, w2 = c.companies
    award.pick_region(session, w1.op, bp.id, "330100")
    award.pick_region(session, w2.op, bp.id, "330200")
    award.pick_region(session, w1.op, bp.id, "330200")
    award.finish_regions(session, w2.op, bp.id)
    award.close_regions(session, c.manager, batch.id)
    return c, batch, bp


def run(app, session, c, batch) -> AllocationRun:
    """Start a run and execute its job here, through the job wrapper (claim, the three
    phases, the stored outcome) on the test's connection."""
    r = alloc.start_run(session, c.manager, batch.id)
    jobs.run_job(app, jobs.registered_jobs()[alloc.JOB_NAME], r.job_id)
    session.expire_all()
    return session.get(AllocationRun, r.id)


def winner_ids(session, batch, c):
    (res,) = award.results(session, c.manager, batch.id)
    return {w.org_id: w.id for w in res.winners}


def test_build_problem_agreed_volume_regions_and_pool_floor(session, world):
    c, batch, bp = world
    p = alloc.build_problem(session, batch)
    (prob,) = p.problems
    h1, h2 = (h.org.code for h in c.hospitals)
    e1, e2 = (e.org.code for e in c.companies)
    assert sorted((d.hospital, d.volume) for d in prob.demands) == sorted([(h1, 600), (h2, 300)])
    assert sorted((ch.hospital, ch.enterprise, ch.rank) for ch in prob.choices) == sorted(
        [(h1, e1, 1), (h2, e1, 1), (h2, e2, 1)])
    # Every default first choice is the lowest price (W1): nothing is released to the pool.
    assert {w.enterprise: (w.unit_price, w.capacity, w.min_units) for w in prob.winners} == {
        e1: (D("0.5000"), None, 0), e2: (D("0.8000"), 200, 0)}
    ids = winner_ids(session, batch, c)
    award.set_choices(session, c.hospitals[1].op, bp.id,
                      {ids[c.companies[1].org.id]: 1, ids[c.companies[0].org.id]: 2})
    (prob,) = alloc.build_problem(session, batch).problems
    # H2's first choice W2 is 1.6 × the lowest: it keeps 85 % (ceil 255) and releases 45,
    # of which 30 % (ceil 13.5 = 14) must go to the lowest-price winner.
    assert {w.enterprise: w.min_units for w in prob.winners} == {e1: 14, e2: 0}


def test_run_solves_stores_and_publishes_agreements(app, session, world):
    c, batch, bp = world
    ids = winner_ids(session, batch, c)
    w1, w2 = (ids[e.org.id] for e in c.companies)
    h1, h2 = c.hospitals
    award.set_choices(session, h2.op, bp.id, {w2: 1, w1: 2})
    r = run(app, session, c, batch)
    assert r.status == RunStatus.optimal and r.products_done == r.products_total == 1
    # W2 has capacity 200: H2 gets 200 from its first choice and 100 from its second.
    assert (r.rank_penalty, r.agreed_units, r.hospitals) == (100, 900, 2)
    assert r.total_cost_fen == 600 * 50 + 200 * 80 + 100 * 50
    lines = sorted((ln.hospital_id, ln.winner_id, ln.volume) for ln in session.exec(
        select(AllocationLine).where(AllocationLine.run_id == r.id)))
    assert lines == sorted([(h1.org.id, w1, 600), (h2.org.id, w2, 200), (h2.org.id, w1, 100)])
    assert session.get(Job, r.job_id).status == JobStatus.succeeded
    # The same job delivered again does nothing more.
    jobs.run_job(app, jobs.registered_jobs()[alloc.JOB_NAME], r.job_id)
    assert len(session.exec(select(AllocationLine).where(
        AllocationLine.run_id == r.id)).all()) == 3

    with pytest.raises(NotFound):  # runs are the bureau's
        alloc.get_run(session, h1.op, r.id)
    agreements = alloc.publish_run(session, c.manager, r.id)
    assert batch.award_stage == AwardStage.agreements and r.status == RunStatus.published
    got = sorted((a.hospital_id, a.winner_id, a.year, a.volume, a.unit_price, a.amount_fen,
                  a.starts_on.isoformat(), a.ends_on.isoformat()) for a in agreements)
    assert got == sorted([
        (h1.org.id, w1, 1, 600, D("0.5000"), 30000, "2027-01-01", "2027-12-31"),
        (h2.org.id, w2, 1, 200, D("0.8000"), 16000, "2027-01-01", "2027-12-31"),
        (h2.org.id, w1, 1, 100, D("0.5000"), 5000, "2027-01-01", "2027-12-31")])
    with pytest.raises(Conflict):
        alloc.publish_run(session, c.manager, r.id)


def test_a_second_run_supersedes_and_a_running_one_blocks(app, session, world):
    c, batch, _ = world
    first = run(app, session, c, batch)
    pending = alloc.start_run(session, c.manager, batch.id)
    with pytest.raises(Conflict):
        alloc.start_run(session, c.manager, batch.id)
    with pytest.raises(Conflict):  # a later run exists
        alloc.publish_run(session, c.manager, first.id)
    jobs.run_job(app, jobs.registered_jobs()[alloc.JOB_NAME], pending.job_id)
    session.expire_all()
    alloc.publish_run(session, c.manager, pending.id)
    assert session.get(AllocationRun, first.id).status == RunStatus.superseded


def test_an_infeasible_run_is_explained(app, session, world):
    c, batch, bp = world
    ids = winner_ids(session, batch, c)
    # H2 accepts only W2, whose capacity (200) is below H2's 300 units.
    award.set_choices(session, c.hospitals[1].op, bp.id, {ids[c.companies[1].org.id]: 1})
    r = run(app, session, c, batch)
    assert r.status == RunStatus.infeasible and r.rank_penalty is None
    text = " ".join(r.diagnosis)
    assert "P01" in text and "100" in text, text
    assert not session.exec(select(AllocationLine).where(AllocationLine.run_id == r.id)).all()
    with pytest.raises(Conflict):
        alloc.publish_run(session, c.manager, r.id)


def _published(app, session, world):
    c, batch, _ = world
    r = run(app, session, c, batch)
    return c, batch, alloc.publish_run(session, c.manager, r.id)


def test_agreements_are_signed_by_both_sides(app, session, world):
    c, batch, agreements = _published(app, session, world)
    h1, h2 = c.hospitals
    w1, w2 = c.companies
    a = next(x for x in agreements if x.hospital_id == h1.org.id)
    with pytest.raises(NotFound):  # another hospital does not see it
        alloc.sign(session, h2.op, a.id)
    with pytest.raises(Forbidden):  # the bureau is no party
        alloc.sign(session, c.manager, a.id)
    with pytest.raises(Conflict):  # a stale page
        alloc.sign(session, h1.op, a.id, expected_version=a.version + 1)
    alloc.sign(session, h1.op, a.id, expected_version=a.version)
    assert a.status == AgreementStatus.hospital_signed and a.hospital_signed_by == h1.op.user_id
    with pytest.raises(IllegalTransition):
        alloc.sign(session, h1.op, a.id)
    alloc.sign(session, w1.op, a.id)
    assert a.status == AgreementStatus.signed and a.enterprise_signed_at is not None
    with pytest.raises(Conflict):  # not every agreement is signed yet
        services.move_batch(session, c.manager, batch.id, "execute")
    for party in (h2, w1, w2):
        alloc.sign_all(session, party.op, batch.id, 1)
    assert alloc.sign_all(session, h2.op, batch.id, 1) == 0
    summary = alloc.agreement_summary(session, c.manager, batch.id)
    # By default both hospitals take everything from the cheapest winner W1 it can reach.
    assert summary == {1: {"signed": {"count": 2, "units": 900, "amount_fen": 45000}}}
    assert alloc.agreement_summary(session, h1.op, batch.id) == {
        1: {"signed": {"count": 1, "units": 600, "amount_fen": 30000}}}
    services.move_batch(session, c.manager, batch.id, "execute")
    assert batch.status == BatchStatus.executing
    services.move_batch(session, c.manager, batch.id, "close")
    assert batch.status == BatchStatus.closed


def test_renewal_is_never_below_last_year(app, session, world):
    c, batch, agreements = _published(app, session, world)
    with pytest.raises(Conflict):  # the batch is not executing yet
        alloc.renew(session, c.manager, batch.id, 2)
    for party in c.hospitals + c.companies:
        alloc.sign_all(session, party.op, batch.id, 1)
    services.move_batch(session, c.manager, batch.id, "execute")
    with pytest.raises(Invalid):  # the cycle is two years
        alloc.renew(session, c.manager, batch.id, 3)
    assert alloc.renew(session, c.manager, batch.id, 2) == 2
    assert alloc.renew(session, c.manager, batch.id, 2) == 0  # nothing doubled
    h1 = c.hospitals[0]
    (renewal,) = alloc.list_agreements(session, h1.op, batch.id, year=2).items
    assert (renewal.volume, renewal.status, renewal.starts_on.isoformat()) == (
        600, AgreementStatus.proposed, "2028-01-01")
    with pytest.raises(Invalid) as exc:
        alloc.set_volume(session, h1.op, renewal.id, 599)
    assert exc.value.errors[0].field == "volume"
    with pytest.raises(Forbidden):
        alloc.set_volume(session, c.companies[0].op, renewal.id, 700)
    alloc.set_volume(session, h1.op, renewal.id, 650)
    assert (renewal.volume, renewal.amount_fen) == (650, 32500)
    first_year = next(a for a in agreements if a.id == renewal.previous_id)
    with pytest.raises(Conflict):  # a first-year agreement's volume is the allocation's
        alloc.set_volume(session, h1.op, first_year.id, 700)
    alloc.sign(session, h1.op, renewal.id)
    with pytest.raises(Conflict):  # signed: fixed
        alloc.set_volume(session, h1.op, renewal.id, 700)


@pytest.mark.parametrize("status", list(AgreementStatus))
@pytest.mark.parametrize("side", ["hospital", "enterprise"])
def test_agreement_transition_table(app, session, world, status, side):
    c, batch, agreements = _published(app, session, world)
    a = next(x for x in agreements if x.hospital_id == c.hospitals[0].org.id)
    a.status = status
    session.add(a)
    session.flush()
    allowed = {("hospital", AgreementStatus.proposed): AgreementStatus.hospital_signed,
               ("hospital", AgreementStatus.enterprise_signed): AgreementStatus.signed,
               ("enterprise", AgreementStatus.proposed): AgreementStatus.enterprise_signed,
               ("enterprise", AgreementStatus.hospital_signed): AgreementStatus.signed}
    party = c.hospitals[0] if side == "hospital" else c.companies[0]
    version = a.version
    if (side, status) in allowed:
        alloc.sign(session, party.op, a.id)
        assert a.status == allowed[(side, status)] and a.version == version + 1
    else:
        with pytest.raises(IllegalTransition) as exc:
            alloc.sign(session, party.op, a.id)
        assert exc.value.status == 409
        session.refresh(a)
        assert a.status == status and a.version == version


@pytest.mark.parametrize(("rep", "own", "package", "units", "expected"), [
    # (rep content, unit, ml), (own content, unit, ml), package price, units, price per rep unit
    ((D("10"), "mg", None), (D("10"), "mg", None), D("7.00"), 14, D("0.5000")),
    ((D("10"), "mg", None), (D("20"), "mg", None), D("14.00"), 14, D("0.5000")),  # 2 units
    ((D("0.5"), "g", None), (D("250"), "mg", None), D("3.00"), 12, D("0.5000")),  # ½ unit
    ((D("2"), "mg", D("5")), (D("2"), "mg", D("10")), D("8.00"), 4, D("1.0000")),  # 2 × fill
    ((None, None, None), (D("20"), "mg", None), D("9.00"), 10, D("0.9000")),  # no rep content
])
def test_agreement_prices_are_per_representative_unit(rep, own, package, units, expected):
    from listing.models import Product
    from procurement.models import BatchProduct

    bp = BatchProduct(batch_id=1, code="P01", generic_name="x", dosage_form="普通片",
                      rep_content_value=rep[0], rep_content_unit=rep[1], rep_volume_ml=rep[2],
                      smallest_unit="片", max_ucp=D("9"))
    product = Product(code="X", generic_name="x", content_value=own[0], content_unit=own[1],
                      volume_ml=own[2], units_per_package=units)
    price = alloc.unit_price(package, units, alloc.strength_ratio(bp, product))
    assert price == expected
    # What the hospital pays for 1,000 representative units is what it pays for the packages.
    packages = D(1000) / alloc.strength_ratio(bp, product) / units
    assert price * 1000 == (package * packages).quantize(D("0.0001"))


def test_progress_is_stored_after_every_step(session):
    """Three products, solved one per step: the run's progress reads 1, 2, 3 of 3 from the
    short transactions the job writes it in, then the outcome is stored."""
    c = cast(session, cities=("330106",), companies=1)
    batch, bps = batch_in_bidding(session, c, products=3)
    for bp in bps:
        report(session, c, bp, [100])
    services.move_batch(session, c.manager, batch.id, "open_bidding", reason="报量截止前开始投标（测试）")
    for bp in bps:
        bid(session, c.companies[0], bp, "0.50")
    to_allocating(session, c, batch)
    for bp in bps:
        award.pick_region(session, c.companies[0].op, bp.id, "330100")
    award.close_regions(session, c.manager, batch.id)
    r = alloc.start_run(session, c.manager, batch.id)
    assert (r.status, r.products_total, r.products_done) == (RunStatus.queued, 3, 0)

    loaded = alloc.load_run(session, r.id)
    assert session.get(AllocationRun, r.id).status == RunStatus.running
    seen = []

    def write(fn):
        fn(session)
        session.expire_all()
        seen.append(session.get(AllocationRun, r.id).products_done)

    solved = alloc.solve_run(loaded, write)
    assert seen == [1, 2, 3]
    assert alloc.store_run(session, solved, r.id)["status"] == "optimal"
    session.expire_all()
    done = session.get(AllocationRun, r.id)
    assert (done.status, done.products_done, done.agreed_units) == (RunStatus.optimal, 3, 150)
    # A repeated store (a redelivered job) changes nothing.
    assert alloc.store_run(session, solved, r.id) == {"skipped": "optimal"}


def test_exports_as_csv(app, session, world):
    """The run's agreed volumes (bureau) and the agreements in each party's scope as CSV."""
    import csv
    import io

    c, batch, bp = world
    r = run(app, session, c, batch)
    alloc.publish_run(session, c.manager, r.id)

    def table(data: bytes) -> list[list[str]]:
        assert data.startswith(b"\xef\xbb\xbf")  # a BOM: Excel reads the Chinese names
        return list(csv.reader(io.StringIO(data[3:].decode("utf-8"))))

    header, *lines = table(alloc.run_lines_csv(session, c.manager, r.id))
    assert header == ["product_code", "generic_name", "hospital_code", "hospital",
                      "enterprise_code", "enterprise", "volume"]
    h1, h2 = c.hospitals
    w1 = c.companies[0]
    assert sorted((ln[0], ln[2], ln[4], ln[6]) for ln in lines) == sorted(
        [("P01", h1.org.code, w1.org.code, "600"), ("P01", h2.org.code, w1.org.code, "300")])
    with pytest.raises(NotFound):
        alloc.run_lines_csv(session, h1.op, r.id)

    header, *rows = table(alloc.agreements_csv(session, h1.op, batch.id))
    assert header[-4:] == ["volume", "unit_price", "amount_yuan", "status"]
    assert [(row[2], row[6], row[9], row[10], row[11], row[12]) for row in rows] == [
        (h1.org.code, "1", "600", "0.5000", "300.00", "proposed")]  # only its own
    assert len(table(alloc.agreements_csv(session, c.manager, batch.id))) == 3
    assert len(table(alloc.agreements_csv(session, c.manager, batch.id, year=2))) == 1


def test_a_hospital_no_winner_supplies_is_named(app, session, world):
    """A hospital that moved to a city nobody supplies after the regions were closed (its
    organisation record was corrected): the run is infeasible and says who and where."""
    c, batch, _ = world
    h2 = c.hospitals[1].org
    h2.region_code = "330402"  # 嘉兴市南湖区
    session.add(h2)
    session.flush()
    r = run(app, session, c, batch)
    assert r.status == RunStatus.infeasible
    assert r.diagnosis == [f"P01: {h2.code} ({h2.name}) in region 330400 (嘉兴市) has no "
                           f"supplier; 300 units cannot be placed"]


def test_every_status_change_of_a_run_is_a_recorded_transition(app, session, world):
    """queued → running → optimal in the job, → superseded and → published by the bureau:
    each move is made by the run's workflow and leaves its audit record."""
    from core.models import AuditLog

    c, batch, _ = world
    first = run(app, session, c, batch)
    second = run(app, session, c, batch)
    alloc.publish_run(session, c.manager, second.id)
    moves = [(a.action, a.before, a.after["status"]) for a in session.exec(
        select(AuditLog).where(AuditLog.object_type == "vbp_allocation_run",
                               AuditLog.action.like("vbp_allocation_run.%"))
        .order_by(AuditLog.id))]
    assert moves == [
        ("vbp_allocation_run.start", {"status": "queued"}, "running"),
        ("vbp_allocation_run.solve", {"status": "running"}, "optimal"),
        ("vbp_allocation_run.start", {"status": "queued"}, "running"),
        ("vbp_allocation_run.solve", {"status": "running"}, "optimal"),
        ("vbp_allocation_run.supersede", {"status": ["infeasible", "optimal"]}, "superseded"),
        ("vbp_allocation_run.publish", {"status": "optimal"}, "published"),
    ]
    assert session.get(AllocationRun, first.id).status == RunStatus.superseded
    with pytest.raises(IllegalTransition):  # nothing moves a published run again
        alloc.RUN_FLOW.transition(session, session.get(AllocationRun, second.id), "publish",
                                  c.manager)
