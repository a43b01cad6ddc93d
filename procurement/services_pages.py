"""Reads the procurement pages need beyond ``procurement.services``: counts, progress, the
choices of a form and the names of the rows shown. No rule lives here; every read is scoped to
the actor through ``core.scoping`` (a batch product is read through its batch)."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, func, select

from core.errors import Conflict
from core.i18n import N_
from core.models import AuditLog, Organisation
from core.permissions import Actor
from core.scoping import readable_by
from core.types import utcnow
from listing.models import Product, ProductStatus
from procurement import services
from procurement.models import Batch, BatchProduct, BatchStatus, Bid, BidStatus, VolumeReport


def _readable(model: type, actor: Actor) -> sa.ColumnElement[bool]:
    """``model.id IN (the ids the actor may read)``: the scope of an aggregate query."""
    return model.id.in_(readable_by(model, actor).with_only_columns(model.id))  # type: ignore[attr-defined]


def status_counts(session: Session, actor: Actor) -> dict[str, int]:
    """Batches the actor can see, counted by status."""
    rows = session.exec(select(Batch.status, func.count()).where(_readable(Batch, actor))
                        .group_by(Batch.status)).all()
    return {(s.value if isinstance(s, BatchStatus) else str(s)): n for s, n in rows}


def batches_in(session: Session, actor: Actor, statuses: Iterable[BatchStatus],
               limit: int = 20) -> list[Batch]:
    """Readable batches in ``statuses``, the newest first."""
    return list(session.exec(readable_by(Batch, actor).where(Batch.status.in_(list(statuses)))
                             .order_by(Batch.id.desc()).limit(limit)))


def product_counts(session: Session, actor: Actor, batch_ids: Iterable[int]) -> dict[int, int]:
    """The number of products of each readable batch."""
    ids = list(batch_ids)
    if not ids:
        return {}
    rows = session.exec(select(BatchProduct.batch_id, func.count()).where(
        BatchProduct.batch_id.in_(ids),
        BatchProduct.batch_id.in_(readable_by(Batch, actor).with_only_columns(Batch.id)))
        .group_by(BatchProduct.batch_id)).all()
    return dict(rows)


@dataclass(frozen=True)
class Progress:
    """How far the actor's organisation got with one batch: products reported of all."""

    done: int
    total: int

    @property
    def complete(self) -> bool:
        return self.total > 0 and self.done >= self.total


def report_progress(session: Session, actor: Actor, batch_ids: Iterable[int]
                    ) -> dict[int, Progress]:
    """Per batch, the products the actor's organisation has reported and the batch's total."""
    ids = list(batch_ids)
    totals = product_counts(session, actor, ids)
    if not ids:
        return {}
    done = dict(session.exec(
        select(VolumeReport.batch_id, func.count(sa.distinct(VolumeReport.batch_product_id)))
        .where(_readable(VolumeReport, actor), VolumeReport.org_id == actor.org_id,
               VolumeReport.batch_id.in_(ids))
        .group_by(VolumeReport.batch_id)).all())
    return {i: Progress(done.get(i, 0), totals.get(i, 0)) for i in ids}


def own_reports(session: Session, actor: Actor, batch_id: int) -> dict[int, VolumeReport]:
    """The actor's organisation's reports of one batch, by batch product."""
    services.get_batch(session, actor, batch_id)
    rows = session.exec(readable_by(VolumeReport, actor).where(
        VolumeReport.batch_id == batch_id, VolumeReport.org_id == actor.org_id)).all()
    return {r.batch_product_id: r for r in rows}


@dataclass(frozen=True)
class ProductTotal:
    """One batch product's reports as far as the actor may see them."""

    hospitals: int
    demand: int


def report_totals(session: Session, actor: Actor, batch_id: int) -> dict[int, ProductTotal]:
    """Per batch product: how many hospitals reported and their summed demand (Σ 需求量)."""
    services.get_batch(session, actor, batch_id)
    rows = session.exec(
        select(VolumeReport.batch_product_id, func.count(sa.distinct(VolumeReport.org_id)),
               func.coalesce(func.sum(VolumeReport.demand), 0))
        .where(_readable(VolumeReport, actor), VolumeReport.batch_id == batch_id)
        .group_by(VolumeReport.batch_product_id)).all()
    return {bp_id: ProductTotal(int(n), int(total)) for bp_id, n, total in rows}


def reported_by_org(session: Session, actor: Actor, batch_id: int) -> dict[int, int]:
    """Per reporting organisation, how many products of the batch it has reported."""
    services.get_batch(session, actor, batch_id)
    return dict(session.exec(
        select(VolumeReport.org_id, func.count(sa.distinct(VolumeReport.batch_product_id)))
        .where(_readable(VolumeReport, actor), VolumeReport.batch_id == batch_id)
        .group_by(VolumeReport.org_id)).all())


def bid_counts(session: Session, actor: Actor, batch_ids: Iterable[int]) -> dict[int, int]:
    """Per batch, the submitted bids the actor may see (a company: its own)."""
    ids = list(batch_ids)
    if not ids:
        return {}
    return dict(session.exec(
        select(Bid.batch_id, func.count())
        .where(_readable(Bid, actor), Bid.batch_id.in_(ids), Bid.status == BidStatus.submitted,
               Bid.batch_id.in_(readable_by(Batch, actor).with_only_columns(Batch.id)))
        .group_by(Bid.batch_id)).all())


def biddable_products(session: Session, actor: Actor, generic_names: Iterable[str]
                      ) -> dict[str, list[Product]]:
    """The company's active catalogue products (as MAH, manufacturer or proposer) of each
    generic name: what it may offer against a batch product of that name."""
    names = sorted(set(generic_names))
    org = session.get(Organisation, actor.org_id) if actor.org_id else None
    if not names or org is None:
        return {}
    rows = session.exec(readable_by(Product, actor).where(
        Product.status == ProductStatus.active, Product.generic_name.in_(names),
        sa.or_(Product.mah_org_id == org.id, Product.manufacturer_org_id == org.id,
               Product.mah_code == org.code, Product.manufacturer_code == org.code,
               Product.proposed_by_org_id == org.id))
        .order_by(Product.generic_name, Product.spec, Product.id)).all()
    out: dict[str, list[Product]] = {}
    for p in rows:
        out.setdefault(p.generic_name, []).append(p)
    return out


def products_by_id(session: Session, actor: Actor, ids: Iterable[int]) -> dict[int, Product]:
    """Catalogue products the actor may read, by id (the products bids name)."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    return {p.id: p for p in session.exec(readable_by(Product, actor).where(
        Product.id.in_(wanted))).all()}


def org_names(session: Session, actor: Actor, ids: Iterable[int]) -> dict[int, str]:
    """Names of the organisations the actor may read (the bureau: all; others: their own)."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    return {o.id: o.name for o in session.exec(readable_by(Organisation, actor).where(
        Organisation.id.in_(wanted))).all()}


def batch_history(session: Session, actor: Actor, batch_id: int) -> list[AuditLog]:
    """The audit trail of a batch the actor can see, oldest first."""
    services.get_batch(session, actor, batch_id)
    return list(session.exec(readable_by(AuditLog, actor).where(
        AuditLog.object_type == "vbp_batch", AuditLog.object_id == str(batch_id))
        .order_by(AuditLog.seq)))


#: The bureau's next step on a batch in progress, by its status: what to do, and the page
#: (None: the batch's overview is the place, no link of its own).
_NEXT_STEPS: dict[BatchStatus, tuple[str, str | None]] = {
    BatchStatus.draft: (N_("Add the products, then open reporting"), None),
    BatchStatus.reporting: (N_("Follow the reports"), "procurement.reports_overview"),
    BatchStatus.bidding: (N_("Bids (sealed)"), "procurement.bids"),
    BatchStatus.evaluating: (N_("Opened bids"), "procurement.bids"),
}


def next_step(batch: Batch) -> tuple[str, str | None]:
    """The bureau's next step on ``batch``: a msgid and the endpoint of its page."""
    return _NEXT_STEPS.get(batch.status, (N_("Overview"), "procurement.batch_detail"))


def reporting_open(batch: Batch, now: datetime | None = None) -> bool:
    """Whether the batch takes volume reports now (the services' own check, as a yes/no)."""
    try:
        services.check_reporting(batch, now or utcnow())
    except Conflict:
        return False
    return True
