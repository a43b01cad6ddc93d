"""Tables of the procurement module (集采): batches, batch products, volume reports, bids."""
from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.models import Versioned, enum_field, ts_field
from core.money import Price
from core.permissions import Actor


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


class Batch(Versioned, table=True):
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
    created_at: datetime = ts_field()
    updated_at: datetime = ts_field()
    status_changed_at: datetime | None = ts_field(nullable=True)
    status_changed_by: int | None = Field(default=None)

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
        if actor.is_bureau:
            return sa.true()
        return cls.org_id == actor.org_id


class BidStatus(str, enum.Enum):
    submitted = "submitted"
    withdrawn = "withdrawn"


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
    created_by: int | None = Field(default=None)
    submitted_at: datetime = ts_field()
    updated_at: datetime = ts_field()

    @classmethod
    def readable_clause(cls, actor: Actor) -> Any:
        # Whether the price may be read is decided per batch by the services.
        if actor.is_bureau:
            return sa.true()
        return cls.org_id == actor.org_id
