"""Tests of the procurement demo data (procurement.demo): the whole ``flask demo load`` on a
scratch database, committed as the command does, then loaded a second time."""
from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import UTC, datetime
from decimal import ROUND_CEILING, Decimal

import pytest
import sqlalchemy as sa
from sqlmodel import select

from core.audit import verify_chain
from core.auth import actor_for_user
from core.cli import DEMO_LOADERS
from core.migrate import upgrade
from core.models import AuditLog, Job, JobStatus, Organisation, OrgKind, OrgStatus, User
from listing.models import ImportBatch, Listing, Product
from procurement import demo, services
from procurement import services_award as award
from procurement.models import (
    Agreement,
    AgreementStatus,
    AllocationLine,
    AllocationRun,
    AwardStage,
    Batch,
    BatchProduct,
    BatchStatus,
    Bid,
    BidStatus,
    Choice,
    RegionPick,
    RunStatus,
    Selection,
    SupplyRole,
    VolumeReport,
    Winner,
)
from tests.conftest import make_test_app
from tests.support import drop_scratch_database, scratch_database

TABLES = (Batch, BatchProduct, VolumeReport, Bid, Selection, Winner, RegionPick, Choice,
          AllocationRun, AllocationLine, Agreement, Product, Listing, ImportBatch, Job, AuditLog)


@pytest.fixture(scope="module")
def demo_app(tmp_path_factory):
    url = scratch_database(str(tmp_path_factory.mktemp("procurement-demo")), "procurement_demo")
    upgrade(url)
    app = make_test_app(url, tmp_path_factory)
    try:
        yield app
    finally:
        app.extensions["yaocai.db"].dispose()
        drop_scratch_database(url)


def _load(app) -> dict:
    result = app.test_cli_runner().invoke(args=["demo", "load"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def first(demo_app) -> dict:
    return _load(demo_app)


@pytest.fixture
def s(demo_app, first):
    session = demo_app.extensions["yaocai.db"].new_session()
    try:
        yield session
    finally:
        session.close()


def _count(session, model, *where) -> int:
    return int(session.execute(sa.select(sa.func.count()).select_from(model).where(*where))
               .scalar_one())


def _batch(session, code: str) -> Batch:
    return session.exec(select(Batch).where(Batch.code == code)).one()


def _user(session, username: str) -> User:
    return session.exec(select(User).where(User.username == username)).one()


def _products(session, batch: Batch) -> list[BatchProduct]:
    return list(session.exec(select(BatchProduct).where(BatchProduct.batch_id == batch.id)
                             .order_by(BatchProduct.code)))


def _active_hospitals(session) -> list[Organisation]:
    return list(session.exec(select(Organisation).where(
        Organisation.kind == OrgKind.hospital, Organisation.status == OrgStatus.active)))


def test_the_loader_is_registered_after_listing() -> None:
    names = [name for name, _ in DEMO_LOADERS]
    assert ("procurement", demo.load) in DEMO_LOADERS
    assert names.index("listing") < names.index("procurement")


def test_the_finished_batch(s, first) -> None:
    assert first["procurement"]["created"] == [demo.FINISHED, demo.OPEN]
    batch = _batch(s, demo.FINISHED)
    assert (batch.status, batch.award_stage) == (BatchStatus.executing, AwardStage.agreements)
    assert batch.name == "浙江省2026年第一批药品带量采购"
    assert batch.cycle_start.isoformat() == "2026-07-01"
    now = datetime.now(UTC)
    for moment in (batch.report_deadline, batch.bid_opens_at, batch.bid_closes_at,
                   batch.created_at, batch.status_changed_at):
        assert moment.tzinfo is not None and moment < now
    assert batch.report_deadline < batch.bid_opens_at < batch.bid_closes_at
    products = _products(s, batch)
    assert len(products) >= 10
    # Generic names of the demo catalogue, each held by several demo companies.
    holders = {name: n for name, n in s.execute(
        sa.select(Product.generic_name, sa.func.count(sa.distinct(Product.mah_org_id)))
        .group_by(Product.generic_name)).all()}
    assert all(holders[p.generic_name] >= 2 for p in products)


def test_every_hospital_reported_every_product(s) -> None:
    batch = _batch(s, demo.FINISHED)
    products = _products(s, batch)
    hospitals = _active_hospitals(s)
    assert len(hospitals) >= 38
    pairs = set(s.execute(sa.select(VolumeReport.batch_product_id, VolumeReport.org_id)
                          .where(VolumeReport.batch_id == batch.id)).all())
    assert pairs == {(p.id, h.id) for p in products for h in hospitals}
    bureau = actor_for_user(s, _user(s, "admin"))
    assert services.missing_reporters(s, bureau, batch.id) == []
    reports = list(s.exec(select(VolumeReport).where(VolumeReport.batch_id == batch.id)))
    low = [r for r in reports
           if Decimal(r.demand) < Decimal("0.8") * (r.usage_last_year + r.usage_year_before) / 2]
    assert 2 <= len(low) <= 8 and all(r.explanation for r in low)
    assert {r.source.value for r in reports} == {"entered", "upload"}
    assert all(r.created_at < batch.report_deadline for r in reports)
    # Sized by hospital type: a general hospital reports more statins than a community centre.
    by_name = {h.id: h.name for h in hospitals}
    atorvastatin = next(p for p in products if p.generic_name == "阿托伐他汀钙")
    mean = defaultdict(list)
    for r in reports:
        if r.batch_product_id == atorvastatin.id:
            mean[demo.hospital_type(by_name[r.org_id])].append(r.demand)
    assert sum(mean["general"]) / len(mean["general"]) > 2 * (
        sum(mean["community"]) / len(mean["community"]))


def test_bids_and_winners(s) -> None:
    batch = _batch(s, demo.FINISHED)
    products = {p.id: p for p in _products(s, batch)}
    bids = list(s.exec(select(Bid).where(Bid.batch_id == batch.id)))
    assert all(b.status == BidStatus.submitted and b.ucp <= products[b.batch_product_id].max_ucp
               for b in bids)
    assert all(batch.bid_opens_at <= b.submitted_at < batch.bid_closes_at for b in bids)
    per_product = Counter(b.batch_product_id for b in bids)
    assert set(per_product) == set(products)
    assert min(per_product.values()) >= 2 and max(per_product.values()) >= 6
    assert all(Decimal("0.02") <= b.ucp <= Decimal("3") for b in bids)
    assert any(b.ucp <= Decimal("0.10") for b in bids)
    assert sum(b.capacity is not None for b in bids) >= 2
    selections = list(s.exec(select(Selection).where(Selection.batch_id == batch.id)))
    assert len(selections) == len(products)
    assert all(sel.rule_version == batch.rule_version and sel.winners >= 1
               for sel in selections)
    assert any(sel.winners >= 3 for sel in selections)
    rules = {v["rule"] for sel in selections for v in sel.detail["verdicts"]}
    assert {"won_multiplier", "won_floor", "lost_cap", "lost_threshold"} <= rules
    winners = list(s.exec(select(Winner).where(Winner.batch_id == batch.id)))
    assert {w.batch_product_id for w in winners} == set(products)
    pharma = _user(s, "pharma").org_id
    assert len({w.batch_product_id for w in winners if w.org_id == pharma}) >= 3


def test_supply_regions(s) -> None:
    batch = _batch(s, demo.FINISHED)
    cities = award.supply_regions(s, batch.id)
    assert len(cities) == 8
    picks = list(s.exec(select(RegionPick).where(RegionPick.batch_id == batch.id)))
    primary = defaultdict(set)
    for p in picks:
        if p.role == SupplyRole.primary:
            primary[p.batch_product_id].add(p.region_code)
    assert all(regions == set(cities) for regions in primary.values())
    assert len(primary) == len(_products(s, batch))
    assert any(p.assigned and p.role == SupplyRole.primary for p in picks)  # nobody picked
    assert any(not p.assigned for p in picks)
    assert any(p.role == SupplyRole.backup for p in picks)
    # Winners picked in ucp order: each product's first pick is its rank-1 winner's.
    ranks = {w.id: w.rank for w in s.exec(select(Winner).where(Winner.batch_id == batch.id))}
    first_pick = {}
    for p in sorted(picks, key=lambda p: p.turn):
        first_pick.setdefault(p.batch_product_id, p)
    assert all(ranks[p.winner_id] == 1 for p in first_pick.values())
    done = list(s.exec(select(Winner).where(Winner.batch_id == batch.id,
                                            Winner.regions_done_at.is_not(None))))
    assert done  # some winners stopped early


def test_choices(s) -> None:
    batch = _batch(s, demo.FINISHED)
    choices = list(s.exec(select(Choice).where(Choice.batch_id == batch.id)))
    choosers = {c.org_id for c in choices}
    assert 3 <= len(choosers) < len(_active_hospitals(s))
    assert _user(s, "hospital").org_id in choosers
    assert any(c.rank == 2 for c in choices)


def test_an_optimal_run_whose_volumes_are_the_agreements(s, first) -> None:
    batch = _batch(s, demo.FINISHED)
    (run,) = s.exec(select(AllocationRun).where(AllocationRun.batch_id == batch.id)).all()
    assert run.status == RunStatus.published and run.diagnosis == []
    assert run.products_total == run.products_done == len(_products(s, batch))
    assert run.hospitals == len(_active_hospitals(s)) and run.variables > 0
    assert run.rank_penalty is not None and run.rank_penalty > 0  # a capacity binds
    assert run.total_cost_fen > 0 and run.finished_at.tzinfo is not None
    job = s.get(Job, run.job_id)
    assert job.status == JobStatus.succeeded and job.finished_at is not None
    assert first["procurement"]["demo_run"]["rank_penalty"] == run.rank_penalty

    lines = Counter()
    for ln in s.exec(select(AllocationLine).where(AllocationLine.run_id == run.id)):
        lines[(ln.batch_product_id, ln.hospital_id, ln.winner_id)] += ln.volume
    agreements = list(s.exec(select(Agreement).where(Agreement.batch_id == batch.id)))
    assert Counter({(a.batch_product_id, a.hospital_id, a.winner_id): a.volume
                    for a in agreements}) == lines
    assert sum(a.volume for a in agreements) == run.agreed_units
    # A hospital's agreed volume is its report × the product's agreed ratio.
    ratio = {sel.batch_product_id: sel.agreed_ratio for sel in s.exec(
        select(Selection).where(Selection.batch_id == batch.id))}
    agreed = Counter()
    for a in agreements:
        agreed[(a.batch_product_id, a.hospital_id)] += a.volume
    for r in s.exec(select(VolumeReport).where(VolumeReport.batch_id == batch.id)):
        expected = int((Decimal(r.demand) * ratio[r.batch_product_id])
                       .to_integral_value(rounding=ROUND_CEILING))
        assert agreed[(r.batch_product_id, r.org_id)] == expected
    # Declared capacities hold.
    supplied = Counter()
    for a in agreements:
        supplied[a.winner_id] += a.volume
    for w in s.exec(select(Winner).where(Winner.batch_id == batch.id,
                                         Winner.capacity.is_not(None))):
        assert supplied[w.id] <= w.capacity


def test_every_first_year_agreement_is_signed(s) -> None:
    batch = _batch(s, demo.FINISHED)
    agreements = list(s.exec(select(Agreement).where(Agreement.batch_id == batch.id)))
    assert agreements and all(a.year == 1 for a in agreements)
    for a in agreements:
        assert a.status == AgreementStatus.signed
        assert a.hospital_signed_by and a.enterprise_signed_by
        assert a.hospital_signed_at < datetime(2026, 7, 1, tzinfo=UTC)
        assert a.enterprise_signed_at < datetime(2026, 7, 1, tzinfo=UTC)
        assert (a.starts_on.isoformat(), a.ends_on.isoformat()) == ("2026-07-01", "2027-06-30")
        assert a.amount_fen > 0
    pharma, hospital = _user(s, "pharma").org_id, _user(s, "hospital").org_id
    assert sum(a.enterprise_id == pharma for a in agreements) >= 20
    assert sum(a.hospital_id == hospital for a in agreements) >= len(_products(s, batch))


def test_the_open_batch_is_reporting_with_missing_reporters(s) -> None:
    batch = _batch(s, demo.OPEN)
    assert batch.status == BatchStatus.reporting
    assert batch.report_deadline > datetime.now(UTC)
    assert batch.report_deadline < batch.bid_opens_at < batch.bid_closes_at
    assert len(_products(s, batch)) >= 5
    bureau = actor_for_user(s, _user(s, "admin"))
    missing = services.missing_reporters(s, bureau, batch.id)
    hospital = _user(s, "hospital").org_id
    assert 5 <= len(missing) < len(_active_hospitals(s))
    assert hospital in {h.id for h in missing}
    assert _count(s, VolumeReport, VolumeReport.batch_id == batch.id,
                  VolumeReport.org_id == hospital) == 0
    reporters = set(s.execute(sa.select(VolumeReport.org_id).where(
        VolumeReport.batch_id == batch.id)).scalars())
    assert reporters & {h.id for h in missing}  # some reported only part of the products
    assert _count(s, Bid, Bid.batch_id == batch.id) == 0


def test_the_audit_chain_is_intact(s) -> None:
    checked, problems = verify_chain(s)
    assert checked > 0 and problems == []


def test_a_second_load_changes_nothing(demo_app, first) -> None:
    db = demo_app.extensions["yaocai.db"]

    def state() -> list:
        with db.unit_of_work() as session:
            counts = [_count(session, t) for t in TABLES]
            versions = [session.execute(sa.select(sa.func.sum(m.version))).scalar_one()
                        for m in (Batch, Bid, Agreement, AllocationRun)]
        return counts + versions

    before = state()
    again = _load(demo_app)["procurement"]
    assert again.pop("created") == []
    expected = {k: v for k, v in first["procurement"].items()
                if k not in ("created", "bidder_products_imported", "run_id")}
    assert again == expected
    assert state() == before
