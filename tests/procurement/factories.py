"""Factories for procurement tests: a cast of organisations and a batch driven to any step.

Everything flushes, nothing commits; ``now`` is passed explicitly so bid windows and
deadlines are exact.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from sqlmodel import Session

from core.models import Organisation, OrgKind
from core.permissions import Actor
from core.types import LOCAL_TZ
from procurement import services
from procurement import services_award as award
from procurement.models import Batch, BatchProduct, BatchStatus
from tests.listing.factories import actor, bureau, company, product, seed_rules
from tests.support import make_org

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
OPENS, CLOSES = T0 + timedelta(days=10), T0 + timedelta(days=20)
AFTER = CLOSES + timedelta(minutes=1)


@dataclass
class Party:
    org: Organisation
    op: Actor


@dataclass
class Cast:
    manager: Actor
    viewer: Actor
    hospitals: list[Party] = field(default_factory=list)
    companies: list[Party] = field(default_factory=list)


def cast(session: Session, *, cities: tuple[str, ...] = ("330106", "330203"),
         companies: int = 3) -> Cast:
    """A bureau, one hospital in each of ``cities`` (district codes) and some companies."""
    seed_rules(session)
    b = bureau(session)
    c = Cast(actor(session, b, "procurement_manager"), actor(session, b, "viewer"))
    for region in cities:
        org = make_org(session, OrgKind.hospital, region=region)
        c.hospitals.append(Party(org, actor(session, org, "operator")))
    for _ in range(companies):
        org = company(session)
        c.companies.append(Party(org, actor(session, org, "operator")))
    return c


def batch_in_bidding(session: Session, c: Cast, *, code: str = "ZJ-2026-01",
                     products: int = 1) -> tuple[Batch, list[BatchProduct]]:
    batch = services.create_batch(session, c.manager, services.BatchIn(
        code=code, name="浙江省药品集采", report_deadline=T0 + timedelta(days=5),
        bid_opens_at=OPENS, bid_closes_at=CLOSES))
    bps = [services.add_batch_product(session, c.manager, batch.id, services.BatchProductIn(
        code=f"P{i + 1:02d}", generic_name="阿托伐他汀钙片", dosage_form="普通片",
        rep_content_value=Decimal("10"), rep_content_unit="mg", rep_units=1,
        smallest_unit="片", max_ucp=Decimal("2.0000"))) for i in range(products)]
    services.move_batch(session, c.manager, batch.id, "open_reporting")
    return batch, bps


def report(session: Session, c: Cast, bp: BatchProduct, demands: list[int]) -> None:
    for party, demand in zip(c.hospitals, demands, strict=True):
        services.submit_report(session, party.op, bp.id, services.ReportIn(
            usage_last_year=demand, usage_year_before=demand, demand=demand), now=T0)


def bid(session: Session, party: Party, bp: BatchProduct, package_price: str, *,
        capacity: int | None = None, units: int = 1):
    """A bid on a 10 mg × ``units`` tablet; with one tablet a package, ucp = package price
    (the representative is 10 mg × 1)."""
    prod = product(session, party.org, content="10", units=units)
    return services.submit_bid(session, party.op, bp.id, services.BidIn(
        product_id=prod.id, package_price=Decimal(package_price), capacity=capacity),
        now=OPENS + timedelta(hours=1))


def to_evaluating(session: Session, c: Cast, batch: Batch) -> None:
    if batch.status == BatchStatus.reporting:
        services.move_batch(session, c.manager, batch.id, "open_bidding", reason="报量截止前开始投标（测试）")
    services.move_batch(session, c.manager, batch.id, "close_bidding", now=CLOSES)


def after_publicity(batch: Batch) -> datetime:
    """A moment on the day after the proposed-winner publicity ends (09:00 Beijing)."""
    assert batch.publicity_ends_on is not None
    return datetime.combine(batch.publicity_ends_on + timedelta(days=1), time(9),
                            tzinfo=LOCAL_TZ)


def to_allocating(session: Session, c: Cast, batch: Batch) -> None:
    """From reporting or bidding: close, select, publicize (from AFTER) and, once the
    publicity is over, make the results final."""
    to_evaluating(session, c, batch)
    award.run_selection(session, c.manager, batch.id, now=AFTER)
    services.move_batch(session, c.manager, batch.id, "publicize", now=AFTER)
    services.move_batch(session, c.manager, batch.id, "start_allocation",
                        now=after_publicity(batch))
