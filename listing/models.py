"""Tables of the listing module (挂网): catalogue, applications, objections, listings, prices."""
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
from core.scoping import bureau_or_own, own_only


class ProductKind(str, enum.Enum):
    drug = "drug"              # 药品
    consumable = "consumable"  # 医用耗材


class ProductStatus(str, enum.Enum):
    active = "active"      # in the catalogue
    proposed = "proposed"  # proposed by a company inside an application, not yet approved
    retired = "retired"    # a proposal that was rejected or withdrawn


class ListingCategory(str, enum.Enum):
    """Listing categories (分类挂网); the price rules depend on them."""

    regular = "regular"                              # 常规挂网
    vbp_winner = "vbp_winner"                        # 集采中选
    negotiated = "negotiated"                        # 国家谈判
    vbp_non_supplying = "vbp_non_supplying"          # 非主非备
    reference_preparation = "reference_preparation"  # 参比制剂
    consistency_passed = "consistency_passed"        # 通过一致性评价（过评）
    not_passed = "not_passed"                        # 未过评


class Product(Versioned, table=True):
    """A product (品规) of the catalogue, keyed by its national insurance code.

    Drugs carry the 23/20-character drug code, consumables the 27-character consumable code
    (its first 20 characters group the specifications of one product). Content is per
    smallest unit for solids and a concentration (per ml) for liquids.
    """

    __tablename__ = "product"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=27, unique=True)
    kind: ProductKind = enum_field(ProductKind, index=True)
    status: ProductStatus = enum_field(ProductStatus, ProductStatus.active, index=True)
    generic_name: str = Field(max_length=120, index=True)
    trade_name: str | None = Field(default=None, max_length=120)
    category: str | None = Field(default=None, max_length=120)  # consumable class / drug class
    dosage_form: str | None = Field(default=None, max_length=40)
    spec: str = Field(max_length=200)  # 规格 as printed, e.g. "10mg×14片"
    content_value: Decimal | None = Field(default=None, sa_type=Price())
    content_unit: str | None = Field(default=None, max_length=10)
    volume_ml: Decimal | None = Field(default=None, sa_type=Price())
    units_per_package: int = Field(default=1, nullable=False)  # 转换比
    min_unit: str | None = Field(default=None, max_length=10)  # 片/粒/支
    package_unit: str | None = Field(default=None, max_length=10)  # 盒/瓶
    package_material: str | None = Field(default=None, max_length=60)
    package_form: str | None = Field(default=None, max_length=60)
    manufacturer_name: str = Field(max_length=200)
    manufacturer_code: str | None = Field(default=None, max_length=18)
    manufacturer_org_id: int | None = Field(default=None, foreign_key="organisation.id")
    mah_name: str | None = Field(default=None, max_length=200)  # 上市许可持有人
    mah_code: str | None = Field(default=None, max_length=18)
    mah_org_id: int | None = Field(default=None, foreign_key="organisation.id", index=True)
    approval_number: str | None = Field(default=None, max_length=60)  # 批准文号/注册证号
    consistency_passed: bool = Field(default=False, nullable=False)  # 过评
    reference_preparation: bool = Field(default=False, nullable=False)  # 参比制剂
    vbp_winner: bool = Field(default=False, nullable=False)  # 集采中选
    negotiated: bool = Field(default=False, nullable=False)  # 国谈
    group_code: str | None = Field(default=None, max_length=20, index=True)
    proposed_by_org_id: int | None = Field(default=None, foreign_key="organisation.id")
    import_batch_id: int | None = Field(default=None, foreign_key="import_batch.id")
    created_at: datetime = ts_field()
    updated_at: datetime = ts_field()

    @classmethod
    def readable_clause(cls, actor: Actor) -> Any:
        if actor.is_bureau:
            return sa.true()
        return sa.or_(cls.status == ProductStatus.active, cls.proposed_by_org_id == actor.org_id)


class ImportKind(str, enum.Enum):
    products = "products"
    reference_prices = "reference_prices"


class ImportStatus(str, enum.Enum):
    succeeded = "succeeded"
    failed = "failed"


class ImportBatch(SQLModel, table=True):
    """One upload of a catalogue or reference-price file and its outcome (the import report)."""

    __tablename__ = "import_batch"

    id: int | None = Field(default=None, primary_key=True)
    kind: ImportKind = enum_field(ImportKind, index=True)
    status: ImportStatus = enum_field(ImportStatus)
    org_id: int = Field(foreign_key="organisation.id", index=True)
    filename: str = Field(max_length=255)
    sha256: str = Field(max_length=64)
    total_rows: int = Field(default=0, nullable=False)
    created: int = Field(default=0, nullable=False)
    updated: int = Field(default=0, nullable=False)
    unchanged: int = Field(default=0, nullable=False)
    error_count: int = Field(default=0, nullable=False)
    errors: list = Field(default_factory=list, sa_type=sa.JSON, nullable=False)
    created_by: int | None = Field(default=None)
    created_at: datetime = ts_field()

    @classmethod
    def readable_clause(cls, actor: Actor) -> Any:
        # An import report is its uploader organisation's (the bureau's catalogue office).
        return own_only(actor, cls.org_id)


class ReferencePrice(SQLModel, table=True):
    """A listing or winning price of a product in another province (参考价格), with its source."""

    __tablename__ = "reference_price"
    __table_args__ = (sa.UniqueConstraint("product_id", "province", "price_date"),)

    id: int | None = Field(default=None, primary_key=True)
    product_id: int = Field(foreign_key="product.id", index=True)
    province: str = Field(max_length=20)
    price: Decimal = Field(sa_type=Price(), nullable=False)
    price_date: date = Field(nullable=False)
    source: str = Field(max_length=200)
    import_batch_id: int | None = Field(default=None, foreign_key="import_batch.id")
    created_at: datetime = ts_field()


class Holiday(SQLModel, table=True):
    """The bureau's holiday calendar: public holidays, and weekend days worked instead (调休)."""

    __tablename__ = "holiday"

    day: date = Field(primary_key=True)
    workday: bool = Field(default=False, nullable=False)  # True: a weekend day that is worked
    name: str = Field(max_length=60)


class ApplicationKind(str, enum.Enum):
    new_listing = "new_listing"    # 新增挂网
    price_change = "price_change"  # 调价
    delisting = "delisting"        # 撤网申请
    relisting = "relisting"        # 恢复挂网


class ApplicationStatus(str, enum.Enum):
    draft = "draft"
    submitted = "submitted"
    under_review = "under_review"
    returned = "returned"          # 退回补正
    publicizing = "publicizing"    # 公示中
    listed = "listed"              # 公示期满，已生效
    rejected = "rejected"
    withdrawn = "withdrawn"


class Application(Versioned, Stamped, table=True):
    """A listing application (挂网申请): one product × applicant × kind, through review and 公示."""

    __tablename__ = "listing_application"

    id: int | None = Field(default=None, primary_key=True)
    number: str | None = Field(default=None, max_length=20, unique=True)
    org_id: int = Field(foreign_key="organisation.id", index=True)
    kind: ApplicationKind = enum_field(ApplicationKind, index=True)
    status: ApplicationStatus = enum_field(ApplicationStatus, ApplicationStatus.draft, index=True)
    product_id: int = Field(foreign_key="product.id", index=True)
    listing_id: int | None = Field(default=None, foreign_key="listing.id", index=True)
    category: ListingCategory = enum_field(ListingCategory, ListingCategory.regular)
    proposed_price: Decimal | None = Field(default=None, sa_type=Price())
    representative_product_id: int | None = Field(default=None, foreign_key="product.id")
    # For VBP categories: the applicant's own winning price and the highest winning price of
    # the same drug, which cap the listing price (DOMAIN §1 rule 3).
    vbp_own_price: Decimal | None = Field(default=None, sa_type=Price())
    vbp_highest_price: Decimal | None = Field(default=None, sa_type=Price())
    justification: str | None = Field(default=None, sa_type=sa.Text)
    assigned_to: int | None = Field(default=None, foreign_key="user_account.id", index=True)
    assigned_at: datetime | None = ts_field(nullable=True)
    round: int = Field(default=0, nullable=False)  # how many times it was submitted
    submitted_at: datetime | None = ts_field(nullable=True, index=True)
    decided_at: datetime | None = ts_field(nullable=True)
    decision_reason: str | None = Field(default=None, sa_type=sa.Text)
    publicity_start: date | None = Field(default=None)
    publicity_end: date | None = Field(default=None, index=True)  # last day objections are taken
    listed_at: datetime | None = ts_field(nullable=True)
    check_passed: bool | None = Field(default=None)  # the latest price check
    check_cap: Decimal | None = Field(default=None, sa_type=Price())
    created_by: int | None = Field(default=None)

    @classmethod
    def readable_clause(cls, actor: Actor) -> Any:
        return bureau_or_own(actor, cls.org_id)


class PriceEvidence(SQLModel, table=True):
    """A price the applicant declares for linkage (价格联动): province, price, date, document."""

    __tablename__ = "price_evidence"

    id: int | None = Field(default=None, primary_key=True)
    application_id: int = Field(foreign_key="listing_application.id", index=True,
                                ondelete="CASCADE")
    province: str = Field(max_length=20)
    price: Decimal = Field(sa_type=Price(), nullable=False)
    evidence_date: date = Field(nullable=False)
    document: str = Field(max_length=200)
    attachment_id: int | None = Field(default=None, foreign_key="attachment.id")


class CheckStage(str, enum.Enum):
    submit = "submit"
    review = "review"


class PriceCheck(SQLModel, table=True):
    """One run of the price rules on an application, with the rule-set version it used."""

    __tablename__ = "price_check"

    id: int | None = Field(default=None, primary_key=True)
    application_id: int = Field(foreign_key="listing_application.id", index=True)
    stage: CheckStage = enum_field(CheckStage)
    rule_version: int = Field(nullable=False)
    proposed_price: Decimal = Field(sa_type=Price(), nullable=False)
    passed: bool = Field(nullable=False)
    governing_cap: Decimal | None = Field(default=None, sa_type=Price())
    governing_rule: str | None = Field(default=None, max_length=20)
    result: dict = Field(default_factory=dict, sa_type=sa.JSON, nullable=False)
    created_by: int | None = Field(default=None)
    created_at: datetime = ts_field()


class ObjectionStatus(str, enum.Enum):
    open = "open"
    upheld = "upheld"        # 异议成立 → the application is rejected
    dismissed = "dismissed"  # 异议不成立


class Objection(Versioned, Stamped, table=True):
    """An objection (异议) raised against an application during its publicity window."""

    __tablename__ = "objection"

    id: int | None = Field(default=None, primary_key=True)
    application_id: int = Field(foreign_key="listing_application.id", index=True)
    org_id: int = Field(foreign_key="organisation.id", index=True)  # who objected
    status: ObjectionStatus = enum_field(ObjectionStatus, ObjectionStatus.open, index=True)
    reason: str = Field(sa_type=sa.Text)
    resolution: str | None = Field(default=None, sa_type=sa.Text)
    created_by: int | None = Field(default=None)

    @classmethod
    def readable_clause(cls, actor: Actor) -> Any:
        # The objector, and the applicant it is raised against (to know and answer it).
        own_applications = sa.select(Application.id).where(Application.org_id == actor.org_id)
        return sa.or_(bureau_or_own(actor, cls.org_id), cls.application_id.in_(own_applications))


class Attachment(SQLModel, table=True):
    """An evidence file (PDF/JPEG/PNG) kept in the attachment store; the row holds its metadata."""

    __tablename__ = "attachment"

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organisation.id", index=True)  # the uploader's organisation
    application_id: int | None = Field(default=None, foreign_key="listing_application.id",
                                       index=True)
    objection_id: int | None = Field(default=None, foreign_key="objection.id", index=True)
    listing_id: int | None = Field(default=None, foreign_key="listing.id", index=True)
    filename: str = Field(max_length=255)
    content_type: str = Field(max_length=60)
    size: int = Field(nullable=False)
    sha256: str = Field(max_length=64)
    storage_key: str = Field(max_length=255)
    created_by: int | None = Field(default=None)
    created_at: datetime = ts_field()

    @classmethod
    def readable_clause(cls, actor: Actor) -> Any:
        return bureau_or_own(actor, cls.org_id)


class ListingStatus(str, enum.Enum):
    listed = "listed"        # 挂网
    suspended = "suspended"  # 暂停挂网
    delisted = "delisted"    # 撤网


class ListingReason(str, enum.Enum):
    """Reason codes for suspending, resuming or delisting a listing."""

    above_national_lowest = "above_national_lowest"  # not following linkage by the deadline
    no_transactions = "no_transactions"              # no transactions for 6 months
    above_anchor = "above_anchor"                    # more than 10× the anchor price
    credit_rating = "credit_rating"
    supply_failure = "supply_failure"
    refused_linkage = "refused_linkage"              # bars relisting for 2 years
    false_price_information = "false_price_information"  # bars relisting for 2 years
    company_request = "company_request"
    corrected = "corrected"                          # the cause of a suspension was remedied
    other = "other"


class Listing(Versioned, table=True):
    """A listing (挂网记录): the product a company offers at a governed price to hospitals.

    The product's code, name and company are copied here so the public search reads one table.
    """

    __tablename__ = "listing"
    __table_args__ = (
        # The public search: each filter combination reads an index in display order.
        sa.Index("ix_listing_status_generic_name", "status", "generic_name"),
        sa.Index("ix_listing_browse_category", "status", "category", "product_kind",
                 "generic_name"),
        sa.Index("ix_listing_browse_kind", "status", "product_kind", "generic_name"),
        sa.Index("ix_listing_status_code", "status", "product_code"),
        sa.Index("ix_listing_status_company", "status", "company_name"),
        sa.Index("uq_listing_open", "product_id", "org_id", unique=True,
                 postgresql_where=sa.text("status <> 'delisted'"),
                 sqlite_where=sa.text("status <> 'delisted'")),
    )

    id: int | None = Field(default=None, primary_key=True)
    product_id: int = Field(foreign_key="product.id", index=True)
    org_id: int = Field(foreign_key="organisation.id", index=True)
    # No index on status alone: nearly every row is "listed", and SQLite's planner (without
    # statistics) would pick it over the selective ones; the composite indexes lead with it,
    # so every search is an equality on status plus a range, a list or an order on the rest.
    status: ListingStatus = enum_field(ListingStatus, ListingStatus.listed)
    category: ListingCategory = enum_field(ListingCategory, ListingCategory.regular)
    price: Decimal = Field(sa_type=Price(), nullable=False)
    product_code: str = Field(max_length=27, index=True)
    product_kind: ProductKind = enum_field(ProductKind)
    generic_name: str = Field(max_length=120)
    dosage_form: str | None = Field(default=None, max_length=40)
    spec: str = Field(max_length=200)
    company_name: str = Field(max_length=200, index=True)
    application_id: int | None = Field(default=None)
    listed_at: datetime = ts_field()
    reason_code: ListingReason | None = enum_field(ListingReason, nullable=True, length=40)
    reason: str | None = Field(default=None, sa_type=sa.Text)
    relist_barred_until: date | None = Field(default=None)
    linkage_deadline: date | None = Field(default=None)  # follow a lower price by this day
    updated_at: datetime = ts_field()
    status_changed_at: datetime | None = ts_field(nullable=True)
    status_changed_by: int | None = Field(default=None)

    @classmethod
    def readable_clause(cls, actor: Actor) -> Any:
        # Listings are public; only the holder and the bureau see delisted history.
        if actor.is_bureau:
            return sa.true()
        return sa.or_(cls.status != ListingStatus.delisted, cls.org_id == actor.org_id)


class SearchName(SQLModel, table=True):
    """The distinct generic and company names of listings, for the public search.

    Matching a fragment ("沙坦") against a few thousand distinct names and then reading the
    listings by index is fast on every database; a substring scan of every listing is not.
    Rows are only added (a name whose listings are gone just matches nothing).
    """

    __tablename__ = "listing_search_name"

    kind: str = Field(max_length=10, primary_key=True)  # "generic" | "company"
    name: str = Field(max_length=200, primary_key=True)
