"""Tables of the procurement module (集采): batches, batch products, volume reports, bids."""
from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.models import Stamped, Versioned, enum_field, ts_field
from core.money import Price
from core.permissions import Actor
from core.scoping import bureau_only, bureau_or_own


class BatchStatus(str, enum.Enum):
    """The lifecycle of a VBP batch (DOMAIN §2)."""

    draft = "draft"
    reporting = "reporting"      # 报量: hospitals report volumes
    bidding = "bidding"          # 申报: companies submit sealed bids
    evaluating = "evaluating"    # bids opened, winners selected
    publicizing = "publicizing"  # 拟中选公示
    allocating = "allocating"    # hospital choice, 协议量确认
    executing = "executing"      # agreements in force
    closed = "closed"
    cancelled = "cancelled"


class AwardStage(str, enum.Enum):
    """Steps of a batch while it is ``allocating`` (its own small workflow)."""

    regions = "regions"      # winners pick supply regions in ucp order
    choice = "choice"        # hospitals rank the winners serving them; allocation runs
    agreements = "agreements"  # the allocation is published as agreements to sign


#: Batch statuses in which the results are public (拟中选公示 onwards).
PUBLIC_RESULT_STATUSES = (BatchStatus.publicizing, BatchStatus.allocating,
                          BatchStatus.executing, BatchStatus.closed)


def results_public(batch_id: Any, actor: Actor) -> Any:
    """The read rule of a batch's award rows: the bureau reads them all; anyone else those of
    batches whose results are public."""
    if actor.is_bureau:
        return sa.true()
    return batch_id.in_(sa.select(Batch.id).where(
        Batch.status.in_(PUBLIC_RESULT_STATUSES)))  # type: ignore[attr-defined]


class Batch(Versioned, Stamped, table=True):
    """A volume-based procurement batch (集采批次), bound to one version of the rule set."""

    __tablename__ = "vbp_batch"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=40, unique=True)
    name: str = Field(max_length=200)
    status: BatchStatus = enum_field(BatchStatus, BatchStatus.draft, index=True)
    rule_version: int = Field(nullable=False)
    report_deadline: datetime | None = ts_field(nullable=True)
    bid_opens_at: datetime | None = ts_field(nullable=True)
    bid_closes_at: datetime | None = ts_field(nullable=True)  # bids are sealed until then
    cycle_start: date | None = Field(default=None)
    cycle_years: int = Field(default=2, nullable=False)
    note: str | None = Field(default=None, sa_type=sa.Text)
    created_by: int | None = Field(default=None)
    #: While ``allocating``: regions → choice → agreements (``AWARD_FLOW``).
    award_stage: AwardStage | None = enum_field(AwardStage, nullable=True)
    #: Hospitals rank winners until then (optional; the bureau's allocation run also freezes).
    choice_deadline: datetime | None = ts_field(nullable=True)
    #: The last day (Beijing) of the proposed-winner publicity; set when it starts.
    publicity_ends_on: date | None = Field(default=None)

    @classmethod
    def readable_clause(cls, actor: Actor) -> Any:
        # Batches are public notices once they leave draft; drafts are the bureau's.
        if actor.is_bureau:
            return sa.true()
        return cls.status != BatchStatus.draft


class BatchProduct(SQLModel, table=True):
    """A batch product (品种): generic name + dosage form + representative specification."""

    __tablename__ = "vbp_batch_product"
    __table_args__ = (sa.UniqueConstraint("batch_id", "code"),)

    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="vbp_batch.id", index=True)
    code: str = Field(max_length=20)  # the product's number within the batch, e.g. "P01"
    generic_name: str = Field(max_length=120)
    dosage_form: str = Field(max_length=40)
    # The representative specification (代表品规格) ucps are converted to.
    rep_content_value: Decimal | None = Field(default=None, sa_type=Price())
    rep_content_unit: str | None = Field(default=None, max_length=10)
    rep_volume_ml: Decimal | None = Field(default=None, sa_type=Price())
    rep_units: int = Field(default=1, nullable=False)
    smallest_unit: str = Field(max_length=10)  # 片/粒/支 — volumes are counted in these
    max_ucp: Decimal = Field(sa_type=Price(), nullable=False)  # 最高有效申报价 per unit
    created_at: datetime = ts_field()


class ReportSource(str, enum.Enum):
    entered = "entered"  # typed in on the page
    upload = "upload"


class VolumeReport(Versioned, table=True):
    """A hospital's volume report (报量) for one batch product, in smallest units."""

    __tablename__ = "vbp_volume_report"
    __table_args__ = (sa.UniqueConstraint("batch_product_id", "org_id"),)

    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="vbp_batch.id", index=True)
    batch_product_id: int = Field(foreign_key="vbp_batch_product.id", index=True)
    org_id: int = Field(foreign_key="organisation.id", index=True)
    usage_last_year: int = Field(nullable=False)
    usage_year_before: int = Field(nullable=False)
    demand: int = Field(nullable=False)  # reported annual demand
    explanation: str | None = Field(default=None, sa_type=sa.Text)
    source: ReportSource = enum_field(ReportSource, ReportSource.entered)
    created_by: int | None = Field(default=None)
    created_at: datetime = ts_field()
    updated_at: datetime = ts_field()

    @classmethod
    def readable_clause(cls, actor: Actor) -> Any:
        return bureau_or_own(actor, cls.org_id)


class BidStatus(str, enum.Enum):
    submitted = "submitted"
    withdrawn = "withdrawn"
    disqualified = "disqualified"  # excluded by the bureau during evaluation or publicity


class Bid(Versioned, table=True):
    """A sealed bid (投标申报): a catalogue product, its package price and supply capacity.

    Nobody reads the price before the batch's bidding window closes — the services enforce it.
    """

    __tablename__ = "vbp_bid"
    __table_args__ = (sa.UniqueConstraint("batch_product_id", "org_id"),)

    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="vbp_batch.id", index=True)
    batch_product_id: int = Field(foreign_key="vbp_batch_product.id", index=True)
    org_id: int = Field(foreign_key="organisation.id", index=True)
    product_id: int = Field(foreign_key="product.id")
    package_price: Decimal = Field(sa_type=Price(), nullable=False)
    ucp: Decimal = Field(sa_type=Price(), nullable=False)  # 单位可比价, 4 places half-up
    capacity: int | None = Field(default=None)  # units a year; None = unlimited
    status: BidStatus = enum_field(BidStatus, BidStatus.submitted, index=True)
    sequence: int = Field(nullable=False)  # submission order: breaks equal prices
    status_reason: str | None = Field(default=None, sa_type=sa.Text)  # why disqualified
    created_by: int | None = Field(default=None)
    submitted_at: datetime = ts_field()
    updated_at: datetime = ts_field()

    @classmethod
    def readable_clause(cls, actor: Actor) -> Any:
        # Whether the price may be read is decided per batch by the services.
        return bureau_or_own(actor, cls.org_id)


# --- award: selection, winners, supply regions, hospital choice --------------------------------

class Selection(SQLModel, table=True):
    """The stored winner selection (拟中选结果) of one batch product, with its explanation.

    ``detail`` is ``procurement.selection.Selection.to_dict()`` plus each verdict's bid id, so a
    result can be shown and re-checked later exactly as it was decided.
    """

    __tablename__ = "vbp_selection"

    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="vbp_batch.id", index=True)
    batch_product_id: int = Field(foreign_key="vbp_batch_product.id", unique=True)
    rule_version: int = Field(nullable=False)
    bidders: int = Field(nullable=False)
    winners: int = Field(nullable=False)
    anchor: Decimal | None = Field(default=None, sa_type=Price())
    threshold: Decimal | None = Field(default=None, sa_type=Price())
    agreed_ratio: Decimal = Field(sa_type=sa.Numeric(6, 4), nullable=False)
    detail: dict = Field(default_factory=dict, sa_type=sa.JSON, nullable=False)
    computed_by: int | None = Field(default=None)
    computed_at: datetime = ts_field()

    @classmethod
    def readable_clause(cls, actor: Actor) -> Any:
        # The bureau's working copy until the proposed-winner publicity; public from then on
        # (what a party reads of it is ``services_award.selection_view``).
        return results_public(cls.batch_id, actor)


class Winner(SQLModel, table=True):
    """A (proposed) winning bid (中选企业) of a batch product."""

    __tablename__ = "vbp_winner"
    __table_args__ = (sa.UniqueConstraint("batch_product_id", "org_id"),)

    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="vbp_batch.id", index=True)
    batch_product_id: int = Field(foreign_key="vbp_batch_product.id", index=True)
    bid_id: int = Field(foreign_key="vbp_bid.id", unique=True)
    org_id: int = Field(foreign_key="organisation.id", index=True)
    product_id: int = Field(foreign_key="product.id")
    rank: int = Field(nullable=False)  # by ucp, 1 = lowest
    ucp: Decimal = Field(sa_type=Price(), nullable=False)
    package_price: Decimal = Field(sa_type=Price(), nullable=False)
    capacity: int | None = Field(default=None)
    zero_volume: bool = Field(default=False, nullable=False)  # wins with 0 agreed volume
    regions_done_at: datetime | None = ts_field(nullable=True)  # passed on picking regions

    @classmethod
    def readable_clause(cls, actor: Actor) -> Any:
        # Winners are published with the proposed-winner publicity.
        return results_public(cls.batch_id, actor)


class SupplyRole(str, enum.Enum):
    primary = "primary"  # 供应企业
    backup = "backup"    # 备供企业


class RegionPick(SQLModel, table=True):
    """A winner's supply region (供应地区) for one product: picked in ucp order, assigned by
    the bureau when nobody picked it, or a backup supplier (备供)."""

    __tablename__ = "vbp_region_pick"
    __table_args__ = (sa.UniqueConstraint("batch_product_id", "region_code", "winner_id"),)

    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="vbp_batch.id", index=True)
    batch_product_id: int = Field(foreign_key="vbp_batch_product.id", index=True)
    winner_id: int = Field(foreign_key="vbp_winner.id", index=True)
    org_id: int = Field(foreign_key="organisation.id")
    region_code: str = Field(max_length=6)
    role: SupplyRole = enum_field(SupplyRole, SupplyRole.primary)
    assigned: bool = Field(default=False, nullable=False)  # by the bureau, not picked
    turn: int = Field(nullable=False)  # order of the picks within the product
    created_by: int | None = Field(default=None)
    created_at: datetime = ts_field()

    @classmethod
    def readable_clause(cls, actor: Actor) -> Any:
        # Who supplies which region is public, like the winners (picked once results are final).
        return results_public(cls.batch_id, actor)


class Choice(SQLModel, table=True):
    """A hospital's ranked acceptance of a winner for a batch product (医疗机构选择)."""

    __tablename__ = "vbp_choice"
    __table_args__ = (sa.UniqueConstraint("batch_product_id", "org_id", "winner_id"),)

    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="vbp_batch.id", index=True)
    batch_product_id: int = Field(foreign_key="vbp_batch_product.id", index=True)
    org_id: int = Field(foreign_key="organisation.id", index=True)
    winner_id: int = Field(foreign_key="vbp_winner.id")
    rank: int = Field(nullable=False)  # 1 = first choice
    created_by: int | None = Field(default=None)
    created_at: datetime = ts_field()

    @classmethod
    def readable_clause(cls, actor: Actor) -> Any:
        return bureau_or_own(actor, cls.org_id)


# --- allocation runs and agreements ----------------------------------------------------------

class RunStatus(str, enum.Enum):
    queued = "queued"
    running = "running"
    optimal = "optimal"
    infeasible = "infeasible"
    failed = "failed"
    superseded = "superseded"  # a later run replaced it before publication
    published = "published"    # turned into agreements


class AllocationRun(Versioned, table=True):
    """One solve of a batch's agreed-volume allocation (约定采购量分配), run as a job."""

    __tablename__ = "vbp_allocation_run"

    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="vbp_batch.id", index=True)
    status: RunStatus = enum_field(RunStatus, RunStatus.queued, index=True)
    rule_version: int = Field(nullable=False)
    job_id: int | None = Field(default=None)
    products_total: int = Field(default=0, nullable=False)
    products_done: int = Field(default=0, nullable=False)
    hospitals: int = Field(default=0, nullable=False)
    variables: int = Field(default=0, nullable=False)
    rank_penalty: int | None = Field(default=None, sa_type=sa.BigInteger)
    total_cost_fen: int | None = Field(default=None, sa_type=sa.BigInteger)
    agreed_units: int | None = Field(default=None, sa_type=sa.BigInteger)
    seconds: float | None = Field(default=None)  # solve time, for the operator; not money
    diagnosis: list = Field(default_factory=list, sa_type=sa.JSON, nullable=False)
    created_by: int | None = Field(default=None)
    created_at: datetime = ts_field()
    finished_at: datetime | None = ts_field(nullable=True)

    @classmethod
    def readable_clause(cls, actor: Actor) -> Any:
        return bureau_only(actor)


class AllocationLine(SQLModel, table=True):
    """Agreed volume of one hospital × winner × product in a run, whole smallest units."""

    __tablename__ = "vbp_allocation_line"
    __table_args__ = (sa.UniqueConstraint("run_id", "batch_product_id", "hospital_id",
                                          "winner_id"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="vbp_allocation_run.id", index=True)
    batch_product_id: int = Field(foreign_key="vbp_batch_product.id")
    hospital_id: int = Field(foreign_key="organisation.id")
    winner_id: int = Field(foreign_key="vbp_winner.id")
    volume: int = Field(sa_type=sa.BigInteger, nullable=False)


class AgreementStatus(str, enum.Enum):
    proposed = "proposed"
    hospital_signed = "hospital_signed"
    enterprise_signed = "enterprise_signed"
    signed = "signed"


class Agreement(Versioned, Stamped, table=True):
    """A purchase agreement (采购协议) of one contract year: a hospital's agreed volume of a
    product from one winner, confirmed online by both sides. Renewals (续签) are new rows of
    the next year, never below the previous year's volume."""

    __tablename__ = "vbp_agreement"
    __table_args__ = (sa.UniqueConstraint("batch_product_id", "hospital_id", "winner_id",
                                          "year"),)

    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="vbp_batch.id", index=True)
    batch_product_id: int = Field(foreign_key="vbp_batch_product.id", index=True)
    hospital_id: int = Field(foreign_key="organisation.id", index=True)
    enterprise_id: int = Field(foreign_key="organisation.id", index=True)
    winner_id: int = Field(foreign_key="vbp_winner.id")
    year: int = Field(nullable=False)  # contract year within the cycle, 1 = first
    starts_on: date | None = Field(default=None)
    ends_on: date | None = Field(default=None)
    volume: int = Field(sa_type=sa.BigInteger, nullable=False)
    unit_price: Decimal = Field(sa_type=Price(), nullable=False)  # price per smallest unit
    amount_fen: int = Field(sa_type=sa.BigInteger, nullable=False)
    status: AgreementStatus = enum_field(AgreementStatus, AgreementStatus.proposed, index=True)
    run_id: int | None = Field(default=None, foreign_key="vbp_allocation_run.id")
    previous_id: int | None = Field(default=None, foreign_key="vbp_agreement.id")
    rule_version: int = Field(nullable=False)
    hospital_signed_at: datetime | None = ts_field(nullable=True)
    hospital_signed_by: int | None = Field(default=None)
    enterprise_signed_at: datetime | None = ts_field(nullable=True)
    enterprise_signed_by: int | None = Field(default=None)

    @classmethod
    def readable_clause(cls, actor: Actor) -> Any:
        # The bureau, and the two parties of the agreement.
        return bureau_or_own(actor, cls.hospital_id, cls.enterprise_id)
