"""Procurement (集采) business operations: batches, batch products, volume reports, bids.

Every function takes a ``Session`` and the acting ``Actor``, flushes and never commits.
"""
from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from pydantic import BaseModel, Field, ValidationError, ValidationInfo, field_validator
from sqlmodel import Session, func, select

from core import audit, rules
from core.errors import Conflict, ErrorCollector, FieldError, Forbidden, Invalid, NotFound
from core.labels import model_term, status_term
from core.models import Organisation, OrgKind, OrgStatus
from core.money import PositivePrice, round_price
from core.permissions import Actor, require
from core.scoping import get_readable, readable_by
from core.services import Page, paginate
from core.states import Move, Workflow, check_version
from core.tabular import Column, read_table, template_xlsx, whole_number
from core.types import INT_MAX, LOCAL_TZ, Count, DbId, local_today, utcnow
from listing import price_rules
from listing import services as listing_services
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
    ReportSource,
    Selection,
    VolumeReport,
)
from procurement.permissions import BATCH_MANAGE, BID_EDIT, REPORT_EDIT, REPORT_OVERVIEW
from procurement.rules import DEFAULT_PROCUREMENT_RULES, ProcurementRuleParams

RULE_SET = "procurement"
rules.register(RULE_SET, ProcurementRuleParams, DEFAULT_PROCUREMENT_RULES)

B = BatchStatus
#: The batch lifecycle (DOMAIN §2). Every move is the bureau's.
BATCH_FLOW = Workflow("vbp_batch", BatchStatus, [
    Move.of("open_reporting", B.draft, B.reporting, BATCH_MANAGE),
    Move.of("open_bidding", B.reporting, B.bidding, BATCH_MANAGE),
    Move.of("close_bidding", B.bidding, B.evaluating, BATCH_MANAGE),
    Move.of("publicize", B.evaluating, B.publicizing, BATCH_MANAGE),
    Move.of("start_allocation", B.publicizing, B.allocating, BATCH_MANAGE),
    Move.of("execute", B.allocating, B.executing, BATCH_MANAGE),
    Move.of("close", B.executing, B.closed, BATCH_MANAGE),
    Move.of("cancel", [B.draft, B.reporting, B.bidding, B.evaluating, B.publicizing],
            B.cancelled, BATCH_MANAGE),
])

#: A bid's status (投标): the company withdraws it and may bid again while bidding is open; the
#: bureau disqualifies it during evaluation or publicity. Replacing a submitted bid changes its
#: price, not its status.
BID_FLOW = Workflow("vbp_bid", BidStatus, [
    Move.of("withdraw", BidStatus.submitted, BidStatus.withdrawn, BID_EDIT),
    Move.of("resubmit", BidStatus.withdrawn, BidStatus.submitted, BID_EDIT),
    Move.of("disqualify", BidStatus.submitted, BidStatus.disqualified, BATCH_MANAGE),
])



def current_rules(session: Session) -> rules.Rules[ProcurementRuleParams]:
    return rules.current(session, RULE_SET)


def publish_rules(session: Session, actor: Actor, params: dict,
                  note: str | None = None) -> rules.Rules[ProcurementRuleParams]:
    """Store a new version of the procurement rules (集采规则). Batches created from now on
    bind to it; a batch already created keeps the version it was created with."""
    require(actor, BATCH_MANAGE)
    return rules.publish(session, actor, RULE_SET, params, note=note)


def batch_rules(session: Session, batch: Batch) -> ProcurementRuleParams:
    """The rule-set version the batch is bound to."""
    return rules.get_version(session, RULE_SET, batch.rule_version).params


# --- batches ----------------------------------------------------------------------------------

class BatchIn(BaseModel):
    code: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=200)
    report_deadline: datetime | None = None
    bid_opens_at: datetime | None = None
    bid_closes_at: datetime | None = None
    cycle_start: date | None = None
    note: str | None = Field(default=None, max_length=4000)

    @field_validator("report_deadline", "bid_opens_at", "bid_closes_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("needs a time zone")
        return value

    @field_validator("bid_closes_at")
    @classmethod
    def _after_opening(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        opens = info.data.get("bid_opens_at")
        if value is not None and opens is not None and value <= opens:
            raise ValueError("the bidding window must close after it opens")
        return value


def get_batch(session: Session, actor: Actor, batch_id: int) -> Batch:
    return get_readable(session, Batch, batch_id, actor)


def list_batches(session: Session, actor: Actor, *, status: BatchStatus | None = None,
                 page: int = 1, per_page: int = 50) -> Page:
    stmt = readable_by(Batch, actor)
    if status is not None:
        stmt = stmt.where(Batch.status == status)
    return paginate(session, stmt.order_by(Batch.id.desc()), page, per_page)


def create_batch(session: Session, actor: Actor, data: BatchIn) -> Batch:
    """Create a draft batch bound to the rule-set version now in force."""
    require(actor, BATCH_MANAGE)
    if session.exec(select(Batch.id).where(Batch.code == data.code.strip())).first():
        raise Invalid.one("code", "A batch with this code exists.")
    current = current_rules(session)
    batch = Batch(**data.model_dump(), rule_version=current.version,
                  cycle_years=current.params.cycle_years, created_by=actor.user_id)
    batch.code = data.code.strip()
    session.add(batch)
    session.flush()
    audit.record(session, actor, "vbp_batch.create", "vbp_batch", batch.id,
                 after={"code": batch.code, "rule_version": batch.rule_version})
    return batch


def update_batch(session: Session, actor: Actor, batch_id: int, data: BatchIn, *,
                 expected_version: int | None = None) -> Batch:
    """Change a batch's dates and texts; the code and rule version stay. A form made from
    an older version of the batch is refused (409), so no newer change is overwritten."""
    require(actor, BATCH_MANAGE)
    batch = get_batch(session, actor, batch_id)
    check_version("vbp_batch", batch, expected_version)
    if batch.status in _FIXED:
        raise Conflict("vbp_batch %(id)s cannot be changed when %(status)s",
                       params={"id": batch.id, "status": status_term("vbp_batch", batch.status)},
                       current_status=batch.status.value)
    if batch.status not in (B.draft, B.reporting) and (
            data.bid_closes_at != batch.bid_closes_at or data.bid_opens_at != batch.bid_opens_at):
        raise Conflict("the bidding window of vbp_batch %(id)s is fixed once bidding opens",
                       params={"id": batch.id}, current_status=batch.status.value)
    for name in ("name", "report_deadline", "bid_opens_at", "bid_closes_at", "cycle_start",
                 "note"):
        setattr(batch, name, getattr(data, name))
    batch.updated_at = utcnow()
    session.add(batch)
    session.flush()
    audit.record(session, actor, "vbp_batch.update", "vbp_batch", batch.id,
                 after=data.model_dump(mode="json"))
    return batch


#: Statuses in which a batch's details can no longer change.
_FIXED = (B.executing, B.closed, B.cancelled)


def batch_actions(batch: Batch, actor: Actor) -> frozenset[str]:
    """What ``actor`` may do on the batch's own pages now besides its lifecycle moves
    (``BATCH_FLOW.allowed_actions``): ``edit`` its details, ``add_product`` while a draft."""
    if not actor.can(BATCH_MANAGE):
        return frozenset()
    out = set()
    if batch.status not in _FIXED:
        out.add("edit")
    if batch.status == B.draft:
        out.add("add_product")
    return frozenset(out)


def move_batch(session: Session, actor: Actor, batch_id: int, action: str, *,
               expected_version: int | None = None, now: datetime | None = None,
               reason: str | None = None) -> Batch:
    """Move a batch along its lifecycle, with the checks each move needs.

    Starting bidding (开始投标) before the reporting deadline, or while some hospitals have
    not reported, needs a ``reason``; it is kept in the audit record with those hospitals."""
    batch = get_batch(session, actor, batch_id)
    now = now or utcnow()
    reason = (reason or "").strip() or None
    details: dict | None = None
    if BATCH_FLOW.find(batch.status, action) is not None:
        if action == "open_reporting":
            products = session.exec(select(func.count()).select_from(BatchProduct).where(
                BatchProduct.batch_id == batch.id)).one()
            errors = ErrorCollector()
            if not products:
                errors.add("products", "Add the batch products first.")
            if batch.report_deadline is None:
                errors.add("report_deadline", "Set the reporting deadline.")
            errors.raise_if_any()
        if action == "open_bidding":
            errors = ErrorCollector()
            if batch.bid_opens_at is None or batch.bid_closes_at is None:
                errors.add("bid_closes_at", "Set the bidding window.")
            check = _bidding_check(session, batch, now)
            if check.needs_reason:
                if reason is None:
                    errors.add("reason", "Bidding starts before the reporting deadline or "
                                         "with hospitals still unreported: give the reason.")
                details = {"before_deadline": check.before_deadline,
                           "unreported": check.unreported_total,
                           "unreported_codes": [o.code for o in check.unreported]}
            errors.raise_if_any()
        if action == "close_bidding" and (batch.bid_closes_at is None
                                          or now < batch.bid_closes_at):
            raise Conflict("bidding of vbp_batch %(id)s closes at %(at)s",
                           params={"id": batch.id, "at": _local_time(batch.bid_closes_at)},
                           current_status=batch.status.value)
        if action == "publicize":
            _check_selected(session, batch)
        if action == "start_allocation" and batch.publicity_ends_on is not None \
                and local_today(now) <= batch.publicity_ends_on:
            raise Conflict("the publicity of vbp_batch %(id)s runs until %(day)s",
                           params={"id": batch.id, "day": batch.publicity_ends_on.isoformat()},
                           current_status=batch.status.value)
        if action == "execute":
            _check_agreements_signed(session, batch)

    def stamp(b: Batch) -> None:
        if action == "publicize":
            days = batch_rules(session, b).result_publicity_working_days
            b.publicity_ends_on = (listing_services.add_working_days(
                session, local_today(now), days)[1] if days else None)
        if action == "start_allocation":
            b.award_stage = AwardStage.regions

    return BATCH_FLOW.transition(session, batch, action, actor,
                                 expected_version=expected_version, reason=reason,
                                 details=details, before_commit=stamp)


#: How many unreported hospitals a bidding check names (the rest are counted).
UNREPORTED_SHOWN = 50


@dataclass(frozen=True)
class BiddingCheck:
    """What starting bidding now would leave behind: the reporting deadline not yet passed
    and the active hospitals that have not reported every product (the first
    ``UNREPORTED_SHOWN``, by code, and how many in all)."""

    before_deadline: bool
    report_deadline: datetime | None
    unreported: list[Organisation]
    unreported_total: int

    @property
    def needs_reason(self) -> bool:
        return self.before_deadline or self.unreported_total > 0


def _unreported_stmt(session: Session, batch_id: int) -> sa.Select:
    n_products = session.exec(select(func.count()).select_from(BatchProduct).where(
        BatchProduct.batch_id == batch_id)).one()
    reported = (select(VolumeReport.org_id).where(VolumeReport.batch_id == batch_id)
                .group_by(VolumeReport.org_id)
                .having(func.count(sa.distinct(VolumeReport.batch_product_id)) >= n_products))
    return select(Organisation).where(
        Organisation.kind == OrgKind.hospital, Organisation.status == OrgStatus.active,
        Organisation.id.not_in(reported))  # type: ignore[union-attr]


def _bidding_check(session: Session, batch: Batch, now: datetime) -> BiddingCheck:
    stmt = _unreported_stmt(session, batch.id)
    total = session.exec(select(func.count()).select_from(stmt.subquery())).one()
    shown = list(session.exec(stmt.order_by(Organisation.code).limit(UNREPORTED_SHOWN)))
    return BiddingCheck(batch.report_deadline is not None and now < batch.report_deadline,
                        batch.report_deadline, shown, total)


def bidding_check(session: Session, actor: Actor, batch_id: int, *,
                  now: datetime | None = None) -> BiddingCheck:
    """What the bureau is told before it starts bidding (the rule of ``move_batch``)."""
    require(actor, BATCH_MANAGE)
    return _bidding_check(session, get_batch(session, actor, batch_id), now or utcnow())


def _local_time(value: datetime | None) -> str:
    """An instant as the bureau reads it: Beijing time to the minute."""
    return value.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M") if value else "—"


def _check_selected(session: Session, batch: Batch) -> None:
    """Before the publicity: every product has a selection made under the batch's rules."""
    n_products = session.exec(select(func.count()).select_from(BatchProduct).where(
        BatchProduct.batch_id == batch.id)).one()
    n_selected = session.exec(select(func.count()).select_from(Selection).where(
        Selection.batch_id == batch.id, Selection.rule_version == batch.rule_version)).one()
    if n_selected < n_products:
        raise Conflict("select the winners of vbp_batch %(id)s first",
                       params={"id": batch.id}, current_status=batch.status.value)


def _check_agreements_signed(session: Session, batch: Batch) -> None:
    """The batch executes once the first year's agreements are published and all signed."""
    if batch.award_stage != AwardStage.agreements:
        raise Conflict("publish the allocation of vbp_batch %(id)s as agreements first",
                       params={"id": batch.id}, current_status=batch.status.value)
    unsigned = session.exec(select(func.count()).select_from(Agreement).where(
        Agreement.batch_id == batch.id, Agreement.year == 1,
        Agreement.status != AgreementStatus.signed)).one()
    if unsigned:
        raise Conflict("%(n)s agreements of vbp_batch %(id)s are not signed by both sides",
                       params={"id": batch.id, "n": unsigned},
                       current_status=batch.status.value)


# --- batch products ---------------------------------------------------------------------------

class BatchProductIn(BaseModel):
    code: str = Field(min_length=1, max_length=20)
    generic_name: str = Field(min_length=1, max_length=120)
    dosage_form: str = Field(min_length=1, max_length=40)
    rep_content_value: Decimal | None = None
    rep_content_unit: str | None = Field(default=None, max_length=10)
    rep_volume_ml: Decimal | None = None
    rep_units: int = Field(default=1, ge=1, le=INT_MAX)
    smallest_unit: str = Field(min_length=1, max_length=10)
    max_ucp: PositivePrice


def add_batch_product(session: Session, actor: Actor, batch_id: int,
                      data: BatchProductIn) -> BatchProduct:
    """Add a product (品种) to a draft batch."""
    require(actor, BATCH_MANAGE)
    batch = get_batch(session, actor, batch_id)
    if batch.status != B.draft:
        raise Conflict("products of vbp_batch %(id)s are fixed once reporting opens",
                       params={"id": batch.id}, current_status=batch.status.value)
    errors = ErrorCollector()
    if (data.rep_content_value is None) != (data.rep_content_unit is None):
        errors.add("rep_content_unit", "Give the content value and its unit together.")
    forms = listing_services.current_rules(session).params.form_ratios
    if data.dosage_form not in forms:
        errors.add("dosage_form", "Choose a dosage form of the price-rule table.")
    if session.exec(select(BatchProduct.id).where(BatchProduct.batch_id == batch.id,
                                                  BatchProduct.code == data.code)).first():
        errors.add("code", "This batch already has a product with this code.")
    errors.raise_if_any()
    product = BatchProduct(batch_id=batch.id, **data.model_dump())
    session.add(product)
    session.flush()
    audit.record(session, actor, "vbp_batch.add_product", "vbp_batch", batch.id,
                 after={"product": data.model_dump(mode="json")})
    return product


def batch_products(session: Session, actor: Actor, batch_id: int) -> list[BatchProduct]:
    get_batch(session, actor, batch_id)
    return list(session.exec(select(BatchProduct).where(BatchProduct.batch_id == batch_id)
                             .order_by(BatchProduct.code)))


def _batch_product(session: Session, actor: Actor, batch_product_id: int
                   ) -> tuple[Batch, BatchProduct]:
    bp = session.get(BatchProduct, batch_product_id)
    if bp is None:
        raise NotFound("vbp_batch_product %(id)s not found", params={"id": batch_product_id})
    return get_batch(session, actor, bp.batch_id), bp


# --- volume reports ---------------------------------------------------------------------------

class ReportIn(BaseModel):
    """A hospital's report for one product: the last two years' usage and its annual demand."""

    usage_last_year: Count
    usage_year_before: Count
    demand: Count
    explanation: str | None = Field(default=None, max_length=2000)


def check_report(data: ReportIn, params: ProcurementRuleParams) -> list[tuple[str, str]]:
    """Field problems of a report: below ``report_min_share`` of the average usage needs an
    explanation (报量低于历史均值80%需说明)."""
    average = Decimal(data.usage_last_year + data.usage_year_before) / 2
    if Decimal(data.demand) < params.report_min_share * average \
            and not (data.explanation or "").strip():
        # The share is the rule set's (80 % by default): the message names no number.
        return [("explanation", "The demand is below the share of the average usage of the "
                                "last two years that the rules require; explain why.")]
    return []


def check_reporting(batch: Batch, now: datetime) -> None:
    if batch.status != B.reporting:
        raise Conflict("vbp_batch %(id)s is not taking volume reports (%(status)s)",
                       params={"id": batch.id, "status": status_term("vbp_batch", batch.status)},
                       current_status=batch.status.value)
    if batch.report_deadline is not None and now > batch.report_deadline:
        raise Conflict("the reporting deadline of vbp_batch %(id)s has passed",
                       params={"id": batch.id}, current_status=batch.status.value)


def _upsert_report(session: Session, actor: Actor, batch: Batch, bp: BatchProduct,
                   data: ReportIn, source: ReportSource, now: datetime, *,
                   expected_version: int | Collection[int] | None = None,
                   version_required: bool = False) -> VolumeReport:
    # The row lock makes "check the version, then write" one step: of concurrent writers
    # holding the same version exactly one gets past check_version (SQLite: BEGIN IMMEDIATE).
    report = session.exec(select(VolumeReport).where(
        VolumeReport.batch_product_id == bp.id, VolumeReport.org_id == actor.org_id)
        .with_for_update()).first()
    if report is not None:
        check_version("vbp_volume_report", report, expected_version, required=version_required)
    before = None
    if report is None:
        report = VolumeReport(batch_id=batch.id, batch_product_id=bp.id, org_id=actor.org_id,
                              created_by=actor.user_id, **data.model_dump(), source=source,
                              created_at=now, updated_at=now)
    else:
        before = {k: getattr(report, k) for k in data.model_dump()}
        for name, value in data.model_dump().items():
            setattr(report, name, value)
        report.source, report.updated_at = source, now
    session.add(report)
    session.flush()
    audit.record(session, actor, "vbp_report.save", "vbp_volume_report", report.id,
                 before=before, after={"batch_product_id": bp.id, **data.model_dump()},
                 org_id=actor.org_id)
    return report


def submit_report(session: Session, actor: Actor, batch_product_id: int, data: ReportIn, *,
                  now: datetime | None = None,
                  expected_version: int | Collection[int] | None = None,
                  version_required: bool = False) -> VolumeReport:
    """Report (or correct) the hospital's volume for one batch product before the deadline.
    A correction made from a stale version is refused (409); with ``version_required`` a
    correction without one is too (428)."""
    require(actor, REPORT_EDIT)
    if actor.org_kind != OrgKind.hospital:
        raise Forbidden("only medical institutions report volumes")
    now = now or utcnow()
    batch, bp = _batch_product(session, actor, batch_product_id)
    check_reporting(batch, now)
    problems = check_report(data, batch_rules(session, batch))
    if problems:
        raise Invalid([FieldError(f, m) for f, m in problems])
    return _upsert_report(session, actor, batch, bp, data, ReportSource.entered, now,
                          expected_version=expected_version, version_required=version_required)


def save_report_rows(session: Session, actor: Actor, batch_id: int,
                     rows: dict[int, dict[str, str]], *, only: int | None = None,
                     now: datetime | None = None) -> int:
    """Save the rows a hospital filled in on the report form (报量表), by batch product id
    (with ``only``, that one row). All or nothing: with a problem on any row nothing is saved
    and every problem is raised, its ``row`` the batch product's id. A blank row is skipped
    and an unchanged one makes no new version. Returns how many rows were saved."""
    from core.forms import parse

    stored = {r.batch_product_id: r for r in session.exec(readable_by(VolumeReport, actor).where(
        VolumeReport.batch_id == batch_id, VolumeReport.org_id == actor.org_id))}
    errors: list[FieldError] = []
    saved = 0
    for p in batch_products(session, actor, batch_id):
        if only is not None and p.id != only:
            continue
        raw = {k: (v or "").strip() for k, v in rows.get(p.id, {}).items()}
        if not any(raw.values()):
            if only is not None:
                errors.append(FieldError("demand", "Fill in the row before saving it.", p.id))
            continue
        try:
            data = parse(ReportIn, {k: v for k, v in raw.items() if v})
            old = stored.get(p.id)
            if old is not None and all(getattr(old, k) == v
                                       for k, v in data.model_dump().items()):
                continue  # unchanged: no new version, no audit record
            submit_report(session, actor, p.id, data, now=now)
            saved += 1
        except Invalid as exc:
            errors += [FieldError(e.field, e.message, p.id) for e in exc.errors]
    if errors:
        raise Invalid(errors)
    return saved


REPORT_COLUMNS = (
    Column("product_code", ("品种编号",), required=True),
    Column("usage_last_year", ("上年用量",), required=True),
    Column("usage_year_before", ("前年用量",), required=True),
    Column("demand", ("需求量",), required=True),
    Column("explanation", ("说明",)),
)


#: The template's columns: the product's code, then what identifies it for the person
#: filling it in (informative, locked, ignored on upload), then the figures to enter.
REPORT_TEMPLATE_COLUMNS = (
    Column("product_code", ("品种编号",), readonly=True),
    Column("generic_name", ("通用名",), readonly=True),
    Column("dosage_form", ("剂型",), readonly=True),
    Column("specification", ("规格",), readonly=True),
    Column("smallest_unit", ("最小单位",), readonly=True),
    *REPORT_COLUMNS[1:],
)
#: The columns a hospital types in: a row with none of them filled is skipped on upload.
_REPORT_INPUTS = ("usage_last_year", "usage_year_before", "demand", "explanation")


def _specification(bp: BatchProduct) -> str:
    """The representative specification (代表品规格) as the batch's page shows it."""
    parts = []
    if bp.rep_content_value is not None:
        parts.append(f"{format(bp.rep_content_value.normalize(), 'f')}{bp.rep_content_unit}")
    if bp.rep_volume_ml is not None:
        parts.append(f"{format(bp.rep_volume_ml.normalize(), 'f')}ml")
    if bp.rep_units != 1:
        parts.append(f"×{bp.rep_units}")
    return " ".join(parts) or "—"


def report_template_xlsx(session: Session, actor: Actor, batch_id: int) -> bytes:
    """The Excel template a hospital fills in: one row per product of the batch, with the
    product's name, dosage form, specification and unit beside its code."""
    products = batch_products(session, actor, batch_id)
    return template_xlsx(REPORT_TEMPLATE_COLUMNS, sheet_title="reports", rows=[
        [p.code, p.generic_name, p.dosage_form, _specification(p), p.smallest_unit,
         "", "", "", ""] for p in products])


def _whole(text: str, field: str, line: int, errors: ErrorCollector) -> int | None:
    return whole_number(text, field, line, errors,
                        message="Enter a whole number of smallest units.")


def import_reports(session: Session, actor: Actor, batch_id: int, filename: str, data: bytes,
                   *, now: datetime | None = None) -> list[VolumeReport]:
    """Import a hospital's reports from Excel or CSV: every row is checked and every problem
    named by row and field; with any problem nothing is saved."""
    require(actor, REPORT_EDIT)
    if actor.org_kind != OrgKind.hospital:
        raise Forbidden("only medical institutions report volumes")
    now = now or utcnow()
    batch = get_batch(session, actor, batch_id)
    check_reporting(batch, now)
    by_code = {p.code: p for p in batch_products(session, actor, batch_id)}
    params = batch_rules(session, batch)
    errors = ErrorCollector()
    parsed: list[tuple[BatchProduct, ReportIn]] = []
    seen: dict[str, int] = {}
    for line, row in read_table(filename, data, REPORT_COLUMNS):
        if not any(row[f] for f in _REPORT_INPUTS):
            continue  # a product left blank is not reported, as on the page
        code = row["product_code"].strip()
        bp = by_code.get(code)
        if bp is None:
            errors.add("product_code", "No product of this batch has this code.", row=line)
        elif code in seen:
            errors.add("product_code", "This product is already reported on another row.",
                       row=line)
        seen.setdefault(code, line)
        numbers = {f: _whole(row[f], f, line, errors)
                   for f in ("usage_last_year", "usage_year_before", "demand")}
        if bp is None or None in numbers.values():
            continue
        try:
            report = ReportIn(**numbers, explanation=row.get("explanation") or None)
        except ValidationError as exc:
            for e in exc.errors():
                errors.add(str(e["loc"][0]) if e["loc"] else "explanation", e["msg"], row=line)
            continue
        for field, message in check_report(report, params):
            errors.add(field, message, row=line)
        parsed.append((bp, report))
    if not parsed and not errors:
        errors.add("file", "The file has no data rows.")
    errors.raise_if_any()
    return [_upsert_report(session, actor, batch, bp, report, ReportSource.upload, now)
            for bp, report in parsed]


def list_reports(session: Session, actor: Actor, batch_id: int, *,
                 batch_product_id: int | None = None, page: int = 1,
                 per_page: int = 100) -> Page:
    get_batch(session, actor, batch_id)
    stmt = readable_by(VolumeReport, actor).where(VolumeReport.batch_id == batch_id)
    if batch_product_id is not None:
        stmt = stmt.where(VolumeReport.batch_product_id == batch_product_id)
    return paginate(session, stmt.order_by(VolumeReport.batch_product_id, VolumeReport.org_id),
                    page, per_page)


def missing_reporters(session: Session, actor: Actor, batch_id: int) -> list[Organisation]:
    """Active hospitals that have not reported every product of the batch (bureau view)."""
    require(actor, REPORT_OVERVIEW)
    get_batch(session, actor, batch_id)
    return list(session.exec(_unreported_stmt(session, batch_id).order_by(Organisation.code)))


# --- bids -------------------------------------------------------------------------------------

class BidIn(BaseModel):
    product_id: DbId
    package_price: PositivePrice
    capacity: int | None = Field(default=None, ge=1, le=INT_MAX)


def unit_comparable_price(session: Session, bp: BatchProduct, product: Product,
                          package_price: Decimal) -> Decimal:
    """The unit comparable price (单位可比价): the bid's package price converted to the batch
    product's representative specification with the 差比价 factors, per smallest unit."""
    rep = price_rules.Spec(form=bp.dosage_form, content=bp.rep_content_value,
                           content_unit=bp.rep_content_unit, volume_ml=bp.rep_volume_ml,
                           units=bp.rep_units)
    params = listing_services.current_rules(session).params.to_diff_params()
    try:
        k = price_rules.k_factors(rep, listing_services.product_spec(product), params).product
    except price_rules.PriceRuleError as exc:
        raise Invalid.one("product_id", str(exc)) from None
    return round_price(package_price / k / bp.rep_units)


def bidding_open(batch: Batch, now: datetime | None = None) -> bool:
    """Whether the batch takes bids now: bidding status and inside the window."""
    now = now or utcnow()
    return (batch.status == B.bidding and batch.bid_opens_at is not None
            and batch.bid_closes_at is not None and batch.bid_opens_at <= now < batch.bid_closes_at)


def submit_bid(session: Session, actor: Actor, batch_product_id: int, data: BidIn, *,
               now: datetime | None = None) -> Bid:
    """Submit or replace the company's sealed bid for one batch product while bidding is open."""
    require(actor, BID_EDIT)
    if actor.org_kind != OrgKind.enterprise:
        raise Forbidden("only companies bid")
    now = now or utcnow()
    batch, bp = _batch_product(session, actor, batch_product_id)
    if not bidding_open(batch, now):
        raise Conflict("vbp_batch %(id)s is not taking bids", params={"id": batch.id},
                       current_status=batch.status.value)
    org = session.get(Organisation, actor.org_id)
    product = session.get(Product, data.product_id)
    errors = ErrorCollector()
    if product is None or product.status != ProductStatus.active \
            or org is None or not listing_services.applicant_may_list(org, product):
        errors.add("product_id", "Choose an active catalogue product of your company.")
    elif product.generic_name != bp.generic_name:
        errors.add("product_id", "The product's generic name differs from the batch product's.")
    errors.raise_if_any()
    assert product is not None
    ucp = unit_comparable_price(session, bp, product, data.package_price)
    if ucp > bp.max_ucp:
        raise Invalid.one("package_price", "The unit comparable price is above the batch "
                                           "product's maximum valid price.")
    bid = session.exec(select(Bid).where(Bid.batch_product_id == bp.id,
                                         Bid.org_id == actor.org_id)).first()
    sequence = (session.exec(select(func.max(Bid.sequence)).where(
        Bid.batch_product_id == bp.id)).one() or 0) + 1
    if bid is None:
        bid = Bid(batch_id=batch.id, batch_product_id=bp.id, org_id=actor.org_id,
                  created_by=actor.user_id, product_id=product.id,
                  package_price=data.package_price, ucp=ucp, capacity=data.capacity,
                  sequence=sequence, submitted_at=now, updated_at=now)
    else:
        bid.product_id, bid.package_price, bid.ucp = product.id, data.package_price, ucp
        bid.capacity, bid.sequence = data.capacity, sequence
        bid.submitted_at = bid.updated_at = now
        if bid.status != BidStatus.submitted:
            BID_FLOW.transition(session, bid, "resubmit", actor)
    session.add(bid)
    session.flush()
    # The audit trail records that a bid was made, never its price before the opening.
    audit.record(session, actor, "vbp_bid.submit", "vbp_bid", bid.id,
                 after={"batch_product_id": bp.id, "product_id": product.id},
                 org_id=actor.org_id)
    return bid


def withdraw_bid(session: Session, actor: Actor, bid_id: int, *,
                 now: datetime | None = None) -> Bid:
    """Withdraw the company's own bid while bidding is open (撤回申报); it may bid again."""
    require(actor, BID_EDIT)
    bid = get_readable(session, Bid, bid_id, actor)
    if bid.org_id != actor.org_id:
        raise NotFound("%(object)s %(id)s not found", params={"object": model_term(Bid), "id": bid_id})
    batch = get_batch(session, actor, bid.batch_id)
    if not bidding_open(batch, now or utcnow()):
        raise Conflict("vbp_batch %(id)s is not taking bids", params={"id": batch.id},
                       current_status=batch.status.value)
    if bid.status != BidStatus.submitted:
        raise Conflict("vbp_bid %(id)s is already withdrawn", params={"id": bid.id},
                       current_status=bid.status.value)
    return BID_FLOW.transition(session, bid, "withdraw", actor)


@dataclass(frozen=True)
class BidView:
    """A bid as the caller may see it: price and capacity are None while the bids are sealed
    (the bureau knows who bid — it checks their qualification — but not what)."""

    id: int
    batch_product_id: int
    org_id: int
    product_id: int
    status: BidStatus
    capacity: int | None
    submitted_at: datetime
    package_price: Decimal | None
    ucp: Decimal | None
    sealed: bool

    @property
    def live(self) -> bool:
        """Whether the bid stands (submitted): it may be withdrawn or replaced while bidding
        is open."""
        return "withdraw" in BID_FLOW.allowed_actions(self)


def bids_sealed(batch: Batch, now: datetime | None = None) -> bool:
    """Bids stay sealed until the bidding window has closed."""
    now = now or utcnow()
    return batch.bid_closes_at is None or now < batch.bid_closes_at


def list_bids(session: Session, actor: Actor, batch_id: int, *,
              now: datetime | None = None) -> list[BidView]:
    """The bids the caller may see. Before the window closes nobody — the bureau included —
    sees a price; a company sees its own bids' prices (it wrote them)."""
    batch = get_batch(session, actor, batch_id)
    sealed = bids_sealed(batch, now)
    rows = session.exec(readable_by(Bid, actor).where(Bid.batch_id == batch_id)
                        .order_by(Bid.batch_product_id, Bid.sequence)).all()
    out = []
    for b in rows:
        hidden = sealed and b.org_id != actor.org_id
        # The capacity is part of the sealed offer: hidden like the price.
        out.append(BidView(b.id, b.batch_product_id, b.org_id, b.product_id, b.status,
                           None if hidden else b.capacity, b.submitted_at,
                           None if hidden else b.package_price, None if hidden else b.ucp,
                           hidden))
    return out


def opened_bids(session: Session, actor: Actor, batch_product_id: int, *,
                now: datetime | None = None) -> list[Bid]:
    """The submitted bids of a batch product with their prices — only once bidding closed,
    and within the caller's scope (the bureau every bid, a company its own); everyone sees
    the bidders' prices with the results from the publicity on."""
    batch, bp = _batch_product(session, actor, batch_product_id)
    if bids_sealed(batch, now):
        raise Conflict("the bids of vbp_batch %(id)s are sealed until bidding closes",
                       params={"id": batch.id}, current_status=batch.status.value)
    return list(session.exec(readable_by(Bid, actor).where(Bid.batch_product_id == bp.id,
                                                           Bid.status == BidStatus.submitted)
                             .order_by(Bid.sequence)))
