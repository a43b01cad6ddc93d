"""Procurement's to-do items (待办) for the home pages, counted in SQL within the actor's scope:
volume reports due, winners to rank, agreements to confirm, bids to submit, supply regions to
pick, and the bureau's batches waiting for their next step. Each provider runs one aggregate
query; an item links to the batch when only one batch is concerned."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from core import todo
from core.i18n import N_
from core.models import Organisation, OrgKind
from core.permissions import Actor
from core.todo import Todo
from core.types import local_today, utcnow
from listing.models import Product, ProductStatus
from procurement.models import (
    Agreement,
    AgreementStatus,
    AwardStage,
    Batch,
    BatchProduct,
    BatchStatus,
    Bid,
    BidStatus,
    Choice,
    VolumeReport,
    Winner,
)
from procurement.permissions import (
    AGREEMENT_SIGN,
    BATCH_MANAGE,
    BID_EDIT,
    CHOICE_EDIT,
    REGION_PICK,
    REPORT_EDIT,
)

B = BatchStatus
A = AgreementStatus


def _per_batch(session: Session, stmt: Any, label: str, endpoint: str, list_endpoint: str,
               list_args: dict | None = None, **kw: Any) -> list[Todo]:
    """One item from ``stmt`` selecting (things waiting, batches concerned, one batch id):
    linked to that batch's page when it is the only one, else to the list."""
    things, batches, batch_id = session.execute(stmt).one()
    if batches == 1:
        batch = session.get(Batch, batch_id)
        return [Todo(label, things or 0, endpoint, {"batch_id": batch_id},
                     N_("Batch %(code)s"), {"code": batch.code if batch else batch_id}, **kw)]
    return [Todo(label, things or 0, list_endpoint, list_args or {}, **kw)]


def _summary(things: Any, batch_column: Any) -> list[Any]:
    return [things, sa.func.count(sa.distinct(batch_column)), sa.func.min(batch_column)]


def report_todos(session: Session, actor: Actor) -> list[Todo]:
    """The hospital's batch products still to report while reporting is open."""
    now = utcnow()
    reported = sa.select(VolumeReport.batch_product_id).where(
        VolumeReport.org_id == actor.org_id)
    stmt = (sa.select(*_summary(sa.func.count(BatchProduct.id), Batch.id))
            .select_from(BatchProduct).join(Batch, Batch.id == BatchProduct.batch_id)
            .where(Batch.readable_clause(actor), Batch.status == B.reporting,
                   sa.or_(Batch.report_deadline.is_(None), Batch.report_deadline > now),
                   BatchProduct.id.not_in(reported)))
    return _per_batch(session, stmt, N_("Products waiting for your volume report"),
                      "procurement.report", "procurement.batches",
                      {"status": B.reporting.value})


def choice_todos(session: Session, actor: Actor) -> list[Todo]:
    """The hospital's reported products whose winners it has not ranked yet."""
    now = utcnow()
    chosen = sa.select(Choice.batch_product_id).where(Choice.org_id == actor.org_id)
    stmt = (sa.select(*_summary(sa.func.count(VolumeReport.id), Batch.id))
            .select_from(VolumeReport).join(Batch, Batch.id == VolumeReport.batch_id)
            .where(VolumeReport.org_id == actor.org_id, Batch.status == B.allocating,
                   Batch.award_stage == AwardStage.choice,
                   sa.or_(Batch.choice_deadline.is_(None), Batch.choice_deadline > now),
                   VolumeReport.batch_product_id.not_in(chosen)))
    return _per_batch(session, stmt, N_("Products whose winners you have not ranked yet"),
                      "procurement.choices", "procurement.batches",
                      {"status": B.allocating.value})


def agreement_todos(session: Session, actor: Actor) -> list[Todo]:
    """Agreements waiting for the confirmation of the actor's side."""
    if actor.org_kind == OrgKind.hospital:
        mine, waiting = Agreement.hospital_id == actor.org_id, (A.proposed, A.enterprise_signed)
    elif actor.org_kind == OrgKind.enterprise:
        mine, waiting = Agreement.enterprise_id == actor.org_id, (A.proposed, A.hospital_signed)
    else:
        return []
    stmt = (sa.select(*_summary(sa.func.count(Agreement.id), Agreement.batch_id))
            .where(Agreement.readable_clause(actor), mine, Agreement.status.in_(waiting)))
    return _per_batch(session, stmt, N_("Purchase agreements waiting for your confirmation"),
                      "procurement.agreements", "procurement.batches")


def bid_todos(session: Session, actor: Actor) -> list[Todo]:
    """Batch products open for bids now that the company makes and has not bid on."""
    if actor.org_kind != OrgKind.enterprise:
        return []
    now = utcnow()
    code = sa.select(Organisation.code).where(Organisation.id == actor.org_id).scalar_subquery()
    own_names = sa.select(Product.generic_name).where(
        Product.status == ProductStatus.active,
        sa.or_(Product.mah_org_id == actor.org_id, Product.manufacturer_org_id == actor.org_id,
               Product.proposed_by_org_id == actor.org_id, Product.mah_code == code,
               Product.manufacturer_code == code))
    bid_on = sa.select(Bid.batch_product_id).where(Bid.org_id == actor.org_id,
                                                   Bid.status == BidStatus.submitted)
    stmt = (sa.select(*_summary(sa.func.count(BatchProduct.id), Batch.id))
            .select_from(BatchProduct).join(Batch, Batch.id == BatchProduct.batch_id)
            .where(Batch.readable_clause(actor), Batch.status == B.bidding,
                   Batch.bid_opens_at <= now, Batch.bid_closes_at > now,
                   BatchProduct.generic_name.in_(own_names), BatchProduct.id.not_in(bid_on)))
    return _per_batch(session, stmt, N_("Products open for bids that you have not bid on"),
                      "procurement.bids", "procurement.batches", {"status": B.bidding.value})


def region_todos(session: Session, actor: Actor) -> list[Todo]:
    """The company's winning products whose supply regions it is still picking."""
    stmt = (sa.select(*_summary(sa.func.count(Winner.id), Batch.id))
            .select_from(Winner).join(Batch, Batch.id == Winner.batch_id)
            .where(Winner.org_id == actor.org_id, Winner.regions_done_at.is_(None),
                   Batch.status == B.allocating, Batch.award_stage == AwardStage.regions))
    return _per_batch(session, stmt, N_("Winning products whose supply regions you pick"),
                      "procurement.regions", "procurement.batches",
                      {"status": B.allocating.value})


def bureau_todos(session: Session, actor: Actor) -> list[Todo]:
    """Batches waiting for the bureau's next step: their dates have passed."""
    now, today = utcnow(), local_today()
    steps = {
        "bidding": (N_("Batches whose reporting deadline has passed: open bidding"),
                    sa.and_(Batch.status == B.reporting, Batch.report_deadline <= now)),
        "opening": (N_("Batches whose bidding window has closed: close bidding and open the "
                       "bids"), sa.and_(Batch.status == B.bidding, Batch.bid_closes_at <= now)),
        "selecting": (N_("Batches with bids opened: select the winners and publicize them"),
                      Batch.status == B.evaluating),
        "allocating": (N_("Batches whose publicity has ended: start the allocation"),
                       sa.and_(Batch.status == B.publicizing,
                               Batch.publicity_ends_on < today)),
        "running": (N_("Batches whose choice deadline has passed: run the allocation"),
                    sa.and_(Batch.status == B.allocating, Batch.award_stage == AwardStage.choice,
                            Batch.choice_deadline <= now)),
    }
    columns = []
    for key, (_label, cond) in steps.items():
        columns += [sa.func.count().filter(cond).label(key),
                    sa.func.min(Batch.id).filter(cond).label(f"{key}_id")]
    row = session.execute(sa.select(*columns).where(Batch.readable_clause(actor))).one()._mapping
    out = []
    for key, (label, _cond) in steps.items():
        if row[key] == 1:
            batch = session.get(Batch, row[f"{key}_id"])
            out.append(Todo(label, 1, "procurement.batch_detail", {"batch_id": row[f"{key}_id"]},
                            N_("Batch %(code)s"), {"code": batch.code if batch else ""},
                            overdue=True))
        else:
            out.append(Todo(label, row[key], "procurement.batches", overdue=True))
    return out


def register_todos() -> None:
    todo.register("procurement.report", report_todos, permission=REPORT_EDIT, order=10)
    todo.register("procurement.choice", choice_todos, permission=CHOICE_EDIT, order=20)
    todo.register("procurement.agreement", agreement_todos, permission=AGREEMENT_SIGN, order=30)
    todo.register("procurement.bid", bid_todos, permission=BID_EDIT, order=10)
    todo.register("procurement.region", region_todos, permission=REGION_PICK, order=20)
    todo.register("procurement.bureau", bureau_todos, permission=BATCH_MANAGE, order=10)
